"""What to do when the shared (Redis) rate-limit storage is down.

Ordinary API routes fail open: a cache outage must not become an API outage. Login and
register fall back to per-process memory limits: password guessing stays throttled (per process,
which is weaker but far better than unlimited). A circuit breaker, shared by both, keeps a down
Redis from costing every request a socket timeout, and tries Redis again by itself.

Counters are plain ints behind a lock, read through ``stats()`` for the ``/metrics`` endpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pixvault.core.ports import RateDecision, RateLimiter
from pixvault.ratelimit.limiter import (
    DEFAULT_TIMEOUT,
    LimiterUnavailable,
    LimitsRateLimiter,
    limit_item,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

Monotonic = Callable[[], float]
"""A seconds counter (``time.monotonic``); not the core's wall ``Clock`` port."""
DEFAULT_OPEN_FOR = 5.0  # seconds to skip Redis after it failed
DEFAULT_LOG_EVERY = 60.0  # at most one "still down" warning per wrapper per minute


def _inner_stats(limiter: RateLimiter) -> dict[str, int]:
    stats = getattr(limiter, "stats", None)
    if not callable(stats):
        return {}
    found: dict[str, int] = stats()
    return found


class _Throttle:
    """At most one warning per ``every`` seconds; the next one says how many were held back."""

    def __init__(self, every: float, clock: Monotonic) -> None:
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._next = 0.0
        self._folded = 0

    def warn(self, message: str, exc: Exception) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._folded += 1
                return
            folded, self._folded = self._folded, 0
            self._next = now + self._every
        if folded:
            log.warning("%s (%s); %d more since the last such warning", message, exc, folded)
        else:
            log.warning("%s (%s)", message, exc)


class CircuitBreaker:
    """A ``RateLimiter`` that stops calling ``inner`` for ``open_for`` seconds after it failed.

    While Redis is down every call would otherwise wait out the socket timeout. Once the window
    has passed, one call probes Redis (the others keep being skipped while it does); success
    closes the breaker. While open it raises ``LimiterUnavailable`` at once. Thread-safe.
    """

    def __init__(
        self,
        inner: RateLimiter,
        *,
        open_for: float = DEFAULT_OPEN_FOR,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self.inner = inner
        self.open_for = open_for
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at = 0.0  # calls before this (monotonic) time are skipped
        self._failing = False
        self.errors_total = 0  # calls that reached the backend and failed
        self.skipped_total = 0  # calls not even tried because the breaker was open
        self.outages_total = 0  # times the backend went from answering to failing

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._failing

    def hit(self, limit: str, *keys: str) -> RateDecision:
        return self._call(self.inner.hit, limit, keys)

    def test(self, limit: str, *keys: str) -> RateDecision:
        return self._call(self.inner.test, limit, keys)

    def refund(self, limit: str, *keys: str) -> None:
        self._call(self.inner.refund, limit, keys)

    def _call(self, method: Callable[..., _T], limit: str, keys: tuple[str, ...]) -> _T:
        with self._lock:
            now = self._clock()
            if now < self._retry_at:
                self.skipped_total += 1
                raise LimiterUnavailable("Rate limit storage is unavailable (circuit open)")
            if self._failing:
                # This call is the probe. Push the window on now so that concurrent calls keep
                # being skipped, and so a probe that never reports back cannot wedge the breaker.
                self._retry_at = now + self.open_for
        try:
            decision = method(limit, *keys)
        except LimiterUnavailable as exc:
            self._failed(exc)
            raise
        self._succeeded()
        return decision

    def _failed(self, exc: LimiterUnavailable) -> None:
        with self._lock:
            self.errors_total += 1
            self._retry_at = self._clock() + self.open_for
            new_outage = not self._failing
            self._failing = True
            if new_outage:
                self.outages_total += 1
        if new_outage:  # one line per outage, not one per probe
            log.warning(
                "rate limit storage failed (%s); trying it again every %.1f s",
                exc.__cause__ or exc,
                self.open_for,
            )

    def _succeeded(self) -> None:
        with self._lock:
            recovered = self._failing
            self._failing = False
            self._retry_at = 0.0
        if recovered:
            log.warning("rate limit storage answers again")

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "ratelimit_backend_errors_total": self.errors_total,
                "ratelimit_backend_skipped_total": self.skipped_total,
                "ratelimit_backend_outages_total": self.outages_total,
            }


class FailOpenLimiter:
    """For ordinary API routes: when ``inner`` is unavailable, allow and count it."""

    def __init__(
        self,
        inner: RateLimiter,
        *,
        log_every: float = DEFAULT_LOG_EVERY,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self.inner = inner
        self.fail_open_total = 0
        self._lock = threading.Lock()
        self._throttle = _Throttle(log_every, clock)

    def hit(self, limit: str, *keys: str) -> RateDecision:
        try:
            return self.inner.hit(limit, *keys)
        except LimiterUnavailable as exc:
            return self._open(limit, exc)

    def test(self, limit: str, *keys: str) -> RateDecision:
        try:
            return self.inner.test(limit, *keys)
        except LimiterUnavailable as exc:
            return self._open(limit, exc)

    def refund(self, limit: str, *keys: str) -> None:
        try:
            self.inner.refund(limit, *keys)
        except LimiterUnavailable as exc:
            self._throttle.warn("could not give back a rate-limit hit", exc)

    def _open(self, limit: str, exc: LimiterUnavailable) -> RateDecision:
        with self._lock:
            self.fail_open_total += 1
        self._throttle.warn("serving a request without its rate limit", exc)
        amount = limit_item(limit).amount
        return RateDecision(allowed=True, limit=amount, remaining=amount, reset_after=0)

    def stats(self) -> dict[str, int]:
        with self._lock:
            own = {"ratelimit_fail_open_total": self.fail_open_total}
        return {**_inner_stats(self.inner), **own}


class FallbackLimiter:
    """For login and register: when ``inner`` is unavailable, limit with ``fallback`` instead.

    ``fallback`` is an in-process memory limiter, so the limit then holds per API process.
    """

    def __init__(
        self,
        inner: RateLimiter,
        fallback: RateLimiter,
        *,
        log_every: float = DEFAULT_LOG_EVERY,
        clock: Monotonic = time.monotonic,
    ) -> None:
        self.inner = inner
        self.fallback = fallback
        self.fallback_total = 0
        self._lock = threading.Lock()
        self._throttle = _Throttle(log_every, clock)

    def hit(self, limit: str, *keys: str) -> RateDecision:
        try:
            return self.inner.hit(limit, *keys)
        except LimiterUnavailable as exc:
            self._note(exc)
            return self.fallback.hit(limit, *keys)

    def test(self, limit: str, *keys: str) -> RateDecision:
        try:
            return self.inner.test(limit, *keys)
        except LimiterUnavailable as exc:
            self._note(exc)
            return self.fallback.test(limit, *keys)

    def refund(self, limit: str, *keys: str) -> None:
        try:
            self.inner.refund(limit, *keys)
        except LimiterUnavailable as exc:
            self._note(exc)
            self.fallback.refund(limit, *keys)

    def _note(self, exc: LimiterUnavailable) -> None:
        with self._lock:
            self.fallback_total += 1
        self._throttle.warn("limiting sign-in with this process's memory only", exc)

    def stats(self) -> dict[str, int]:
        with self._lock:
            own = {"ratelimit_fallback_total": self.fallback_total}
        return {**_inner_stats(self.inner), **own}


def build_limiters(
    redis_url: str | None,
    *,
    key_prefix: str = "pixvault",
    timeout: float = DEFAULT_TIMEOUT,
    open_for: float = DEFAULT_OPEN_FOR,
    host_file: Path | None = None,
) -> tuple[RateLimiter, RateLimiter]:
    """``(api_limiter, auth_limiter)``: shared via Redis with ``redis_url``; else shared by this
    host's processes through the SQLite file ``host_file``; else in-process memory.

    Both Redis wrappers sit on one limiter and one breaker, so an outage is detected once and
    skipped by both. The SQLite file is local and never down, so it needs no wrapper.
    """
    if not redis_url:
        if host_file is not None:
            from pixvault.ratelimit.sqlite import SqliteRateLimiter

            on_host = SqliteRateLimiter(host_file)
            return on_host, on_host
        return LimitsRateLimiter(), LimitsRateLimiter()
    shared = CircuitBreaker(
        LimitsRateLimiter(redis_url, key_prefix=key_prefix, timeout=timeout), open_for=open_for
    )
    return FailOpenLimiter(shared), FallbackLimiter(shared, LimitsRateLimiter())
