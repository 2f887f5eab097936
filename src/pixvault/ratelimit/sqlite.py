"""A moving-window rate limiter in a SQLite file, shared by the worker processes of one host.

``pixvault serve --workers N`` without Redis still needs one count per client, not N: the
in-process memory window would let N times the limit through. SQLite's write lock serialises
the check-and-record of every hit across processes (``BEGIN IMMEDIATE``), so the window is
exact. The file holds nothing worth keeping (it can be deleted while the server is stopped), so
it runs with ``synchronous=OFF``: a hit costs a page write to the OS cache, not an fsync.

The semantics are the ``limits`` moving window's (see tests/contract/test_ratelimiter.py): only
allowed hits are recorded, a slot frees exactly one window after the hit that took it, and a
refund removes the newest recorded hit.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pixvault.core.ports import RateDecision
from pixvault.ratelimit.limiter import LimiterUnavailable, limit_item

PURGE_EVERY = 60.0
"""Seconds between sweeps of expired hits of keys that stopped asking."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)",
    "CREATE INDEX IF NOT EXISTS hits_expires ON hits (expires)",
)


class SqliteRateLimiter:
    """A ``RateLimiter`` whose windows live in ``path``; every process opening it shares them.

    One connection per thread (a ``sqlite3`` connection must not be used by two threads at
    once); all of them are closed by :meth:`close`.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._next_purge = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # check_same_thread=False only so close() may close it; one thread uses it.
            db = sqlite3.connect(
                self._path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``: takes the write lock first, so count-then-insert is atomic
        across processes. Any SQLite failure becomes ``LimiterUnavailable``."""
        try:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LimiterUnavailable(f"Rate limit storage is unavailable: {exc}") from exc

    def hit(self, limit: str, *keys: str) -> RateDecision:
        return self._ask(limit, keys, record=True)

    def test(self, limit: str, *keys: str) -> RateDecision:
        return self._ask(limit, keys, record=False)

    def _ask(self, limit: str, keys: tuple[str, ...], *, record: bool) -> RateDecision:
        item = limit_item(limit)
        key = item.key_for(*keys)
        window = float(item.get_expiry())
        now = self._clock()
        with self._transaction() as db:
            self._purge(db, now)
            count, oldest = db.execute(
                "SELECT count(*), min(at) FROM hits WHERE key = ? AND at > ?",
                (key, now - window),
            ).fetchone()
            allowed = count < item.amount
            if allowed and record:
                db.execute("INSERT INTO hits VALUES (?, ?, ?)", (key, now, now + window))
                count += 1
                oldest = now if oldest is None else oldest
        reset_after = max(0, math.ceil((oldest if oldest is not None else now) + window - now))
        if not allowed:
            reset_after = max(1, reset_after)
        return RateDecision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, item.amount - count),
            reset_after=reset_after,
        )

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        """Drop expired hits now and then, so keys that stopped asking do not pile up."""
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY
        db.execute("DELETE FROM hits WHERE expires <= ?", (now,))

    def refund(self, limit: str, *keys: str) -> None:
        key = limit_item(limit).key_for(*keys)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM hits WHERE rowid ="
                " (SELECT rowid FROM hits WHERE key = ? ORDER BY at DESC LIMIT 1)",
                (key,),
            )

    def reset(self) -> None:
        """Forget every count (all processes')."""
        with self._transaction() as db:
            db.execute("DELETE FROM hits")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
