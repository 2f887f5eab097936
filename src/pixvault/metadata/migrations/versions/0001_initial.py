"""Initial schema: users, tokens, images, image_tags, access_log.

Hand-written and portable (SQLite and PostgreSQL). It deliberately does not import the app's
schema module: a migration is a frozen snapshot, the models may move on. Constraint names
follow the naming convention in ``pixvault.metadata.schema``, spelled out in full and wrapped
in ``op.f`` so Alembic does not apply the convention to them a second time.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("quota_used", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("quota_limit", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.CheckConstraint("quota_used >= 0", name=op.f("ck_users_quota_used_nonnegative")),
    )
    op.create_table(
        "tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_tokens")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_tokens_user_id_users"), ondelete="CASCADE"
        ),
    )
    op.create_index(op.f("ix_tokens_user_id"), "tokens", ["user_id"])
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
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
        _ts("uploaded_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_images_storage_key")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_images_owner_id_users"), ondelete="CASCADE"
        ),
    )
    op.create_index(op.f("ix_images_owner_id_id"), "images", ["owner_id", "id"])
    op.create_table(
        "image_tags",
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("image_id", "tag", name=op.f("pk_image_tags")),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_tags_image_id_images"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_image_tags_owner_id_tag_image_id"), "image_tags", ["owner_id", "tag", "image_id"]
    )
    op.create_table(
        "access_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column("image_id", sa.String(36), nullable=False),
        _ts("accessed_at"),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log")),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_access_log_image_id_images"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_access_log_image_id_id"), "access_log", ["image_id", "id"])


def downgrade() -> None:
    op.drop_table("access_log")
    op.drop_table("image_tags")
    op.drop_table("images")
    op.drop_table("tokens")
    op.drop_table("users")
