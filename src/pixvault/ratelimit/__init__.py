"""RateLimiter adapters: `limits` in process memory or Redis (shared by processes anywhere), and
a SQLite window shared by the serving processes of one host."""
