"""Alembic environment, configured programmatically by ``pixvault.metadata.migrate``.

A caller may hand over an open connection in ``config.attributes["connection"]`` (tests, the
app at start-up); otherwise one is made from the ``sqlalchemy.url`` option with ``make_engine``
so SQLite gets the same pragmas and locking as the running service.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from pixvault.metadata.engine import MAINTENANCE, WRITE_OPTION, make_engine
from pixvault.metadata.migrate import context_options
from pixvault.metadata.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    # Shared with ``migrate.schema_drift``: batch mode on SQLite, per-dialect index filter.
    context.configure(connection=connection, **context_options(connection))
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection attribute and no sqlalchemy.url option")
    engine = make_engine(url, timeouts=MAINTENANCE)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
