"""SQL implementations of the image ports (SQLite and PostgreSQL), on SQLAlchemy Core; the
account repos are in ``accounts``, and ``SqlDatabase`` puts all three over one engine.

Every method is one short transaction on its own pooled connection, so the repos are safe to
share between threads. Writes that must be atomic are single conditional statements or run in
one write transaction (``BEGIN IMMEDIATE`` on SQLite, see ``engine``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine, RowMapping

from pixvault.core import paging
from pixvault.core.errors import Conflict, NotFound
from pixvault.core.models import (
    AccessEntry,
    Image,
    ImageQuery,
    ImageStatus,
    Purpose,
)
from pixvault.core.ports import ImagePage, ImagePatch, ImageRepo, TokenRepo, UserRepo
from pixvault.metadata import rules, schema, search
from pixvault.metadata.accounts import SqlTokenRepo, SqlUserRepo, release_quota
from pixvault.metadata.engine import transaction
from pixvault.metadata.repair import SqlRepairRepo
from pixvault.metadata.schema import access_log, image_tags, images, users

_Row = RowMapping
# Aliases, because inside the repo class ``list`` names the method, not the builtin.
_AccessPage = tuple[list[AccessEntry], int]


def _image(row: _Row, tags: Iterable[str]) -> Image:
    return Image(
        id=row["id"],
        owner_id=row["owner_id"],
        storage_key=row["storage_key"],
        original_name=row["original_name"],
        content_type=row["content_type"],
        size=int(row["size"]),
        width=int(row["width"]),
        height=int(row["height"]),
        md5=row["md5"],
        sha256=row["sha256"],
        tags=tuple(tags),
        is_public=bool(row["is_public"]),
        status=ImageStatus(row["status"]),
        uploaded_at=row["uploaded_at"],
        upload_md5=row["upload_md5"],
        upload_sha256=row["upload_sha256"],
        taken_at=row["taken_at"],
        photo=rules.photo_from_json(row["photo_metadata"]),
        failure_reason=row["failure_reason"],
        placeholder=row["placeholder"],
    )


def _image_values(image: Image) -> dict[str, Any]:
    return {
        "id": image.id,
        "owner_id": image.owner_id,
        "storage_key": image.storage_key,
        "original_name": image.original_name,
        "search_name": rules.search_key(image.original_name),
        "content_type": image.content_type,
        "size": image.size,
        "width": image.width,
        "height": image.height,
        "md5": image.md5,
        "sha256": image.sha256,
        "is_public": image.is_public,
        "status": str(image.status),
        "uploaded_at": rules.utc(image.uploaded_at),
        "upload_md5": image.upload_md5,
        "upload_sha256": image.upload_sha256,
        "taken_at": rules.utc(image.taken_at) if image.taken_at else None,
        "photo_metadata": rules.photo_to_json(image.photo),
        "failure_reason": image.failure_reason,
        "placeholder": image.placeholder,
    }


def _tags_for(conn: Connection, image_ids: Sequence[str]) -> dict[str, list[str]]:
    """Tags of many images in one query, each list sorted."""
    found: dict[str, list[str]] = defaultdict(list)
    if image_ids:
        query = (
            sa.select(image_tags.c.image_id, image_tags.c.tag)
            .where(image_tags.c.image_id.in_(image_ids))
            .order_by(image_tags.c.image_id, image_tags.c.tag)
        )
        for image_id, tag in conn.execute(query):
            found[image_id].append(tag)
    return found


def _load(conn: Connection, where: sa.ColumnElement[bool]) -> Image | None:
    row = conn.execute(images.select().where(where)).mappings().first()
    if row is None:
        return None
    return _image(row, _tags_for(conn, [row["id"]])[row["id"]])


def _page_query(
    owner_id: str,
    key: sa.ColumnElement[str],
    where: Sequence[sa.ColumnElement[bool]],
    offset: int,
    fetch: int,
    total: int | None,
) -> sa.Select[Any]:
    """``fetch`` rows from ``offset`` in newest-first order, as cheaply as the position allows.

    The page's ids come first, from the ``(owner_id, id)`` index alone, then only those rows
    are read: skipping 100,000 index entries is cheap, skipping 100,000 rows is not. A page in
    the older half is counted from the other end (oldest first), so the last page of a big
    library costs what the first one does. ``total``: the exact number of matches, or None
    when it is not known (a filter's count stopped at its cap): then the offset is walked.
    ``key``: the image-id column ``where`` picks ids by (``images.id``, or a tag index's).
    """
    ordered = key.desc()
    if total is not None and total // 2 < offset < total:
        # Newest-first positions [offset, offset + fetch) are oldest-first positions
        # [total - offset - fetch, total - offset), clipped at 0.
        start = max(total - offset - fetch, 0)
        ordered, fetch, offset = key.asc(), total - offset - start, start
    ids = sa.select(key).where(*where).order_by(ordered).limit(fetch).offset(offset)
    return images.select().where(images.c.owner_id == owner_id, images.c.id.in_(ids))


def _newest_first(rows: Sequence[_Row]) -> list[_Row]:
    """The page's rows in gallery order, whichever end the query counted from."""
    return sorted(rows, key=lambda row: str(row["id"]), reverse=True)


def _count_images(conn: Connection, owner_id: str, change: int) -> None:
    """Keep ``users.image_count`` in the transaction that adds or removes the rows."""
    conn.execute(_COUNT, {"owner": owner_id, "change": change})


# Built once (issue 10: building it per upload cost more Python time than running it).
_CHANGE = sa.bindparam("change", type_=sa.Integer)
_COUNT = (
    users.update()
    .where(users.c.id == sa.bindparam("owner"))
    .values(
        image_count=sa.case(
            (users.c.image_count + _CHANGE > 0, users.c.image_count + _CHANGE), else_=0
        )
    )
)
_END_RESERVATION = schema.quota_reservations.delete().where(
    schema.quota_reservations.c.id == sa.bindparam("reservation")
)


def _insert_tags(conn: Connection, image_id: str, owner_id: str, tags: Iterable[str]) -> None:
    rows = [{"image_id": image_id, "owner_id": owner_id, "tag": t} for t in tags]
    if rows:
        conn.execute(image_tags.insert(), rows)


class SqlImageRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_many(self, images: Sequence[Image], *, reservation: str | None = None) -> None:
        rows = [_image_values(image) for image in images]
        tag_rows = [
            {"image_id": image.id, "owner_id": image.owner_id, "tag": tag}
            for image in images
            for tag in rules.normalize_tags(image.tags)
        ]
        if not rows:
            return
        try:
            with transaction(self._engine, write=True) as conn:
                if reservation is not None:
                    # The bytes stop being "in flight" as the rows that charge them appear.
                    gone = conn.execute(_END_RESERVATION, {"reservation": reservation}).rowcount
                    if gone != 1:  # a repair pass judged the upload dead and refunded it
                        raise Conflict("The upload took too long; try again")
                conn.execute(schema.images.insert(), rows)
                if tag_rows:
                    conn.execute(image_tags.insert(), tag_rows)
                for owner_id, added in Counter(image.owner_id for image in images).items():
                    _count_images(conn, owner_id, added)
        except exc.IntegrityError as error:
            raise Conflict("Image already exists or owner is missing") from error

    def get(self, owner_id: str, image_id: str) -> Image | None:
        with transaction(self._engine) as conn:
            return _load(conn, sa.and_(images.c.id == image_id, images.c.owner_id == owner_id))

    def get_by_key(self, storage_key: str) -> Image | None:
        with transaction(self._engine) as conn:
            return _load(conn, images.c.storage_key == storage_key)

    def list(self, owner_id: str, query: ImageQuery) -> ImagePage:
        offset = rules.check_page(query.page, query.limit)
        filters = search.Filter(self._engine.dialect.name, owner_id, query.tags, query.search)
        # A counter where one is kept, else a count that stops past the cap (see search).
        count, counted = filters.total_query()
        fetch = query.limit + (1 if query.peek else 0)
        with transaction(self._engine) as conn:
            total = int(conn.execute(count).scalar() or 0)
            filtered = bool(query.tags or query.search)
            exact = counted or paging.total_is_exact(total, filtered=filtered)
            position = filters.where(total)
            if query.after_id is not None:
                position.append(filters.key < query.after_id)
                offset = 0
            known = total if exact else None
            page = _page_query(owner_id, filters.key, position, offset, fetch, known)
            rows = conn.execute(page).mappings().all()
            tags = _tags_for(conn, [row["id"] for row in rows])
        found = [_image(row, tags[row["id"]]) for row in _newest_first(rows)]
        return ImagePage(found, total, exact)

    def update(self, owner_id: str, image_id: str, patch: ImagePatch) -> Image | None:
        mine = sa.and_(images.c.id == image_id, images.c.owner_id == owner_id)
        with transaction(self._engine, write=True) as conn:
            exists = conn.execute(sa.select(images.c.id).where(mine)).first()
            if exists is None:
                return None
            if patch.is_public is not None:
                conn.execute(images.update().where(mine).values(is_public=patch.is_public))
            if patch.tags is not None:
                conn.execute(image_tags.delete().where(image_tags.c.image_id == image_id))
                _insert_tags(conn, image_id, owner_id, rules.normalize_tags(patch.tags))
            return _load(conn, mine)

    def delete_and_refund(self, owner_id: str, image_id: str) -> Image | None:
        mine = sa.and_(images.c.id == image_id, images.c.owner_id == owner_id)
        with transaction(self._engine, write=True) as conn:
            image = _load(conn, mine)
            # The DELETE decides who wins: a concurrent delete already committed leaves 0 rows.
            if image is None or conn.execute(images.delete().where(mine)).rowcount != 1:
                return None
            release_quota(conn, owner_id, image.size)
            _count_images(conn, owner_id, -1)
        return image

    def set_placeholder(self, image_id: str, placeholder: str) -> None:
        with transaction(self._engine, write=True) as conn:
            conn.execute(
                images.update().where(images.c.id == image_id).values(placeholder=placeholder)
            )

    def mark_failed(self, image_id: str, reason: str) -> None:
        with transaction(self._engine, write=True) as conn:
            conn.execute(
                images.update()
                .where(images.c.id == image_id)
                .values(status=str(ImageStatus.FAILED), failure_reason=reason)
            )

    def add_access(self, entry: AccessEntry) -> None:
        values = {
            "image_id": entry.image_id,
            "accessed_at": rules.utc(entry.accessed_at),
            "purpose": str(entry.purpose),
            "ip": entry.ip,
        }
        try:
            with transaction(self._engine, write=True) as conn:
                conn.execute(access_log.insert().values(**values))
        except exc.IntegrityError as error:
            raise NotFound("Image not found") from error

    def list_access(self, image_id: str, page: int, limit: int) -> _AccessPage:
        offset = rules.check_page(page, limit)
        mine = access_log.c.image_id == image_id
        count = sa.select(sa.func.count()).select_from(access_log).where(mine)
        rows_query = (
            access_log.select().where(mine).order_by(access_log.c.id.desc()).limit(limit)
        ).offset(offset)
        with transaction(self._engine) as conn:
            total = int(conn.execute(count).scalar_one())
            rows = conn.execute(rows_query).mappings().all()
        entries = [
            AccessEntry(
                image_id=row["image_id"],
                accessed_at=row["accessed_at"],
                purpose=Purpose(row["purpose"]),
                ip=row["ip"],
            )
            for row in rows
        ]
        return entries, total

    def ping(self) -> None:
        _ping(self._engine)


def _ping(engine: Engine) -> None:
    with transaction(engine) as conn:
        conn.execute(sa.text("SELECT 1"))


class SqlDatabase:
    """The SQL repos over one engine (users, tokens, images, and the repair pass's), plus a
    health check."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.user_repo = SqlUserRepo(engine)
        self.token_repo = SqlTokenRepo(engine)
        self.image_repo = SqlImageRepo(engine)
        self.repair_repo = SqlRepairRepo(engine)

    def ping(self) -> None:
        """Raise ``Unavailable`` unless the database answers ``SELECT 1``."""
        _ping(self.engine)

    def close(self) -> None:
        """Close pooled connections (at shutdown, or before deleting an SQLite file)."""
        self.engine.dispose()


if TYPE_CHECKING:

    def _conforms(engine: Engine) -> tuple[UserRepo, TokenRepo, ImageRepo]:
        """Lets mypy prove the repos satisfy the ports."""
        return SqlUserRepo(engine), SqlTokenRepo(engine), SqlImageRepo(engine)
