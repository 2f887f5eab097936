"""A full disk is a 507 ``insufficient_storage`` and leaves nothing half-written.

Real small filesystems (a 4 MiB tmpfs, mounted for the test; a skip where mounting is not
allowed): the data folder (database, blobs and spool together, the default layout) filling up
while an upload body streams into the spool, and a separate blob store filling up in the middle
of a multi-file upload. Also: a read-only blob store is a 503 (not writable is not full).
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from pixvault.core.errors import InsufficientStorage, Unavailable
from pixvault.metadata.engine import translate_errors
from tests.conftest import Api, build_api
from tests.imagegen import make_image
from tests.outages.support import (
    MIB,
    assert_consistent,
    assert_outage_answer,
    files_under,
    noise_png,
    set_read_only,
    tmpfs,
)

DISK = 4 * MIB


def _small(api: Api, h: dict[str, str], name: str = "s.png") -> int:
    r = api.upload(h, (name, make_image("PNG", (16, 16))))
    assert r.status_code == 200, r.text
    return int(r.json()["images"][0]["size"])


@pytest.fixture
def full_data_dir(tmp_path: Path) -> Iterator[Api]:
    """An app whose whole data folder is a 4 MiB filesystem."""
    with tmpfs(tmp_path / "disk", DISK) as disk:
        gen = build_api(disk, background_derivatives=False)
        yield next(gen)
        for _ in gen:
            pass


@pytest.fixture
def full_blob_store(tmp_path: Path) -> Iterator[tuple[Api, Path]]:
    """An app whose blob store (only) is a 4 MiB filesystem."""
    with tmpfs(tmp_path / "blobs", DISK) as blobs:
        gen = build_api(
            tmp_path / "data", storage_url=f"file://{blobs}", background_derivatives=False
        )
        yield next(gen), blobs
        for _ in gen:
            pass


def test_spool_filling_up_while_the_body_streams_in(full_data_dir: Api) -> None:
    api = full_data_dir
    h = api.signup()
    _small(api, h)
    before = api.state(h)
    blobs_before = files_under(api.settings.blob_root)
    used = shutil.disk_usage(api.settings.data_dir).used

    r = api.upload(h, ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(6 * MIB)))  # 6 MiB > 4 MiB disk
    assert_outage_answer(r, 507, "insufficient_storage")
    assert "retry-after" not in r.headers  # a full disk does not clear itself in seconds

    assert api.state(h) == before  # no row, same quota, empty spool
    assert files_under(api.settings.blob_root) == blobs_before
    # Every block written before the disk filled was given back (the database may have grown).
    assert shutil.disk_usage(api.settings.data_dir).used <= used + 256 * 1024
    _small(api, h, "after.png")  # the disk has room again: uploads work
    assert_consistent(api)


def test_blob_store_filling_up_in_the_middle_of_a_put(full_blob_store: tuple[Api, Path]) -> None:
    api, blobs = full_blob_store
    h = api.signup()
    first = noise_png(int(1.5 * MIB))
    assert api.upload(h, ("a.png", first)).status_code == 200
    before = api.state(h)
    kept = files_under(blobs)
    assert len(kept) == 1

    # b fits, c does not: the store fills while c is copied in (the spool is on another
    # filesystem, so the put copies), and the whole upload is undone, b included.
    r = api.upload(h, ("b.png", noise_png(int(1.5 * MIB))), ("c.png", noise_png(int(1.5 * MIB))))
    assert_outage_answer(r, 507, "insufficient_storage")
    assert "full" in r.json()["error"]

    assert api.state(h) == before
    assert files_under(blobs) == kept  # no half-copied temp file, no b
    _small(api, h, "after.png")
    assert_consistent(api)


def test_read_only_blob_store_is_503_not_507(full_blob_store: tuple[Api, Path]) -> None:
    api, blobs = full_blob_store
    h = api.signup()
    _small(api, h)
    before = api.state(h)
    set_read_only(blobs, True)
    try:
        r = api.upload(h, ("b.png", make_image("PNG", (16, 16))))
        assert_outage_answer(r)
        assert api.client.get("/readyz").status_code == 503
    finally:
        set_read_only(blobs, False)
    assert api.state(h) == before
    _small(api, h, "after.png")
    assert_consistent(api)


def test_other_file_errors_stay_500(local_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    h = local_api.signup()
    monkeypatch.setattr(local_api.container.images, "list", broken)
    r = local_api.client.get("/api/images/user", headers=h)
    assert r.status_code == 500
    assert r.json() == {"error": "Internal server error", "code": "internal"}


def _sqlite_full() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database or disk is full")
    error.sqlite_errorcode = sqlite3.SQLITE_FULL
    return error


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (_sqlite_full(), InsufficientStorage),
        (psycopg.errors.DiskFull("could not extend file"), InsufficientStorage),
        (sqlite3.OperationalError("database is locked"), Unavailable),
    ],
    ids=["sqlite-full", "postgresql-disk-full", "sqlite-locked"],
)
def test_a_database_on_a_full_disk_is_insufficient_storage(
    orig: Exception, expected: type[Unavailable]
) -> None:
    with pytest.raises(expected) as caught, translate_errors():
        raise sa.exc.OperationalError("INSERT ...", {}, orig)
    assert type(caught.value) is expected
