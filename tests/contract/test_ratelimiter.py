"""One contract for every RateLimiter: in-process memory, a SQLite file shared by a host's
processes, Redis, and Redis behind the wrappers that the app really uses (they must not change
the answers while Redis is up)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixvault.core.ports import RateLimiter
from pixvault.ratelimit.limiter import LimitsRateLimiter
from pixvault.ratelimit.resilient import build_limiters
from pixvault.ratelimit.sqlite import SqliteRateLimiter


@pytest.fixture(params=["memory", "sqlite", "redis", "redis-api", "redis-auth"])
def limiter(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RateLimiter]:
    if request.param == "memory":
        yield LimitsRateLimiter()
        return
    if request.param == "sqlite":
        on_host = SqliteRateLimiter(tmp_path / "limits.sqlite3")
        yield on_host
        on_host.close()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    if request.param == "redis":
        redis_limiter = LimitsRateLimiter(url, key_prefix=prefix)
        yield redis_limiter
        redis_limiter.close()
    else:
        api, auth = build_limiters(url, key_prefix=prefix)
        yield api if request.param == "redis-api" else auth


def test_allows_exactly_n_then_denies(limiter: RateLimiter) -> None:
    decisions = [limiter.hit("3/minute", "api", "k") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert all(d.limit == 3 for d in decisions)
    denied = decisions[-1]
    assert 1 <= denied.reset_after <= 60


def test_keys_are_independent(limiter: RateLimiter) -> None:
    for _ in range(2):
        assert limiter.hit("2/minute", "api", "a").allowed
    assert not limiter.hit("2/minute", "api", "a").allowed
    assert limiter.hit("2/minute", "api", "b").allowed
    assert limiter.hit("2/minute", "auth-ip", "a").allowed
    assert limiter.hit("2/minute", "api", "b").remaining == 0


def test_test_counts_nothing(limiter: RateLimiter) -> None:
    for _ in range(5):
        d = limiter.test("2/minute", "api", "t")
        assert d.allowed and d.remaining == 2
    assert [limiter.hit("2/minute", "api", "t").allowed for _ in range(3)] == [True, True, False]
    after = limiter.test("2/minute", "api", "t")
    assert not after.allowed and after.remaining == 0 and after.reset_after >= 1


def test_window_moves(limiter: RateLimiter) -> None:
    """A slot frees exactly one window after the hit that took it: no fixed-window boundary."""
    start = time.monotonic()
    assert limiter.hit("2/second", "api", "m").allowed
    time.sleep(0.6)
    assert limiter.hit("2/second", "api", "m").allowed
    assert not limiter.hit("2/second", "api", "m").allowed
    time.sleep(max(0.0, start + 1.15 - time.monotonic()))
    assert limiter.hit("2/second", "api", "m").allowed  # the first hit has left the window
    assert not limiter.hit("2/second", "api", "m").allowed  # the second has not


def test_refund_gives_back_one_hit(limiter: RateLimiter) -> None:
    """A sign-in that succeeds gives its hit back: the next one is allowed again, once."""
    assert all(limiter.hit("3/minute", "auth-email", "r").allowed for _ in range(3))
    assert not limiter.hit("3/minute", "auth-email", "r").allowed
    limiter.refund("3/minute", "auth-email", "r")
    assert limiter.hit("3/minute", "auth-email", "r").allowed
    assert not limiter.hit("3/minute", "auth-email", "r").allowed


def test_refund_of_nothing_is_harmless(limiter: RateLimiter) -> None:
    limiter.refund("2/minute", "auth-email", "never-hit")
    assert [limiter.hit("2/minute", "auth-email", "never-hit").allowed for _ in range(3)] == [
        True,
        True,
        False,
    ]
