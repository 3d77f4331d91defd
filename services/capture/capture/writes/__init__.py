"""Group commit: the writes of concurrent requests share one transaction."""
