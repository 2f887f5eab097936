"""PostgreSQL specifics: URL spelling, pool settings, outages, indexes, concurrent quota."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, exc

from pixvault.core.errors import Conflict, Unavailable
from pixvault.core.keys import new_id
from pixvault.metadata.accounts import EMAIL_UNIQUE, _constraint
from pixvault.metadata.engine import (
    POSTGRES_CONNECT_TIMEOUT,
    database_url,
    make_engine,
    transaction,
)
from pixvault.metadata.repos import SqlDatabase
from pixvault.metadata.schema import metadata, users
from tests.contract.metadata_support import NOW, run_threads


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://u@db.internal:5432/pixvault",
        "postgres://u@db.internal:5432/pixvault",
        "postgresql+psycopg://u@db.internal:5432/pixvault",
        "postgres+psycopg://u@db.internal:5432/pixvault",
    ],
)
def test_libpq_urls_get_the_psycopg3_driver(given: str) -> None:
    assert database_url(given).drivername == "postgresql+psycopg"
    engine = make_engine(given)  # no connection is made yet
    try:
        assert engine.dialect.driver == "psycopg"
        assert engine.pool.size() == 10  # type: ignore[attr-defined]
        assert engine.pool._pre_ping
    finally:
        engine.dispose()


def _connect_params(url: str) -> dict[str, Any]:
    """What the engine would hand psycopg.connect (captured, no connection made)."""
    engine = make_engine(url)
    captured: dict[str, Any] = {}

    @event.listens_for(engine, "do_connect")
    def _capture(_dialect: Any, _rec: Any, _args: Any, params: dict[str, Any]) -> None:
        captured.update(params)
        raise ConnectionAbortedError

    try:
        with pytest.raises(ConnectionAbortedError):
            engine.connect()
    finally:
        engine.dispose()
    return captured


def test_connect_timeout_has_a_default_and_the_url_wins() -> None:
    assert _connect_params("postgresql://u@h/db")["connect_timeout"] == POSTGRES_CONNECT_TIMEOUT
    assert _connect_params("postgresql://u@h/db?connect_timeout=2")["connect_timeout"] == "2"


def test_unreachable_postgresql_is_unavailable() -> None:
    # Port 1 on loopback: refused at once, like a server that is down.
    db = SqlDatabase(make_engine("postgresql://postgres@127.0.0.1:1/pixvault"))
    try:
        with pytest.raises(Unavailable):
            db.ping()
        with pytest.raises(Unavailable):
            db.user_repo.get(new_id())
    finally:
        db.close()


def _method_specific_indexes() -> dict[str, str]:
    """Index name -> ``USING method (column ops, ...)`` for model indexes with postgresql_using.

    Autogenerate compares index names and columns, not methods or operator classes, so a
    B-tree of the right name would pass ``schema_drift``; this closes that gap.
    """
    found = {}
    for table in metadata.sorted_tables:
        for index in table.indexes:
            options = index.dialect_options["postgresql"]
            if options["using"]:
                ops = options["ops"] or {}
                parts = (f"{c.name} {ops.get(c.name, '')}".strip() for c in index.columns)
                columns = ", ".join(parts)
                found[str(index.name)] = f"USING {options['using']} ({columns})"
    return found


def test_head_has_the_models_gin_indexes_and_pg_trgm(postgres_url: str) -> None:
    expected = _method_specific_indexes()
    assert expected == {"ix_images_search_name_trgm": "USING gin (search_name gin_trgm_ops)"}
    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            extensions = set(conn.exec_driver_sql("SELECT extname FROM pg_extension").scalars())
            rows = conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes")
            definitions = {name: definition for name, definition in rows}
    finally:
        engine.dispose()
    assert "pg_trgm" in extensions
    for name, clause in expected.items():
        assert clause in definitions.get(name, ""), (name, definitions.get(name))


def test_concurrent_reservations_on_separate_connections(postgres_url: str, pg_clean: None) -> None:
    """16 threads, each on its own server connection, race for a quota only some fit in."""
    engine = make_engine(postgres_url)
    db = SqlDatabase(engine)
    backends: set[int] = set()
    lock = threading.Lock()

    @event.listens_for(engine, "checkout")
    def _seen(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        with lock:
            backends.add(dbapi_connection.info.backend_pid)

    try:
        user = db.user_repo.create(
            user_id=new_id(), email="q@example.com", password_hash="h", quota_limit=1000, now=NOW
        )
        sizes = [90 + 7 * i for i in range(16)]  # 2280 in all: only some fit
        results = run_threads(16, lambda i: db.user_repo.reserve_quota(user.id, sizes[i]))
        granted = [n for n, ok in zip(sizes, results, strict=True) if ok]
        stored = db.user_repo.get(user.id)
    finally:
        db.close()
    assert stored is not None
    assert stored.quota_used == sum(granted) <= 1000
    assert 1000 - max(sizes) < sum(granted)  # refusals happened only because it was full
    assert len(backends) > 1  # really concurrent sessions, not one connection in turn


def test_duplicate_email_is_recognised_by_its_constraint_name(
    postgres_url: str, pg_clean: None
) -> None:
    """The backstop under the pre-check names the constraint the driver reports, not words
    in its message (a translated server message would not say "email")."""
    engine = make_engine(postgres_url)
    row = {
        "email": "same@example.com",
        "password_hash": "h",
        "is_admin": False,
        "quota_used": 0,
        "quota_limit": 1,
        "created_at": NOW,
    }
    try:
        with engine.begin() as conn:
            conn.execute(users.insert().values(id=new_id(), **row))
        with pytest.raises(exc.IntegrityError) as raised, engine.begin() as conn:
            conn.execute(users.insert().values(id=new_id(), **row))
        assert _constraint(raised.value) == EMAIL_UNIQUE
    finally:
        engine.dispose()


def test_parallel_sign_ups_of_one_email_make_one_account(postgres_url: str, pg_clean: None) -> None:
    db = SqlDatabase(make_engine(postgres_url))

    def create(i: int) -> str:
        try:
            db.user_repo.create(
                user_id=new_id(),
                email="race@example.com",
                password_hash="h",
                quota_limit=1,
                now=NOW,
            )
        except Conflict as error:
            return error.message
        return "created"

    try:
        results = run_threads(8, create)
    finally:
        db.close()
    assert sorted(results) == ["Email already registered"] * 7 + ["created"]


def test_a_lazy_write_turns_off_only_its_own_synchronous_commit(postgres_url: str) -> None:
    """The reservation's commit does not wait for the WAL flush (issue 10); ``SET LOCAL`` ends
    with the transaction, so the next one on the same pooled connection waits again."""
    engine = make_engine(postgres_url)
    try:

        def level(lazy: bool) -> object:
            with transaction(engine, write=True, lazy_commit=lazy) as conn:
                return conn.exec_driver_sql("SHOW synchronous_commit").scalar()

        assert [level(False), level(True), level(False)] == ["on", "off", "on"]
    finally:
        engine.dispose()
