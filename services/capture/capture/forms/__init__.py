"""Forms: their configuration (admin routes) and the in-memory copy submissions read."""
