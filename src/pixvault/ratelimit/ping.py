"""Connectivity check for the shared limiter's Redis, used by `pixvault check-config`."""

from __future__ import annotations

import redis


def ping_redis(url: str, timeout: float = 3.0) -> None:
    """Raise ``ConnectionError`` with a readable reason unless Redis answers PING."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConnectionError(str(exc) or type(exc).__name__) from None
    finally:
        client.close()
