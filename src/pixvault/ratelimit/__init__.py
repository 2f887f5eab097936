"""RateLimiter adapters over the `limits` library (in-process memory now; Redis next)."""
