"""Connectivity check for the shared limiter's Redis, used by `pixvault check-config`."""

from __future__ import annotations

from pixvault.core.errors import Unavailable


def ping_redis(url: str, timeout: float = 3.0) -> None:
    """Raise ``Unavailable`` (like every adapter's ping), the reason chained, unless Redis
    answers PING."""
    import redis  # the optional `redis` extra; the container has checked that it is installed

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise Unavailable("Redis does not answer") from exc
    finally:
        client.close()
