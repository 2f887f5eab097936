"""Per-user image counts: the gallery's total without a COUNT over every row.

Like 0001, a frozen snapshot: no app imports.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("image_count", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE users SET image_count = "
        "(SELECT count(*) FROM images WHERE images.owner_id = users.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("image_count")
