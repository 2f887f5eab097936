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
    # do (terms of 3+ characters). SQLite has no equivalent and scans the owner's rows.
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
