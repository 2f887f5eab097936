"""Engine construction and the error border between SQLAlchemy and the core.

SQLite needs care to be a good multi-threaded server database: WAL so readers never block the
writer, a long busy timeout so writers queue instead of failing, and ``BEGIN IMMEDIATE`` for
write transactions. A deferred ``BEGIN`` that reads and then writes can fail at once with
"database is locked" when another writer got in between (the busy timeout does not apply to
that case); taking the write lock up front makes writers wait their turn instead.

PostgreSQL URLs are accepted in the libpq spelling operators already have
(``postgresql://`` or ``postgres://``) and mapped to the psycopg 3 driver, the one installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from pixvault.core.errors import Unavailable

WRITE_OPTION = "pixvault_write"
"""Execution option marking a connection whose next transaction writes (SQLite: IMMEDIATE)."""

_SQLITE_PRAGMAS = (
    "PRAGMA busy_timeout=30000",  # first, so the journal_mode switch below may wait too
    "PRAGMA foreign_keys=ON",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
)


POSTGRES_POOL: dict[str, Any] = {
    "pool_pre_ping": True,  # a server restart or idle-killing proxy costs a retry, not a 500
    "pool_size": 10,  # per process; several workers x 20 must stay under max_connections
    "max_overflow": 10,
    "pool_timeout": 10,  # seconds to wait for a free connection before ``Unavailable``
    "pool_recycle": 1800,  # renew before firewalls/NAT drop connections idle for long
}
POSTGRES_CONNECT_TIMEOUT = 5
"""Seconds: an unreachable server must turn into a quick 503, not a hung request."""


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


def make_engine(url: str) -> Engine:
    """An Engine that is safe to share between threads, tuned for its backend (see above).

    Raises ``ValueError`` with a one-line reason for a URL that is malformed or names a
    database SQLAlchemy does not know.
    """
    try:
        return _make_engine(database_url(url))
    except exc.NoSuchModuleError as error:
        raise ValueError(f"unknown database kind: {error}") from None


def _make_engine(parsed: URL) -> Engine:
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        # Defaults only: a value in the URL's query wins.
        defaults = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT, "application_name": "pixvault"}
        connect_args = {k: v for k, v in defaults.items() if k not in parsed.query}
        return sa.create_engine(parsed, connect_args=connect_args, **POSTGRES_POOL)
    if backend != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, **kwargs)
    _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (which skips it for SELECT and DDL) ...
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # ... and emit it ourselves, taking the write lock first for write transactions.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_unavailable(error: BaseException) -> bool:
    """Errors meaning "the database did not answer", as opposed to a bad statement."""
    if isinstance(error, exc.TimeoutError | exc.OperationalError | exc.InterfaceError):
        return True
    return isinstance(error, exc.DBAPIError) and error.connection_invalidated


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn connectivity failures into ``Unavailable``; everything else passes through."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        if is_unavailable(error):
            raise Unavailable("Database unavailable") from error
        raise


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """One connection, one transaction, committed on success; errors translated."""
    with translate_errors(), engine.connect() as conn:
        if write:
            conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn
