"""Shared limits through Redis, and what happens when Redis goes away and comes back."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pixvault.core.ports import RateDecision
from pixvault.ratelimit.limiter import LimiterUnavailable, LimitsRateLimiter
from pixvault.ratelimit.resilient import (
    CircuitBreaker,
    FailOpenLimiter,
    FallbackLimiter,
    build_limiters,
)
from tests.services.redis import RedisServer

RESILIENT_LOG = "pixvault.ratelimit.resilient"


def _keys(url: str, prefix: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"{prefix}:*"))
    finally:
        client.close()


# --- several processes share one limit ---------------------------------------------------


def test_two_limiters_on_one_redis_share_the_limit(redis_url: str, redis_prefix: str) -> None:
    a = LimitsRateLimiter(redis_url, key_prefix=redis_prefix)
    b = LimitsRateLimiter(redis_url, key_prefix=redis_prefix)
    try:
        assert a.hit("3/minute", "api", "u").remaining == 2
        assert b.hit("3/minute", "api", "u").remaining == 1
        assert a.hit("3/minute", "api", "u").remaining == 0
        assert not b.hit("3/minute", "api", "u").allowed
        assert not a.test("3/minute", "api", "u").allowed
        assert _keys(redis_url, redis_prefix), "keys live under the configured prefix"
    finally:
        a.close()
        b.close()


def test_another_prefix_is_another_deployment(redis_url: str, redis_prefix: str) -> None:
    a = LimitsRateLimiter(redis_url, key_prefix=redis_prefix)
    b = LimitsRateLimiter(redis_url, key_prefix=redis_prefix + "-other")
    try:
        assert a.hit("1/minute", "api", "u").allowed
        assert not a.hit("1/minute", "api", "u").allowed
        assert b.hit("1/minute", "api", "u").allowed
    finally:
        a.close()
        b.close()


def test_without_redis_url_limits_are_in_process() -> None:
    api, auth = build_limiters("")
    assert isinstance(api, LimitsRateLimiter) and not api.shared
    assert isinstance(auth, LimitsRateLimiter) and not auth.shared


# --- Redis goes away mid-run --------------------------------------------------------------


def test_outage_fails_open_falls_back_and_recovers(
    private_redis: RedisServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=RESILIENT_LOG)
    api, auth = build_limiters(private_redis.url, key_prefix=redis_prefix, open_for=0.5)
    assert isinstance(api, FailOpenLimiter) and isinstance(auth, FallbackLimiter)
    assert [api.hit("3/minute", "api", "u").allowed for _ in range(4)] == [True] * 3 + [False]

    private_redis.stop()
    start = time.monotonic()
    decisions = [api.hit("3/minute", "api", "u") for _ in range(20)]
    elapsed = time.monotonic() - start
    assert all(d == RateDecision(True, 3, 3, 0) for d in decisions)
    assert elapsed < 3, f"20 calls took {elapsed:.2f} s: the breaker should skip Redis"
    stats = api.stats()
    assert stats["ratelimit_fail_open_total"] == 20
    assert stats["ratelimit_backend_errors_total"] <= 1 + int(elapsed / 0.5) + 1
    assert stats["ratelimit_backend_skipped_total"] >= 10

    # sign-in keeps a limit, from this process's memory
    codes = [auth.hit("2/minute", "auth-ip", "1.2.3.4").allowed for _ in range(3)]
    assert codes == [True, True, False]
    assert auth.stats()["ratelimit_fallback_total"] == 3
    assert not auth.test("2/minute", "auth-ip", "1.2.3.4").allowed

    private_redis.start()  # empty: nothing was saved
    deadline = time.monotonic() + 5
    while True:  # the breaker tries Redis again by itself, within a window or two
        before = api.fail_open_total
        api.hit("5/minute", "api", "probe")
        if api.fail_open_total == before:
            break
        assert time.monotonic() < deadline, "Redis was not used again after it came back"
        time.sleep(0.1)
    # Counts go to Redis again: a second instance (another process) sees them.
    other = LimitsRateLimiter(private_redis.url, key_prefix=redis_prefix)
    try:
        assert api.hit("2/minute", "api", "back").allowed
        assert other.hit("2/minute", "api", "back").remaining == 0
        assert not api.hit("2/minute", "api", "back").allowed
        assert auth.hit("2/minute", "auth-ip", "9.9.9.9").allowed
        assert other.test("2/minute", "auth-ip", "9.9.9.9").remaining == 1
    finally:
        other.close()

    # A few lines for the whole outage, not one per request.
    lines = [r.getMessage() for r in caplog.records if r.name == RESILIENT_LOG]
    assert 3 <= len(lines) <= 6, lines
    assert any("answers again" in line for line in lines)


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A port that accepts connections and never answers: the worst kind of down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


def test_a_hung_redis_costs_one_timeout_per_window(hung_redis: str) -> None:
    bare = LimitsRateLimiter(hung_redis, timeout=0.25)
    try:
        start = time.monotonic()
        with pytest.raises(LimiterUnavailable):
            bare.hit("3/minute", "api", "u")
        assert time.monotonic() - start < 1.5, "socket timeout not applied"

        api = FailOpenLimiter(CircuitBreaker(bare, open_for=5))
        start = time.monotonic()
        assert all(api.hit("3/minute", "api", "u").allowed for _ in range(20))
        assert time.monotonic() - start < 1.5
        assert api.stats()["ratelimit_backend_errors_total"] == 1
    finally:
        bare.close()


def test_a_refused_unix_socket_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    bare = LimitsRateLimiter(f"unix://{tmp_path}/missing.sock")
    with pytest.raises(LimiterUnavailable):
        bare.test("3/minute", "api", "u")
    api, _ = build_limiters(f"unix://{tmp_path}/missing.sock")
    assert api.hit("3/minute", "api", "u").allowed


def test_private_redis_restarts_on_its_port(private_redis: RedisServer) -> None:
    url = private_redis.url
    private_redis.stop()
    assert not private_redis.running
    private_redis.start()
    assert private_redis.running and private_redis.url == url


# --- the breaker on its own: a fake backend and a fake clock --------------------------------


class FakeBackend:
    def __init__(self) -> None:
        self.down = False
        self.calls = 0
        self.delay = 0.0

    def hit(self, limit: str, *keys: str) -> RateDecision:
        self.calls += 1
        time.sleep(self.delay)
        if self.down:
            raise LimiterUnavailable("down")
        return RateDecision(True, 9, 8, 0)

    test = hit

    def refund(self, limit: str, *keys: str) -> None:
        """Part of the RateLimiter port; the breaker tests never refund."""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_probes_once_per_window_and_closes_on_success() -> None:
    backend, clock = FakeBackend(), FakeClock()
    breaker = CircuitBreaker(backend, open_for=5, clock=clock)
    backend.down = True
    for _ in range(3):
        with pytest.raises(LimiterUnavailable):
            breaker.hit("9/minute", "k")
    assert backend.calls == 1 and breaker.is_open
    clock.now += 5
    with pytest.raises(LimiterUnavailable):
        breaker.test("9/minute", "k")  # the probe
    assert backend.calls == 2
    backend.down = False
    clock.now += 4.9
    with pytest.raises(LimiterUnavailable):
        breaker.hit("9/minute", "k")
    clock.now += 0.1
    assert breaker.hit("9/minute", "k").allowed
    assert not breaker.is_open
    assert breaker.hit("9/minute", "k").allowed
    assert breaker.stats() == {
        "ratelimit_backend_errors_total": 2,
        "ratelimit_backend_skipped_total": 3,
        "ratelimit_backend_outages_total": 1,
    }


def test_breaker_lets_one_probe_through_at_a_time() -> None:
    """While a slow probe is in flight, the other threads do not queue up behind Redis."""
    backend = FakeBackend()
    breaker = CircuitBreaker(backend, open_for=0.5)
    backend.down = True
    with pytest.raises(LimiterUnavailable):
        breaker.hit("9/minute", "k")
    time.sleep(0.55)
    backend.delay = 0.2  # the probe is slow, as a timing-out Redis would be
    api = FailOpenLimiter(breaker)

    def worker() -> None:
        for _ in range(50):
            assert api.hit("9/minute", "k").allowed

    threads = [threading.Thread(target=worker) for _ in range(8)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert api.fail_open_total == 400
    assert backend.calls == 2  # the first failure and one probe, not one per thread
    assert time.monotonic() - start < 0.45


def test_fallback_and_fail_open_pass_answers_through_while_up() -> None:
    backend = FakeBackend()
    memory = LimitsRateLimiter()
    auth = FallbackLimiter(backend, memory)
    api = FailOpenLimiter(backend)
    assert auth.hit("1/minute", "k") == RateDecision(True, 9, 8, 0)
    assert api.test("1/minute", "k") == RateDecision(True, 9, 8, 0)
    assert auth.stats() == {"ratelimit_fallback_total": 0}
    assert api.stats() == {"ratelimit_fail_open_total": 0}
    assert memory.test("1/minute", "k").remaining == 1  # the fallback was not touched


def test_warnings_are_throttled_and_say_how_many_were_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger=RESILIENT_LOG)
    backend, clock = FakeBackend(), FakeClock()
    backend.down = True
    api = FailOpenLimiter(backend, log_every=60, clock=clock)
    for _ in range(10):
        api.hit("9/minute", "k")
    clock.now += 60
    api.hit("9/minute", "k")
    lines = [r.getMessage() for r in caplog.records if r.name == RESILIENT_LOG]
    assert len(lines) == 2
    assert "9 more" in lines[1]
    assert api.fail_open_total == 11
