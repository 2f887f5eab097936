"""Name search by index on SQLite (FTS5 trigrams), and per-user tag counts on both backends.

SQLite: ``image_names`` (one row per image, a stable INTEGER PRIMARY KEY) and an external-content
FTS5 table over it with the trigram tokenizer, kept by triggers; filled from the existing rows.
PostgreSQL already has its trigram index (0002) and gets nothing for search.

Both: ``tag_counts`` (images per user and tag), kept by triggers on ``image_tags`` and filled
here, so a one-tag gallery filter reads its total instead of counting.

Like 0001, a frozen snapshot: no app imports (the statements equal ``schema.SEARCH_DDL`` and
the ``*_TAG_COUNT_DDL`` of this revision; tests/metadata/test_migrations.py compares them).
The backfill runs inside the upgrade transaction: seconds for 100,000 images.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAMES_TABLE = (
    "CREATE TABLE image_names (\n"
    "    seq INTEGER PRIMARY KEY,\n"
    "    image_id VARCHAR(36) NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,\n"
    "    owner_id VARCHAR(36) NOT NULL,\n"
    "    name VARCHAR(1024) NOT NULL\n"
    ")"
)
_NAMES_FTS = (
    "CREATE VIRTUAL TABLE image_names_fts USING fts5(name, content='image_names', "
    "content_rowid='seq', tokenize='trigram case_sensitive 1')"
)
_NAMES_TRIGGERS = (
    "CREATE TRIGGER images_name_insert AFTER INSERT ON images BEGIN "
    "INSERT INTO image_names (image_id, owner_id, name) "
    "VALUES (new.id, new.owner_id, new.search_name); END",
    "CREATE TRIGGER images_name_update AFTER UPDATE OF search_name, owner_id ON images BEGIN "
    "UPDATE image_names SET name = new.search_name, owner_id = new.owner_id "
    "WHERE image_id = new.id; END",
    "CREATE TRIGGER image_names_fts_delete AFTER DELETE ON image_names BEGIN "
    "INSERT INTO image_names_fts (image_names_fts, rowid, name) "
    "VALUES ('delete', old.seq, old.name); END",
    "CREATE TRIGGER image_names_fts_insert AFTER INSERT ON image_names BEGIN "
    "INSERT INTO image_names_fts (rowid, name) VALUES (new.seq, new.name); END",
    "CREATE TRIGGER image_names_fts_update AFTER UPDATE ON image_names BEGIN "
    "INSERT INTO image_names_fts (image_names_fts, rowid, name) "
    "VALUES ('delete', old.seq, old.name); "
    "INSERT INTO image_names_fts (rowid, name) VALUES (new.seq, new.name); END",
)
_SQLITE_TAG_TRIGGERS = (
    "CREATE TRIGGER image_tags_count_insert AFTER INSERT ON image_tags BEGIN "
    "INSERT INTO tag_counts (owner_id, tag, image_count) VALUES (new.owner_id, new.tag, 1) "
    "ON CONFLICT (owner_id, tag) DO UPDATE SET image_count = image_count + 1; END",
    "CREATE TRIGGER image_tags_count_delete AFTER DELETE ON image_tags BEGIN "
    "UPDATE tag_counts SET image_count = image_count - 1 "
    "WHERE owner_id = old.owner_id AND tag = old.tag; "
    "DELETE FROM tag_counts "
    "WHERE owner_id = old.owner_id AND tag = old.tag AND image_count <= 0; END",
)
_POSTGRESQL_TAG_TRIGGERS = (
    "CREATE FUNCTION pixvault_count_tags() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "    IF TG_OP = 'INSERT' THEN\n"
    "        INSERT INTO tag_counts (owner_id, tag, image_count)\n"
    "        SELECT owner_id, tag, count(*) FROM added GROUP BY owner_id, tag\n"
    "        ON CONFLICT (owner_id, tag)\n"
    "        DO UPDATE SET image_count = tag_counts.image_count + excluded.image_count;\n"
    "    ELSE\n"
    "        UPDATE tag_counts SET image_count = tag_counts.image_count - gone.n\n"
    "        FROM (SELECT owner_id, tag, count(*) AS n FROM removed GROUP BY owner_id, tag)"
    " AS gone\n"
    "        WHERE tag_counts.owner_id = gone.owner_id AND tag_counts.tag = gone.tag;\n"
    "        DELETE FROM tag_counts WHERE image_count <= 0\n"
    "        AND (owner_id, tag) IN (SELECT owner_id, tag FROM removed);\n"
    "    END IF;\n"
    "    RETURN NULL;\n"
    "END\n"
    "$$",
    "CREATE TRIGGER image_tags_count_insert AFTER INSERT ON image_tags "
    "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION pixvault_count_tags()",
    "CREATE TRIGGER image_tags_count_delete AFTER DELETE ON image_tags "
    "REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION pixvault_count_tags()",
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table(
        "tag_counts",
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.Column("image_count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_tag_counts_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("owner_id", "tag", name=op.f("pk_tag_counts")),
    )
    op.execute(
        "INSERT INTO tag_counts (owner_id, tag, image_count) "
        "SELECT owner_id, tag, count(*) FROM image_tags GROUP BY owner_id, tag"
    )
    if not _sqlite():
        for statement in _POSTGRESQL_TAG_TRIGGERS:
            op.execute(statement)
        return
    for statement in _SQLITE_TAG_TRIGGERS:
        op.execute(statement)
    op.execute(_NAMES_TABLE)
    op.execute(_NAMES_FTS)
    op.execute(
        "INSERT INTO image_names (image_id, owner_id, name) "
        "SELECT id, owner_id, search_name FROM images ORDER BY id"
    )
    # One bulk build instead of a trigger per row: the triggers come after.
    op.execute("INSERT INTO image_names_fts (image_names_fts) VALUES ('rebuild')")
    for statement in _NAMES_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if _sqlite():
        for trigger in (
            "images_name_insert",
            "images_name_update",
            "image_names_fts_delete",
            "image_names_fts_insert",
            "image_names_fts_update",
            "image_tags_count_insert",
            "image_tags_count_delete",
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS image_names_fts")
        op.execute("DROP TABLE IF EXISTS image_names")
    else:
        op.execute("DROP TRIGGER IF EXISTS image_tags_count_insert ON image_tags")
        op.execute("DROP TRIGGER IF EXISTS image_tags_count_delete ON image_tags")
        op.execute("DROP FUNCTION IF EXISTS pixvault_count_tags()")
    op.drop_table("tag_counts")
