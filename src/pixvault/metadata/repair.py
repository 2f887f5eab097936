"""The SQL side of the repair pass (``core.repair.ports.RepairRepo``): keyset batches, a quota
check that locks the user's row, and leases for scheduled jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection, Engine

from pixvault.core.models import ImageStatus
from pixvault.core.repair.ports import QuotaCheck, RepairRepo, RowRef
from pixvault.metadata import search
from pixvault.metadata.engine import transaction
from pixvault.metadata.schema import (
    image_tags,
    images,
    leases,
    quota_reservations,
    tag_counts,
    users,
)

_SERVED = (str(ImageStatus.READY), str(ImageStatus.FAILED), str(ImageStatus.PENDING))


class SqlRepairRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def rows_after(self, after_id: str | None, limit: int, owner_id: str | None) -> list[RowRef]:
        query = sa.select(images.c.id, images.c.owner_id, images.c.storage_key, images.c.status)
        if after_id is not None:
            query = query.where(images.c.id > after_id)
        if owner_id is not None:  # (owner_id, id) is an index: one range per batch
            query = query.where(images.c.owner_id == owner_id)
        query = query.order_by(images.c.id).limit(limit)
        with transaction(self._engine) as conn:
            return [
                RowRef(r.id, r.owner_id, r.storage_key, ImageStatus(r.status))
                for r in conn.execute(query)
            ]

    def keys_of(self, image_ids: Sequence[str]) -> dict[str, str]:
        if not image_ids:
            return {}
        query = sa.select(images.c.id, images.c.storage_key).where(images.c.id.in_(image_ids))
        with transaction(self._engine) as conn:
            return {r.id: r.storage_key for r in conn.execute(query)}

    def set_missing(self, image_id: str, missing: bool, reason: str) -> None:
        row = images.c
        if missing:
            query = (
                images.update()
                .where(row.id == image_id, row.status.in_(_SERVED))
                .values(status=str(ImageStatus.MISSING), failure_reason=reason)
            )
        else:  # found again (restored from a backup): as it was, and rendered on demand
            query = (
                images.update()
                .where(row.id == image_id, row.status == str(ImageStatus.MISSING))
                .values(status=str(ImageStatus.READY), failure_reason=None)
            )
        with transaction(self._engine, write=True) as conn:
            conn.execute(query)

    def users_after(self, after_id: str | None, limit: int) -> list[str]:
        query = sa.select(users.c.id)
        if after_id is not None:
            query = query.where(users.c.id > after_id)
        with transaction(self._engine) as conn:
            return list(conn.scalars(query.order_by(users.c.id).limit(limit)))

    def check_quota(self, user_id: str, cutoff: datetime, *, repair: bool) -> QuotaCheck:
        held = quota_reservations.c
        mine = users.c.id == user_id
        with transaction(self._engine, write=repair) as conn:
            # First the user's row lock: a reserve or a refund (each an UPDATE of this row in
            # the transaction that adds or removes its reservation) waits for us, or we for it.
            # Then ONE statement reads the counter and every sum: one snapshot, in which a
            # rows-insert (reservation out, image rows in, one transaction) is whole either way.
            # (On SQLite a transaction reads one snapshot and writes exclusively anyway.)
            if conn.scalar(sa.select(users.c.id).where(mine).with_for_update()) is None:
                return QuotaCheck(user_id, 0, 0, 0)

            def total(
                column: sa.ColumnElement[int], *where: sa.ColumnElement[bool]
            ) -> sa.ScalarSelect[int]:
                return (
                    sa.select(sa.func.coalesce(sa.func.sum(column), 0))
                    .where(*where)
                    .scalar_subquery()
                )

            found = conn.execute(
                sa.select(
                    users.c.quota_used,
                    users.c.image_count,
                    sa.select(sa.func.count())
                    .where(images.c.owner_id == user_id)
                    .scalar_subquery(),
                    total(images.c.size, images.c.owner_id == user_id),
                    total(held.nbytes, held.owner_id == user_id, held.created_at >= cutoff),
                    sa.select(sa.func.count())
                    .where(held.owner_id == user_id, held.created_at < cutoff)
                    .scalar_subquery(),
                ).where(mine)
            ).one()
            used, counted, rows, stored, in_flight, stale = (int(v or 0) for v in found)
            expected = stored + in_flight
            tags_wrong = _check_tag_counts(conn, user_id, repair=repair)
            if repair:
                if counted != rows:
                    conn.execute(users.update().where(mine).values(image_count=rows))
                conn.execute(
                    quota_reservations.delete().where(
                        held.owner_id == user_id, held.created_at < cutoff
                    )
                )
                if expected != used:
                    conn.execute(users.update().where(mine).values(quota_used=expected))
        return QuotaCheck(user_id, used, expected, stale, counted, rows, tags_wrong)

    def check_search_index(self, *, repair: bool) -> int:
        if self._engine.dialect.name != "sqlite":
            return 0  # PostgreSQL's trigram index is an index: it cannot drift
        with transaction(self._engine, write=repair) as conn:
            return search.check_sqlite_index(conn, repair=repair)

    def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        c = leases.c
        with transaction(self._engine, write=True) as conn:
            taken = conn.execute(
                leases.update()
                .where(c.name == name, sa.or_(c.expires_at <= now, c.holder == holder))
                .values(holder=holder, expires_at=until)
            ).rowcount
            if taken:
                return True
            if conn.scalar(sa.select(c.holder).where(c.name == name)) is not None:
                return False
        try:  # the first time this lease is ever taken: whoever inserts first has it
            with transaction(self._engine, write=True) as conn:
                conn.execute(leases.insert().values(name=name, holder=holder, expires_at=until))
        except exc.IntegrityError:
            return False
        return True

    def drop_lease(self, name: str, holder: str) -> None:
        with transaction(self._engine, write=True) as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))


def _check_tag_counts(conn: Connection, user_id: str, *, repair: bool) -> int:
    """How many of the user's per-tag counters disagree with their tagged rows; with
    ``repair``, set them to the truth (in the caller's transaction, under the user's lock)."""
    truth: dict[str, int] = dict(
        conn.execute(
            sa.select(image_tags.c.tag, sa.func.count())
            .where(image_tags.c.owner_id == user_id)
            .group_by(image_tags.c.tag)
        ).all()
    )
    mine = tag_counts.c.owner_id == user_id
    kept: dict[str, int] = dict(
        conn.execute(sa.select(tag_counts.c.tag, tag_counts.c.image_count).where(mine)).all()
    )
    wrong = {tag for tag in truth.keys() | kept.keys() if truth.get(tag) != kept.get(tag)}
    if repair and wrong:
        conn.execute(tag_counts.delete().where(mine, tag_counts.c.tag.in_(wrong)))
        rows = [
            {"owner_id": user_id, "tag": tag, "image_count": truth[tag]}
            for tag in wrong
            if tag in truth
        ]
        if rows:
            conn.execute(tag_counts.insert(), rows)
    return len(wrong)


if TYPE_CHECKING:

    def _conforms(engine: Engine) -> RepairRepo:
        return SqlRepairRepo(engine)
