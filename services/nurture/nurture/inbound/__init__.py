"""Reports back from mail providers and sales tools: replies and bounces."""
