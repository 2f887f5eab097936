"""PostgreSQL for the tests: a throwaway database on the machine's server (127.0.0.1:5432).

Other runs share the server, so each session works in a database of its own, named
``pixvault_test_<pid>_<random>``, migrated with the app's own Alembic upgrade and dropped at
the end. Tests that share it start clean through ``pg_clean`` (a TRUNCATE of every app table;
``alembic_version`` stays, so the schema stays at head). Set ``PIXVAULT_TEST_PG_ADMIN_URL`` to
use another server; the role needs CREATEDB.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from pixvault.metadata.engine import database_url
from pixvault.metadata.migrate import upgrade
from pixvault.metadata.schema import metadata
from tests.services import unavailable

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT = 3


def admin_url() -> str:
    return os.environ.get("PIXVAULT_TEST_PG_ADMIN_URL") or DEFAULT_ADMIN_URL


def _libpq(url: str) -> str:
    """``url`` as libpq understands it (no ``+driver`` part), for psycopg.connect."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    # CREATE/DROP DATABASE cannot run inside a transaction.
    return psycopg.connect(_libpq(url), autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def reachable(url: str) -> str | None:
    """None when the server at ``url`` answers, else why not."""
    try:
        with _admin(url) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return str(error).strip() or type(error).__name__
    return None


@contextmanager
def scratch_database(admin: str, *, migrate: bool = True) -> Iterator[str]:
    """A new database on the server of ``admin`` (at head unless ``migrate=False``), dropped
    on exit even if connections are still open. Yields its ``postgresql://`` URL."""
    name = f"pixvault_test_{os.getpid()}_{secrets.token_hex(4)}"
    # template0: nobody is ever connected to it, so parallel runs cannot block each other.
    create = sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'")
    with _admin(admin) as conn:
        conn.execute(create.format(sql.Identifier(name)))
    url = make_url(_libpq(admin)).set(database=name).render_as_string(hide_password=False)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        with _admin(admin) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


def truncate_all(url: str) -> None:
    """Empty every app table in one statement; the schema and its version stay."""
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    engine = sa.create_engine(database_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """A server this session may create databases on, or a skip (a failure under CI)."""
    url = admin_url()
    why = reachable(url)
    if why is not None:
        unavailable("PostgreSQL", f"{make_url(url)!r} does not answer: {why}")
    return url


@pytest.fixture(scope="session")
def postgres_url(pg_admin_url: str) -> Iterator[str]:
    """This session's database, migrated to head: ``postgresql://.../pixvault_test_...``."""
    with scratch_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def pg_clean(postgres_url: str) -> None:
    """Start the test on empty tables in the session database."""
    truncate_all(postgres_url)


@pytest.fixture
def empty_pg_url(pg_admin_url: str) -> Iterator[str]:
    """A database of this test's own that was never migrated (dropped afterwards)."""
    with scratch_database(pg_admin_url, migrate=False) as url:
        yield url
