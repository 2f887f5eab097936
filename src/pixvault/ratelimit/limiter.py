"""Moving-window limits: unlike a fixed window, a burst straddling a boundary cannot double.

With a Redis URI every API process counts in the same place, so N processes still allow N
requests, not N times N. Every storage failure surfaces as one exception, ``LimiterUnavailable``,
so the wrappers in ``resilient.py`` can decide per use whether to fail open or fall back.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import TYPE_CHECKING, cast

from limits import RateLimitItem, parse, storage, strategies
from limits.errors import StorageError

from pixvault.core.errors import Unavailable
from pixvault.core.ports import RateDecision

if TYPE_CHECKING:
    import redis  # the optional `redis` extra: imported at run time only for a Redis URI

REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+unix://")
# A local Redis answers in well under a millisecond; waiting longer only slows every request
# while it is down (the circuit breaker in resilient.py then skips it for a while).
DEFAULT_TIMEOUT = 0.3

# What a storage call can raise when the backend is down, slow or confused: `limits` wraps the
# client's errors in StorageError (wrap_exceptions=True); the rest is belt and braces. A Redis
# limiter adds redis.RedisError (see LimitsRateLimiter.__init__).
_STORAGE_ERRORS: tuple[type[Exception], ...] = (StorageError, OSError)


class LimiterUnavailable(Unavailable):
    """The rate-limit storage did not answer (in time). Never raised by the memory storage."""

    default_message = "Rate limit storage is unavailable"


@lru_cache(maxsize=64)
def limit_item(limit: str) -> RateLimitItem:
    """Parse once per distinct string: the middleware passes the same one on every request."""
    return parse(limit)


def _redis_storage(uri: str, key_prefix: str, timeout: float) -> storage.RedisStorage:
    """A RedisStorage that fails fast: short timeouts, no retries, errors wrapped."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if uri.startswith("unix://"):  # redis-py's spelling; `limits` registers redis+unix://
        uri = "redis+unix://" + uri.removeprefix("unix://")
    store = storage.RedisStorage(
        uri,
        key_prefix=key_prefix,
        wrap_exceptions=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
    # redis-py retries 3 times with exponential backoff by default: seconds per request while
    # Redis is down. The breaker, not the client, decides when to try again.
    cast(redis.Redis, store.get_connection()).set_retry(Retry(NoBackoff(), 0))
    return store


class LimitsRateLimiter:
    """A ``RateLimiter`` over a ``limits`` storage: ``memory://`` (this process) or Redis (shared).

    ``key_prefix`` namespaces the Redis keys so several deployments (or test runs) can share one
    Redis; ``timeout`` bounds each Redis connect and read. Both are ignored for ``memory://``.
    """

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        key_prefix: str = "pixvault",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.shared = storage_uri.startswith(REDIS_SCHEMES)
        self._storage: storage.Storage
        self._errors = _STORAGE_ERRORS
        if self.shared:
            import redis

            self._storage = _redis_storage(storage_uri, key_prefix, timeout)
            self._errors = (*_STORAGE_ERRORS, redis.RedisError)
        else:
            found = storage.storage_from_string(storage_uri)
            if not isinstance(found, storage.Storage):
                raise ValueError(f"not a synchronous limits storage: {storage_uri}")
            self._storage = found
        self._strategy = strategies.MovingWindowRateLimiter(self._storage)

    def hit(self, limit: str, *keys: str) -> RateDecision:
        item = limit_item(limit)
        try:
            allowed = self._strategy.hit(item, *keys)
            return self._decision(item, allowed, keys)
        except self._errors as exc:
            raise LimiterUnavailable(_describe(exc)) from exc

    def test(self, limit: str, *keys: str) -> RateDecision:
        item = limit_item(limit)
        try:
            allowed = self._strategy.test(item, *keys)
            return self._decision(item, allowed, keys)
        except self._errors as exc:
            raise LimiterUnavailable(_describe(exc)) from exc

    def _decision(self, item: RateLimitItem, allowed: bool, keys: tuple[str, ...]) -> RateDecision:
        stats = self._strategy.get_window_stats(item, *keys)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        if not allowed:
            reset_after = max(1, reset_after)
        return RateDecision(
            allowed=allowed, limit=item.amount, remaining=stats.remaining, reset_after=reset_after
        )

    def refund(self, limit: str, *keys: str) -> None:
        """Remove the newest entry of the moving window. Both storages keep a window as a
        newest-first list (``limits``' memory ``events`` and a Redis list), so this undoes one
        hit; it relies on that layout, which the rate-limiter contract tests pin down."""
        key = limit_item(limit).key_for(*keys)
        try:
            if isinstance(self._storage, storage.MemoryStorage):
                with self._storage.locks[key]:
                    events = self._storage.events.get(key)
                    if events:
                        events.pop(0)
            elif isinstance(self._storage, storage.RedisStorage):
                connection = cast("redis.Redis", self._storage.get_connection())
                connection.lpop(self._storage.prefixed_key(key))
            else:
                raise TypeError(f"cannot refund on {type(self._storage).__name__}")
        except self._errors as exc:
            raise LimiterUnavailable(_describe(exc)) from exc

    def reset(self) -> None:
        """Forget every count (for Redis: every key under this limiter's prefix)."""
        try:
            self._storage.reset()
        except self._errors as exc:
            raise LimiterUnavailable(_describe(exc)) from exc

    def close(self) -> None:
        """Release the Redis connections; a no-op for memory."""
        if isinstance(self._storage, storage.RedisStorage):  # no redis import for memory://
            cast("redis.Redis", self._storage.get_connection()).close()


def _describe(exc: Exception) -> str:
    inner = exc.storage_error if isinstance(exc, StorageError) else exc
    return f"Rate limit storage is unavailable: {type(inner).__name__}: {inner}"
