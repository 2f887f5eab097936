"""The Alembic migrations build the schema the code expects, on an empty SQLite file, safely."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pixvault.core.keys import new_id
from pixvault.metadata.engine import make_engine
from pixvault.metadata.migrate import current_revision, head_revision, upgrade
from pixvault.metadata.repos import SqlDatabase
from pixvault.metadata.schema import metadata

SRC = Path(__file__).resolve().parents[2] / "src"
TABLES = {"users", "tokens", "images", "image_tags", "access_log"}


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'missing' / 'dir' / 'pixvault.db'}"


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_the_schema_on_an_empty_file(tmp_path: Path) -> None:
    url = _url(tmp_path)
    assert current_revision(url) is None
    upgrade(url)
    assert (tmp_path / "missing" / "dir" / "pixvault.db").is_file()
    assert current_revision(url) == head_revision()
    assert _tables(url) == TABLES | {"alembic_version"}


def test_upgrade_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    db = SqlDatabase(make_engine(url))
    try:
        user = db.users.create(
            user_id=new_id(),
            email="a@example.com",
            password_hash="h",
            quota_limit=10,
            now=datetime.now(UTC),
        )
        upgrade(url)
        assert db.users.get(user.id) == user
    finally:
        db.close()
    assert current_revision(url) == head_revision()


def test_concurrent_upgrades_in_one_process_all_succeed(tmp_path: Path) -> None:
    url = _url(tmp_path)
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
def test_concurrent_upgrades_from_several_processes_all_succeed(tmp_path: Path) -> None:
    """Like several server workers starting at once on a fresh file."""
    url = _url(tmp_path)
    code = "import sys; from pixvault.metadata.migrate import upgrade; upgrade(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    failures = [p.stderr.read() if p.stderr else "" for p in procs if p.wait(timeout=60) != 0]
    assert failures == []
    assert current_revision(url) == head_revision()


def test_models_match_the_migration_head(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_sqlite_connections_enforce_keys_and_use_wal(tmp_path: Path) -> None:
    url = _url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:

            def pragma(name: str) -> object:
                return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

            assert pragma("foreign_keys") == 1
            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") == 30000
            assert pragma("synchronous") == 1  # NORMAL
    finally:
        engine.dispose()
