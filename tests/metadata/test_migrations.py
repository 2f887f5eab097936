"""The Alembic migrations build the schema the code expects, on an empty database, safely.

Every test runs on SQLite (a new file) and PostgreSQL (a new database of its own on the local
server, see ``tests.services.postgres``): one migration history serves both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from pixvault.core.keys import new_id
from pixvault.metadata.engine import SERVING, make_engine, transaction
from pixvault.metadata.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    schema_drift,
    upgrade,
)
from pixvault.metadata.repos import SqlDatabase
from pixvault.metadata.schema import metadata
from tests.services.postgres import scratch_database

SRC = Path(__file__).resolve().parents[2] / "src"
TABLES = {
    "users",
    "tokens",
    "images",
    "image_tags",
    "access_log",
    "quota_reservations",
    "leases",
    "tag_counts",
}
SQLITE_SEARCH_TABLES = {
    "image_names",
    "image_names_fts",
    # FTS5's shadow tables (external content: no _content table).
    "image_names_fts_config",
    "image_names_fts_data",
    "image_names_fts_docsize",
    "image_names_fts_idx",
}
SQLITE_PATH = Path("missing") / "dir" / "pixvault.db"  # under tmp_path: parents get created


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that was never migrated: a new SQLite file or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / SQLITE_PATH}"
    return str(request.getfixturevalue("empty_pg_url"))


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_the_schema_on_an_empty_database(empty_url: str, tmp_path: Path) -> None:
    url = empty_url
    assert current_revision(url) is None
    upgrade(url)
    if url.startswith("sqlite"):
        assert (tmp_path / SQLITE_PATH).is_file()
    assert current_revision(url) == head_revision()
    search = SQLITE_SEARCH_TABLES if url.startswith("sqlite") else set()
    assert _tables(url) == TABLES | search | {"alembic_version"}


def test_upgrade_is_idempotent_and_keeps_data(empty_url: str) -> None:
    url = empty_url
    upgrade(url)
    db = SqlDatabase(make_engine(url))
    try:
        user = db.user_repo.create(
            user_id=new_id(),
            email="a@example.com",
            password_hash="h",
            quota_limit=10,
            now=datetime.now(UTC),
        )
        upgrade(url)
        assert db.user_repo.get(user.id) == user
    finally:
        db.close()
    assert current_revision(url) == head_revision()


def test_concurrent_upgrades_in_one_process_all_succeed(empty_url: str) -> None:
    url = empty_url
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        try:
            upgrade(url)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert current_revision(url) == head_revision()


@pytest.mark.slow
def test_concurrent_upgrades_from_several_processes_all_succeed(empty_url: str) -> None:
    """Like several server workers starting at once on a fresh database."""
    url = empty_url
    code = "import sys; from pixvault.metadata.migrate import upgrade; upgrade(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outcomes = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
    assert [err for err, code in outcomes if code != 0] == []
    assert current_revision(url) == head_revision()


def test_models_match_the_migration_head(empty_url: str) -> None:
    """Autogenerate, with the hooks env.py uses, finds nothing to do on this backend."""
    upgrade(empty_url)
    assert schema_drift(empty_url) == []


def _raw_objects(url: str) -> dict[str, str]:
    """Triggers, functions and the FTS tables (what autogenerate cannot compare) by name, with
    their definitions as the database reports them."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(
                    "SELECT type || ' ' || name, sql FROM sqlite_master "
                    "WHERE type = 'trigger' OR name LIKE 'image_names%'"
                )
            else:
                rows = conn.exec_driver_sql(
                    "SELECT 'trigger ' || tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                    "WHERE NOT tgisinternal UNION ALL "
                    "SELECT 'function ' || proname, pg_get_functiondef(p.oid) FROM pg_proc p "
                    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
                    "AND starts_with(proname, 'pixvault')"
                )
            return {str(name): str(sql) for name, sql in rows}
    finally:
        engine.dispose()


def test_create_all_and_the_migrations_make_the_same_triggers_and_fts_tables(
    empty_url: str, request: pytest.FixtureRequest
) -> None:
    """What ``create_all`` makes from ``schema.py``'s raw DDL equals what migration 0006
    made: triggers, functions, the name table and its FTS5 index, on each backend."""
    upgrade(empty_url)
    migrated = _raw_objects(empty_url)
    with ExitStack() as stack:
        if empty_url.startswith("sqlite"):
            created_url = empty_url.replace(".db", "-created.db")
        else:
            admin = request.getfixturevalue("pg_admin_url")
            created_url = stack.enter_context(scratch_database(admin, migrate=False))
        engine = make_engine(created_url)
        try:
            if engine.dialect.name == "postgresql":  # made by migration 0002, not the models
                with engine.begin() as conn:
                    conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            metadata.create_all(engine)
        finally:
            engine.dispose()
        created = _raw_objects(created_url)
    expected = {"trigger image_tags_count_insert", "trigger image_tags_count_delete"}
    if empty_url.startswith("sqlite"):
        expected |= {"trigger images_name_insert", "table image_names_fts", "table image_names"}
    else:
        expected |= {"function pixvault_count_tags"}
    assert expected <= set(migrated)
    assert created == migrated


def test_drift_check_sees_a_missing_index(empty_url: str) -> None:
    """The comparison is not blind: drop an index the models declare and it is reported."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_images_owner_id_id")
    finally:
        engine.dispose()
    assert [diff[0] for diff in schema_drift(empty_url)] == ["add_index"]


def test_postgresql_only_indexes_stay_off_sqlite(tmp_path: Path) -> None:
    """``create_all`` and the migrations agree: no trigram index on SQLite."""
    url = f"sqlite:///{tmp_path / 'created.db'}"
    engine = make_engine(url)
    try:
        metadata.create_all(engine)
        indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("images")}
    finally:
        engine.dispose()
    assert indexes == {"ix_images_owner_id_id"}


def test_sqlite_connections_enforce_keys_use_wal_and_sync_every_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / SQLITE_PATH}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:

            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("foreign_keys") == 1
            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == round(SERVING.sqlite_busy * 1000)
            # FULL: a commit survives a power loss, not only a crash of the process (F7).
            assert pragma("synchronous") == 2
    finally:
        engine.dispose()


def test_head_downgrades_to_0001_and_back(empty_url: str) -> None:
    """The backend-specific revision undoes cleanly, so a rollback of a release works."""
    upgrade(empty_url)
    command.downgrade(alembic_config(empty_url), "0001")
    assert current_revision(empty_url) == "0001"
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert schema_drift(empty_url) == []


def test_a_lazy_write_skips_only_its_own_sync(tmp_path: Path) -> None:
    """An upload's reservation commits without syncing the WAL (the rows' commit that follows
    syncs it, issue 10); every other write, before and after on the same pooled connection,
    is FULL."""
    url = f"sqlite:///{tmp_path / SQLITE_PATH}"
    upgrade(url)
    engine = make_engine(url)
    try:

        def level(lazy: bool, write: bool = True) -> object:
            with transaction(engine, write=write, lazy_commit=lazy) as conn:
                return conn.exec_driver_sql("PRAGMA synchronous").scalar()

        assert [level(False), level(True), level(False)] == [2, 1, 2]
        assert [level(True), level(False, write=False)] == [1, 2]
    finally:
        engine.dispose()
