"""Peak memory (and time) of ``pixvault fsck`` over a large local store.

A temporary embedded stack gets one user, ``KEYS`` blob files (empty: the pass never reads
bytes) of which half have an image row and half are orphans a day old, written straight to
disk and SQLite (not through uploads). ``pixvault fsck --older-than 1h --json`` then runs as
a subprocess (list mode: it finds every orphan but deletes none); its peak RSS is read from the
kernel (``ru_maxrss`` of the child) and compared with the same command on an empty store, and
with what merely holding every key in a Python set would cost (what a pass that loaded the key
listing first would need at least).

``python -m bench.fsck [KEYS]`` (default 1,000,000; ~4 minutes here, most of it making the
files and rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from pixvault.core import keys
from pixvault.metadata.migrate import upgrade
from pixvault.metadata.schema import images, users

KEYS = 1_000_000
ROW_BATCH = 20_000


def _old_id(when: datetime, n: int) -> str:
    """A UUIDv7 made at ``when`` (the repair pass reads an orphan's age from its id)."""
    value = (int(when.timestamp() * 1000) << 80) | (0x7 << 76) | (0b10 << 62) | n
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _populate(data: Path, count: int) -> None:
    upgrade(f"sqlite:///{data / 'pixvault.sqlite3'}")
    engine = sa.create_engine(f"sqlite:///{data / 'pixvault.sqlite3'}")
    owner = keys.new_id()
    now = datetime.now(UTC)
    folder = data / "blobs" / owner
    folder.mkdir(parents=True)
    with engine.begin() as conn:
        conn.execute(
            users.insert().values(
                id=owner,
                email="bench@example.com",
                password_hash="x",
                is_admin=True,
                quota_used=0,
                quota_limit=1 << 40,
                created_at=now,
            )
        )
    day_ago = now - timedelta(days=1)
    rows: list[dict[str, object]] = []
    for n in range(count):
        image_id = _old_id(day_ago, n)
        key = keys.storage_key(owner, image_id, "jpg")
        os.close(os.open(folder / f"{image_id}.jpg", os.O_CREAT | os.O_WRONLY, 0o600))
        if n % 2 == 0:  # every other file has its row; the rest are orphans
            rows.append(_row(image_id, owner, key, day_ago))
        if len(rows) == ROW_BATCH or (n == count - 1 and rows):
            with engine.begin() as conn:
                conn.execute(images.insert(), rows)
            rows.clear()
    engine.dispose()


def _row(image_id: str, owner: str, key: str, when: datetime) -> dict[str, object]:
    return {
        "id": image_id,
        "owner_id": owner,
        "storage_key": key,
        "original_name": "a.jpg",
        "search_name": "a.jpg",
        "content_type": "image/jpeg",
        "size": 0,
        "width": 1,
        "height": 1,
        "md5": "0" * 32,
        "sha256": "0" * 64,
        "is_public": False,
        "status": "ready",
        "uploaded_at": when,
    }


def _fsck(data: Path) -> tuple[float, float, dict[str, object]]:
    """(seconds, peak RSS in MiB, report) of one ``pixvault fsck`` run on ``data``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVAULT_")}
    env.update(
        PIXVAULT_DATA_DIR=str(data),
        PIXVAULT_SECRET_KEY="bench-fsck-secret-" + "z" * 32,
        PIXVAULT_BACKGROUND_DERIVATIVES="false",  # no thumbnails expected: keys and rows only
    )
    out = data / "fsck.json"
    start = time.monotonic()
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pixvault", "fsck", "--older-than", "1h", "--json"],
            env=env,
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )
        # wait4: this child's own peak RSS, as the kernel counted it.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - start
    if proc.returncode == 2:
        raise RuntimeError("pixvault fsck failed")
    report: dict[str, object] = json.loads(out.read_text())
    return seconds, usage.ru_maxrss / 1024, report


def _key_set_mib(count: int) -> float:
    owner = keys.new_id()
    tracemalloc.start()
    held = {keys.storage_key(owner, keys.new_id(), "jpg") for _ in range(count)}
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(held) == count
    return size / 2**20


def main(count: int = KEYS) -> None:
    with tempfile.TemporaryDirectory(prefix="pixvault-fsck-") as tmp:
        empty, big = Path(tmp, "empty"), Path(tmp, "big")
        empty.mkdir()
        big.mkdir()
        _populate(empty, 0)
        empty_s, empty_mib, _ = _fsck(empty)
        start = time.monotonic()
        _populate(big, count)
        made_s = time.monotonic() - start
        big_s, big_mib, report = _fsck(big)
    orphans = report["orphan originals"]
    assert isinstance(orphans, dict)
    assert orphans["found"] == count - (count + 1) // 2
    set_mib = _key_set_mib(count)
    print(f"fsck over a local store ({count:,} keys, half orphans; made in {made_s:.0f} s)")
    print(f"{'':32} {'seconds':>8} {'peak RSS MiB':>13}")
    print(f"{'empty store':32} {empty_s:8.1f} {empty_mib:13.1f}")
    print(f"{f'{count:,} keys, {count // 2:,} rows':32} {big_s:8.1f} {big_mib:13.1f}")
    print(
        f"growth {big_mib - empty_mib:.1f} MiB over the empty store's "
        f"(ratio {big_mib / empty_mib:.2f}); holding the {count:,} keys in a set alone: "
        f"{set_mib:.0f} MiB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else KEYS)
