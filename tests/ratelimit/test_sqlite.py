"""The host-wide SQLite window: exact when many processes hit it at once, and it stays small."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

from pixvault.ratelimit.sqlite import PURGE_EVERY, SqliteRateLimiter


def _hammer(path: str, count: int, start_at: float) -> int:
    """One process's share of the race: how many of its hits were allowed. All processes
    start hitting at the same moment (spawning them takes longer than the race)."""
    limiter = SqliteRateLimiter(Path(path))
    time.sleep(max(0.0, start_at - time.time()))
    try:
        return sum(limiter.hit("100/minute", "api", "shared").allowed for _ in range(count))
    finally:
        limiter.close()


def test_four_processes_racing_get_exactly_the_limit(tmp_path: Path) -> None:
    path = str(tmp_path / "limits.sqlite3")
    SqliteRateLimiter(Path(path)).close()  # the schema exists before the race
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        allowed = pool.starmap(_hammer, [(path, 150, time.time() + 3)] * 4)
    assert sum(allowed) == 100  # 600 hits: never 101 allowed, never fewer than 100


def test_two_limiters_on_one_file_share_the_window(tmp_path: Path) -> None:
    a = SqliteRateLimiter(tmp_path / "limits.sqlite3")
    b = SqliteRateLimiter(tmp_path / "limits.sqlite3")
    try:
        assert a.hit("2/minute", "api", "u").remaining == 1
        assert b.hit("2/minute", "api", "u").remaining == 0
        assert not a.hit("2/minute", "api", "u").allowed
        b.refund("2/minute", "api", "u")
        assert a.hit("2/minute", "api", "u").allowed
        b.reset()
        assert a.test("2/minute", "api", "u").remaining == 2
    finally:
        a.close()
        b.close()


def test_hits_of_clients_that_went_away_are_purged(tmp_path: Path) -> None:
    now = [1_000_000.0]
    limiter = SqliteRateLimiter(tmp_path / "limits.sqlite3", clock=lambda: now[0])
    try:
        for client in range(50):
            assert limiter.hit("5/minute", "api", f"client-{client}").allowed
        now[0] += max(60.0, PURGE_EVERY) + 1  # every window has passed
        limiter.hit("5/minute", "api", "someone-new")
    finally:
        limiter.close()
    with sqlite3.connect(tmp_path / "limits.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM hits").fetchone() == (1,)
