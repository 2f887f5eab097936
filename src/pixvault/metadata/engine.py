"""Engine construction and the error border between SQLAlchemy and the core.

SQLite needs care to be a good multi-threaded server database: WAL so readers never block the
writer, a bounded busy timeout so writers queue instead of failing, and ``BEGIN IMMEDIATE`` for
write transactions. A deferred ``BEGIN`` that reads and then writes can fail at once with
"database is locked" when another writer got in between (the busy timeout does not apply to
that case); taking the write lock up front makes writers wait their turn instead. Within one
process they wait on a lock of ours first (woken as soon as the last writer commits, where
SQLite's busy handler polls with sleeps). A writer that waits longer than the busy timeout
(another process holds the lock for long) gets ``Unavailable``, a 503; readers are not blocked
by it (WAL).

PostgreSQL URLs are accepted in the libpq spelling operators already have
(``postgresql://`` or ``postgres://``) and mapped to the psycopg 3 driver, the one installed.

Outages: a PostgreSQL server that is down, unreachable or hung must cost a request a bounded
time and end in ``Unavailable`` (503), never a hang, and the engine must recover by itself when
the server is back. ``connect_timeout`` bounds new connections (psycopg, like libpq, waits at
least 2 s), the server's ``statement_timeout`` bounds queries on a live server, and
``pg_guards`` adds client-side deadlines and a connect gate for a server that stops answering.
Pre-ping and pool invalidation bring the pool back once the server answers again.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from pixvault.core.errors import InsufficientStorage, Unavailable
from pixvault.metadata import pg_guards

WRITE_OPTION = "pixvault_write"
"""Execution option marking a connection whose next transaction writes (SQLite: IMMEDIATE)."""
LAZY_OPTION = "pixvault_lazy_commit"
"""Execution option: this write transaction's commit need not reach the disk before it returns
(SQLite ``synchronous=NORMAL``, PostgreSQL ``synchronous_commit=off``); see ``transaction``."""

# synchronous=FULL: an acknowledged upload must survive a power loss. Its bytes are fsynced
# before the commit; under WAL, NORMAL may roll the commit back after a crash of the machine
# (not of the process), leaving a 2xx upload without its row. FULL syncs the WAL per commit.
_SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
)


@dataclass(frozen=True)
class Timeouts:
    """How long one database call may take before it is ``Unavailable`` (seconds)."""

    statement: float | None
    """PostgreSQL: the server's ``statement_timeout``, and, plus ``pg_guards.DEADLINE_GRACE``,
    the client-side deadline of every round trip. None: neither (migrations)."""
    sqlite_busy: float
    """SQLite: how long a writer waits for the write lock another connection holds."""


SERVING = Timeouts(statement=5.0, sqlite_busy=5.0)
"""Request-path defaults: every query here takes milliseconds; one taking seconds means the
database is in trouble, and the client is better served by a quick 503 and Retry-After."""
MAINTENANCE = Timeouts(statement=None, sqlite_busy=60.0)
"""For migrations: index builds on a big table may take minutes, and a second process starting
at the same time waits for the first one's migration transaction."""

POSTGRES_POOL: dict[str, Any] = {
    "pool_pre_ping": True,  # a server restart or idle-killing proxy costs a retry, not a 500
    "pool_size": 10,  # per process; several workers x 20 must stay under max_connections
    "max_overflow": 10,
    "pool_timeout": 10,  # seconds to wait for a free connection before ``Unavailable``
    "pool_recycle": 1800,  # renew before firewalls/NAT drop connections idle for long
}
SQLITE_POOL: dict[str, Any] = {"pool_size": 32, "max_overflow": 8, "pool_timeout": 10}
POSTGRES_CONNECT_TIMEOUT = 2
"""Seconds: an unreachable server must turn into a quick 503, not a hung request. 2 is the
least psycopg and libpq honour (they read 1 as 2); a refused connection fails at once."""


def database_url(url: str) -> URL:
    """Parse ``url``, giving bare ``postgresql://`` / ``postgres://`` the psycopg 3 driver.

    SQLAlchemy would pick psycopg2 (not installed) for the first and rejects the second.
    """
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):  # a bad port is a ValueError, the rest not
        raise ValueError(
            "not a database URL like sqlite:///path/db.sqlite3 or postgresql://user@host/db"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql") and driver in ("", "psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "postgres":
        parsed = parsed.set(drivername=f"postgresql+{driver}")
    return parsed


def make_engine(url: str, *, timeouts: Timeouts | None = None) -> Engine:
    """An Engine that is safe to share between threads, tuned for its backend (see above).

    ``timeouts`` defaults to :data:`SERVING`. Raises ``ValueError`` with a one-line reason for
    a URL that is malformed or names a database SQLAlchemy does not know.
    """
    try:
        return _make_engine(database_url(url), timeouts or SERVING)
    except exc.NoSuchModuleError as error:
        raise ValueError(f"unknown database kind: {error}") from None


def _make_engine(parsed: URL, timeouts: Timeouts) -> Engine:
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # Defaults only: a value in the URL's query wins (e.g. ``options`` behind a pooler
        # that refuses that startup parameter).
        defaults: dict[str, Any] = {
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT,
            "application_name": "pixvault",
        }
        if timeouts.statement is not None:
            defaults["options"] = f"-c statement_timeout={round(timeouts.statement * 1000)}"
        connect_args = {k: v for k, v in defaults.items() if k not in parsed.query}
        engine = sa.create_engine(parsed, connect_args=connect_args, **POSTGRES_POOL)
        if parsed.get_driver_name() == "psycopg":
            pg_guards.install(engine, timeouts.statement)
        return engine
    if backend != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    else:
        # Keep as many connections open as requests run at once (anyio's worker threads,
        # 40): SQLAlchemy's default keeps 5 and closes the rest on return, so under load
        # every request opened the file again and re-ran the PRAGMAs below.
        kwargs.update(SQLITE_POOL)
        if not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **kwargs)
    _install_sqlite_hooks(engine, timeouts)
    return engine


_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, tuple[threading.RLock, float]] = (
    weakref.WeakKeyDictionary()
)
"""SQLite engines: a lock their write transactions take in this process before BEGIN IMMEDIATE.

SQLite's busy handler polls the write lock with sleeps of up to 100 ms, so 8 uploads that each
commit twice spent most of their time asleep while the lock was free (issue 10's profile). In
one process, writers now queue on this lock and are woken at once; between processes the busy
timeout still applies."""


def _install_sqlite_hooks(engine: Engine, timeouts: Timeouts) -> None:
    _WRITE_LOCKS[engine] = (threading.RLock(), timeouts.sqlite_busy)
    # First, so the journal_mode switch below may wait too.
    busy = f"PRAGMA busy_timeout={round(timeouts.sqlite_busy * 1000)}"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (which skips it for SELECT and DDL) ...
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in (busy, *_SQLITE_PRAGMAS):
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # ... and emit it ourselves, taking the write lock first for write transactions.
        options = conn.get_execution_options()
        immediate = options.get(WRITE_OPTION, False)
        lazy = bool(immediate and options.get(LAZY_OPTION, False))
        # The level stays with the pooled connection: put FULL back before any other
        # transaction (one that writes without WRITE_OPTION included).
        info = conn.connection.info
        if info.get(LAZY_OPTION, False) != lazy:
            conn.exec_driver_sql(f"PRAGMA synchronous={'NORMAL' if lazy else 'FULL'}")
            info[LAZY_OPTION] = lazy
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# --- the error border ------------------------------------------------------------------------

_FULL_SQLSTATE = "53100"  # PostgreSQL disk_full


def is_unavailable(error: BaseException) -> bool:
    """Errors meaning "the database did not answer", as opposed to a bad statement."""
    if isinstance(error, exc.TimeoutError | exc.OperationalError | exc.InterfaceError):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


def is_full(error: BaseException) -> bool:
    """The database could not write because its disk (or quota) is full."""
    orig = getattr(error, "orig", None)
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return getattr(orig, "sqlstate", None) == _FULL_SQLSTATE


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn connectivity failures into ``Unavailable`` (a full disk: ``InsufficientStorage``);
    everything else passes through."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        if is_full(error):
            raise InsufficientStorage("Database storage is full") from error
        if is_unavailable(error):
            raise Unavailable("Database unavailable") from error
        raise


@contextmanager
def transaction(
    engine: Engine, *, write: bool = False, lazy_commit: bool = False
) -> Iterator[Connection]:
    """One connection, one transaction, committed on success; errors translated.

    ``lazy_commit`` (writes only): the commit returns before it is on disk. Only for a
    transaction whose loss in a power cut is repaired anyway and that a durable commit always
    follows before anything is acknowledged: both databases write their log in order, so that
    later commit's flush makes this one durable too (an upload's quota reservation)."""
    queue = _WRITE_LOCKS.get(engine) if write else None
    if queue is None:
        with _transaction(engine, write=write, lazy=lazy_commit) as conn:
            yield conn
        return
    lock, timeout = queue
    if not lock.acquire(timeout=timeout):
        raise Unavailable("Database unavailable")  # as when the busy timeout runs out
    try:
        with _transaction(engine, write=write, lazy=lazy_commit) as conn:
            yield conn
    finally:
        lock.release()


@contextmanager
def _transaction(engine: Engine, *, write: bool, lazy: bool) -> Iterator[Connection]:
    with translate_errors(), engine.connect() as conn:
        if write:
            conn.execution_options(**{WRITE_OPTION: True, LAZY_OPTION: lazy})
        with conn.begin():
            if write and lazy and engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            yield conn
