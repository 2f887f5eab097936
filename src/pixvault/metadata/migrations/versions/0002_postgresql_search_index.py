"""PostgreSQL only: a trigram index for name search.

The gallery's name search is ``search_name LIKE '%term%' ESCAPE '\\'``, an infix match no
B-tree can serve; a ``pg_trgm`` GIN index can. The other gallery indexes are portable and
already in 0001: (owner_id, id) for newest-first pages and counts (read backwards),
image_tags (owner_id, tag, image_id) for "any of these tags", access_log (image_id, id) for
one image's log. On SQLite this revision does nothing but move the version on, so one
history serves both backends.

``pg_trgm`` is a trusted extension from PostgreSQL 13 on: a database owner (or any role with
CREATE on the database) may install it, no superuser needed. The index is built inside the
upgrade transaction, not CONCURRENTLY: the table is still small when this ships; on a large
table build it by hand with CREATE INDEX CONCURRENTLY first (same name) and the IF NOT EXISTS
below leaves it alone.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        op.f("ix_images_search_name_trgm"),
        "images",
        ["search_name"],
        postgresql_using="gin",
        postgresql_ops={"search_name": "gin_trgm_ops"},
        if_not_exists=True,
    )


def downgrade() -> None:
    if not _postgresql():
        return
    op.drop_index(op.f("ix_images_search_name_trgm"), table_name="images", if_exists=True)
    # The extension stays: other objects may use it, and dropping it needs more rights.
