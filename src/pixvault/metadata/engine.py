"""Engine construction and the error border between SQLAlchemy and the core.

SQLite needs care to be a good multi-threaded server database: WAL so readers never block the
writer, a long busy timeout so writers queue instead of failing, and ``BEGIN IMMEDIATE`` for
write transactions. A deferred ``BEGIN`` that reads and then writes can fail at once with
"database is locked" when another writer got in between (the busy timeout does not apply to
that case); taking the write lock up front makes writers wait their turn instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
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


def make_engine(url: str) -> Engine:
    """An Engine that is safe to share between threads, with SQLite tuned as described above."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        kwargs["poolclass"] = StaticPool
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
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
