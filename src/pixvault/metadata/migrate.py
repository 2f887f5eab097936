"""Schema migrations, run programmatically: no alembic.ini, the scripts ship inside the package.

One history serves SQLite and PostgreSQL. Backend-only objects (the trigram index) are created
by migrations that check the dialect, and declared in the models with ``schema.only_on``;
``include_object`` below keeps autogenerate from expecting them on the other backend. env.py
and ``schema_drift`` share ``context_options``, so the check in the tests is the one Alembic
runs for ``revision --autogenerate``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Index
from sqlalchemy.engine import Connection

from pixvault.metadata.engine import MAINTENANCE, WRITE_OPTION, make_engine, translate_errors
from pixvault.metadata.schema import SEARCH_TABLES, exists_on, metadata

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Alembic's ``context`` and ``op`` are process-wide proxies: two threads upgrading at once would
# drive each other's connection. Across processes the database's own lock serialises upgrades.
_ALEMBIC_LOCK = threading.Lock()

UPGRADE_LOCK_ID = 0x706978766175  # "pixvau": any constant, the same in every process
"""PostgreSQL advisory lock held by an upgrade; SQLite uses its write lock instead."""

IncludeObject = Callable[[Any, str | None, str, bool, Any], bool]


def include_object(dialect: str) -> IncludeObject:
    """Alembic hook: leave out model indexes that do not exist on ``dialect``, and SQLite's
    name index (raw DDL, not in the models: ``schema.SEARCH_DDL``; compared by the tests)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "index" and not reflected and isinstance(obj, Index):
            return exists_on(obj, dialect)
        if type_ == "table" and reflected and name is not None:
            # The FTS5 table's shadow tables are named after it (image_names_fts_data, ...).
            return not name.startswith(SEARCH_TABLES)
        return True

    return include


def context_options(connection: Connection) -> dict[str, Any]:
    """Options for Alembic's MigrationContext on ``connection`` (env.py and ``schema_drift``)."""
    dialect = connection.dialect.name
    return {
        "target_metadata": metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        "render_as_batch": dialect == "sqlite",
        # Our SQLite engine emits BEGIN itself, so DDL is transactional there too.
        "transactional_ddl": True,
        "compare_type": True,
        "include_object": include_object(dialect),
    }


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations (and at ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # The option goes through configparser interpolation, so a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest revision; a no-op when it is already there.

    The whole upgrade is one write transaction (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a
    transaction-scoped advisory lock, as reading alembic_version locks nothing), so two processes
    starting at once do not both try to create the tables; the second one then finds head.
    """
    engine = make_engine(url, timeouts=MAINTENANCE)  # index builds may take minutes
    try:
        with _ALEMBIC_LOCK, translate_errors(), engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            if connection.dialect.name == "postgresql":
                # Begins the transaction Alembic then runs in; released at commit.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK_ID})")
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""
    engine = make_engine(url)
    try:
        with translate_errors(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def schema_drift(url: str) -> list[Any]:
    """What autogenerate would change to make the database at ``url`` match the models.

    Empty when the migration head and ``schema.py`` agree for this backend.
    """
    engine = make_engine(url)
    try:
        with translate_errors(), engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=context_options(connection))
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head
