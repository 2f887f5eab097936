"""Image pipeline columns: upload checksums, date taken, photo metadata, failure, placeholder.

All nullable, so existing rows stay valid: their bytes were stored as received (NULL upload
checksums mean "same as stored"), and their date taken, metadata and placeholder are filled
in when their derivatives are (re)made. Like 0001, a frozen snapshot: no app imports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("upload_md5", lambda: sa.String(32)),
    ("upload_sha256", lambda: sa.String(64)),
    ("taken_at", lambda: sa.DateTime(timezone=True)),  # as 0001 spells UtcDateTime
    ("photo_metadata", sa.Text),
    ("failure_reason", lambda: sa.String(500)),
    ("placeholder", lambda: sa.String(100)),
)


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER most things in place (adding nullable columns it can,
    # but batch keeps one code path for both backends).
    with op.batch_alter_table("images") as batch:
        for name, make_type in _COLUMNS:
            batch.add_column(sa.Column(name, make_type(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        for name, _ in reversed(_COLUMNS):
            batch.drop_column(name)
