"""The durability invariants (issue 9), checked from outside a server on either stack.

1. every upload that got a 2xx reads back byte-identical;
2. no committed row lacks its bytes (unless it is marked ``missing``);
3. after a repair pass, no bytes (originals or derivatives) lack a row;
4. each user's ``used`` equals the sum of their originals' sizes plus live reservations;
5. no 200 carries truncated or mixed bytes (here: what is read back hashes as recorded);
6. the spool is empty when the system is quiet.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from pixvault.container import Container
from pixvault.core import keys
from pixvault.core.models import ImageStatus
from pixvault.metadata.schema import images, quota_reservations, users


def check(container: Container, acknowledged: Mapping[str, str], *, repaired: bool) -> None:
    """``acknowledged``: image id → sha256 of every upload that got a 2xx. ``repaired``: a
    repair pass with no grace period has just run (so invariant 3 holds strictly)."""
    blobs = container.blobs
    with container.database.engine.connect() as conn:
        rows = conn.execute(
            sa.select(images.c.id, images.c.storage_key, images.c.sha256, images.c.status)
        ).all()
        sizes = dict(
            conn.execute(
                sa.select(images.c.owner_id, sa.func.sum(images.c.size)).group_by(images.c.owner_id)
            ).all()
        )
        held = dict(
            conn.execute(
                sa.select(quota_reservations.c.owner_id, sa.func.sum(quota_reservations.c.nbytes))
                .where(quota_reservations.c.created_at > datetime.now(UTC) - timedelta(hours=1))
                .group_by(quota_reservations.c.owner_id)
            ).all()
        )
        used = dict(conn.execute(sa.select(users.c.id, users.c.quota_used)).all())
    by_id = {r.id: r for r in rows}
    for image_id, sha in acknowledged.items():  # 1 and 5
        row = by_id.get(image_id)
        assert row is not None, f"acknowledged upload {image_id} has no row"
        assert row.sha256 == sha, f"upload {image_id} was stored with other bytes"
        with tempfile.TemporaryDirectory() as tmp:
            got = Path(tmp, "original")
            blobs.download_to(row.storage_key, got)
            assert hashlib.sha256(got.read_bytes()).hexdigest() == sha
    for row in rows:  # 2
        if row.status != ImageStatus.MISSING:
            assert blobs.exists(row.storage_key), f"row {row.id} lacks its bytes"
    if repaired:  # 3
        for key in blobs.iter_keys():
            original = keys.parse_storage_key(key)
            derived = keys.parse_derived_key(key)
            found = original or (derived[:2] if derived else None)
            assert found is not None and found[1] in by_id, f"{key} has no row after repair"
    for user_id, value in used.items():  # 4
        expected = int(sizes.get(user_id) or 0) + int(held.get(user_id) or 0)
        assert value == expected, f"user {user_id}: used {value}, stored {expected}"
    spool = container.settings.spool_dir  # 6
    leftovers = sorted(p.name for p in spool.iterdir()) if spool.is_dir() else []
    assert leftovers == [], f"the spool is not empty: {leftovers}"
