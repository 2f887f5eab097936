"""RateLimiter adapters over `limits`: in-process memory, or Redis shared by processes."""
