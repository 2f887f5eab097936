"""Schema migrations, run programmatically: no alembic.ini, the scripts ship inside the package."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pixvault.metadata.engine import WRITE_OPTION, make_engine, translate_errors

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Alembic's ``context`` and ``op`` are process-wide proxies: two threads upgrading at once would
# drive each other's connection. Across processes the database's own lock serialises upgrades.
_ALEMBIC_LOCK = threading.Lock()


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

    The whole upgrade is one write transaction (SQLite: ``BEGIN IMMEDIATE``), so two processes
    starting at once do not both try to create the tables.
    """
    engine = make_engine(url)
    try:
        with _ALEMBIC_LOCK, translate_errors(), engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
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


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head
