"""Tables as SQLAlchemy Core objects: the single source the repos query and Alembic diffs against.

Constraint names come from a naming convention so they are identical on SQLite and PostgreSQL,
which later migrations (batch mode on SQLite) need in order to drop or alter them by name.

A few indexes exist on one backend only (see ``only_on``); everything else is portable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

DIALECTS_KEY = "pixvault_dialects"
"""``Index.info`` key: the dialects an index exists on; absent means every dialect."""


def only_on(dialect: str, index: sa.Index) -> sa.Index:
    """Declare ``index`` for one backend: ``create_all`` skips it elsewhere (``ddl_if``) and
    ``migrate.include_object`` hides it from autogenerate comparisons elsewhere, so the models
    and the migrations agree on every backend."""
    index.info[DIALECTS_KEY] = (dialect,)
    return index.ddl_if(dialect=dialect)


def exists_on(index: sa.Index, dialect: str) -> bool:
    """Whether ``index`` belongs in a database of ``dialect``."""
    dialects = index.info.get(DIALECTS_KEY)
    return dialects is None or dialect in dialects


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no zones, so it stores naive UTC text (the
    fixed-width format sorts and compares correctly) and the zone is re-attached on load.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean(), nullable=False),
    sa.Column("quota_used", sa.BigInteger(), nullable=False, server_default="0"),
    sa.Column("quota_limit", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    # How many images the user has, kept with every insert and delete of their rows (and
    # recomputed by the repair pass), so a gallery's total needs no COUNT over all of them.
    sa.Column("image_count", sa.BigInteger(), nullable=False, server_default="0"),
    sa.CheckConstraint("quota_used >= 0", name="quota_used_nonnegative"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.String(36),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("storage_key", sa.String(255), nullable=False, unique=True),
    # Names are at most 255 characters; casefolding can triple that, hence 1024 for both.
    sa.Column("original_name", sa.String(1024), nullable=False),
    sa.Column("search_name", sa.String(1024), nullable=False),
    sa.Column("content_type", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("width", sa.Integer(), nullable=False),
    sa.Column("height", sa.Integer(), nullable=False),
    sa.Column("md5", sa.String(32), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("is_public", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("uploaded_at", UtcDateTime(), nullable=False),
    # What the client sent, when metadata stripping changed the bytes (else NULL: md5/sha256
    # above describe both). Lets a client verify its upload against what it holds.
    sa.Column("upload_md5", sa.String(32), nullable=True),
    sa.Column("upload_sha256", sa.String(64), nullable=True),
    # EXIF DateTimeOriginal (with its offset when the file has one), in UTC; a column, not
    # inside photo_metadata, because galleries sort and filter by it.
    sa.Column("taken_at", UtcDateTime(), nullable=True),
    # Camera, lens and exposure as read from the file: a small JSON object, shown, not queried.
    sa.Column("photo_metadata", sa.Text(), nullable=True),
    # Why the pixels could not be processed (status "failed"), for the owner to read.
    sa.Column("failure_reason", sa.String(500), nullable=True),
    # A tiny blurred preview (ThumbHash, base64) painted before the thumbnail arrives.
    sa.Column("placeholder", sa.String(100), nullable=True),
    # Newest-first listing of one owner's images walks this index backwards (a B-tree reads
    # both ways, so a DESC copy would only cost writes); counting is an index-only scan.
    sa.Index("ix_images_owner_id_id", "owner_id", "id"),
    # Name search is ``search_name LIKE '%term%'``: no B-tree helps an infix match, trigrams
    # do (terms of 3+ characters). On SQLite the trigrams are an FTS5 table (SEARCH_DDL below).
    only_on(
        "postgresql",
        sa.Index(
            "ix_images_search_name_trgm",
            "search_name",
            postgresql_using="gin",
            postgresql_ops={"search_name": "gin_trgm_ops"},
        ),
    ),
)

image_tags = sa.Table(
    "image_tags",
    metadata,
    sa.Column(
        "image_id",
        sa.String(36),
        sa.ForeignKey("images.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # Copied from the image so "any of these tags" for one owner is a single index range.
    sa.Column("owner_id", sa.String(36), nullable=False),
    sa.Column("tag", sa.String(50), primary_key=True),
    sa.Index("ix_image_tags_owner_id_tag_image_id", "owner_id", "tag", "image_id"),
)

tag_counts = sa.Table(
    "tag_counts",
    metadata,
    # How many of a user's images carry a tag, kept by triggers on image_tags (TAG_COUNT_DDL)
    # in the transaction that adds or removes the tag, and checked by the repair pass: a
    # one-tag filter's total is one row, not a count of up to 10,001 index entries. Rows at 0
    # are deleted, so a missing row means 0.
    sa.Column(
        "owner_id",
        sa.String(36),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(50), primary_key=True),
    sa.Column("image_count", sa.BigInteger(), nullable=False),
)

access_log = sa.Table(
    "access_log",
    metadata,
    # BIGINT on PostgreSQL (views add up); SQLite needs INTEGER to get a rowid alias.
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "image_id",
        sa.String(36),
        sa.ForeignKey("images.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("accessed_at", UtcDateTime(), nullable=False),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("ip", sa.String(64), nullable=False),
    # One image's log newest-first (walked backwards), and the FK's ON DELETE CASCADE lookup.
    sa.Index("ix_access_log_image_id_id", "image_id", "id"),
)

quota_reservations = sa.Table(
    "quota_reservations",
    metadata,
    # Bytes an upload in flight holds against its owner's quota: added to quota_used with the
    # row here in one transaction, removed with the image rows' insert (or the refund). A row
    # older than the repair's grace period is an upload that died half-way.
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "owner_id",
        sa.String(36),
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("nbytes", sa.BigInteger(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    # A named job that one process at a time may run (the scheduled repair pass): taken with a
    # conditional write, so it works the same on SQLite and PostgreSQL; a holder that dies
    # loses it when it expires.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False),
)


# --- objects SQLAlchemy cannot declare: SQLite's name index, and the tag-count triggers -------
# Created by ``create_all`` through the listeners below and by migration 0006 (a frozen copy of
# these statements; tests/metadata/test_migrations.py compares the two). Alembic's autogenerate
# does not see them: ``migrate.include_object`` hides the SQLite-only tables from it.

SEARCH_TABLES = ("image_names", "image_names_fts")
"""SQLite only: the name table and its FTS5 index (plus shadow tables ``image_names_fts_*``)."""

SEARCH_DDL = (
    # One row per image; ``seq`` is a real INTEGER PRIMARY KEY, so VACUUM cannot renumber the
    # rowids the FTS index refers to (the implicit rowid of ``images`` could be renumbered).
    "CREATE TABLE image_names (\n"
    "    seq INTEGER PRIMARY KEY,\n"
    "    image_id VARCHAR(36) NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,\n"
    "    owner_id VARCHAR(36) NOT NULL,\n"
    "    name VARCHAR(1024) NOT NULL\n"
    ")",
    # Trigrams of the (already case-folded) search name: any substring of 3+ characters is a
    # phrase query. case_sensitive 1: the text is folded by ``rules.search_key`` already.
    "CREATE VIRTUAL TABLE image_names_fts USING fts5(name, content='image_names', "
    "content_rowid='seq', tokenize='trigram case_sensitive 1')",
    "CREATE TRIGGER images_name_insert AFTER INSERT ON images BEGIN "
    "INSERT INTO image_names (image_id, owner_id, name) "
    "VALUES (new.id, new.owner_id, new.search_name); END",
    "CREATE TRIGGER images_name_update AFTER UPDATE OF search_name, owner_id ON images BEGIN "
    "UPDATE image_names SET name = new.search_name, owner_id = new.owner_id "
    "WHERE image_id = new.id; END",
    # Deleting an image deletes its image_names row (ON DELETE CASCADE), which fires this.
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
"""SQLite only. Note: a batch migration that copies ``images`` drops its triggers with it."""

SQLITE_TAG_COUNT_DDL = (
    "CREATE TRIGGER image_tags_count_insert AFTER INSERT ON image_tags BEGIN "
    "INSERT INTO tag_counts (owner_id, tag, image_count) VALUES (new.owner_id, new.tag, 1) "
    "ON CONFLICT (owner_id, tag) DO UPDATE SET image_count = image_count + 1; END",
    "CREATE TRIGGER image_tags_count_delete AFTER DELETE ON image_tags BEGIN "
    "UPDATE tag_counts SET image_count = image_count - 1 "
    "WHERE owner_id = old.owner_id AND tag = old.tag; "
    "DELETE FROM tag_counts "
    "WHERE owner_id = old.owner_id AND tag = old.tag AND image_count <= 0; END",
)

POSTGRESQL_TAG_COUNT_DDL = (
    # Statement-level, over the transition tables: an upload of 5,000 tagged rows is one
    # grouped upsert, not 5,000. ON CONFLICT stays correct when a concurrent delete removes
    # the row (PostgreSQL retries the insert).
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


def _create_after_tables(dialect: str, statements: tuple[str, ...]) -> None:
    """Run ``statements`` after ``create_all`` made every table (triggers name several)."""
    for statement in statements:
        ddl = sa.DDL(statement)  # type: ignore[no-untyped-call]  # SQLAlchemy leaves it bare
        sa.event.listen(metadata, "after_create", ddl.execute_if(dialect=dialect))


_create_after_tables("sqlite", SEARCH_DDL)
_create_after_tables("sqlite", SQLITE_TAG_COUNT_DDL)
_create_after_tables("postgresql", POSTGRESQL_TAG_COUNT_DDL)
