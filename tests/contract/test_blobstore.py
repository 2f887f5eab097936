"""One contract for every BlobStore adapter (SeaweedFS joins with the S3 adapter)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pixvault.core import keys
from pixvault.core.ports import BlobStore
from pixvault.storage.local import LocalBlobStore
from pixvault.storage.memory import MemoryBlobStore


@pytest.fixture(params=["memory", "local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "memory":
        yield MemoryBlobStore()
    elif request.param == "local":
        yield LocalBlobStore(tmp_path / "blobs", b"secret")
    else:
        # The real SeaweedFS server of this session; a unique prefix keeps each test's keys apart.
        yield request.getfixturevalue("s3_store")


def _key(ext: str = "png") -> str:
    return keys.storage_key(keys.new_id(), keys.new_id(), ext)


def test_put_exists_iter_delete(store: BlobStore) -> None:
    k1, k2 = _key(), _key("jpg")
    store.put(k1, io.BytesIO(b"one"), size=3, content_type="image/png")
    store.put(k2, io.BytesIO(b"two!"), size=4, content_type="image/jpeg")
    assert store.exists(k1) and store.exists(k2)
    assert sorted(store.iter_keys()) == sorted([k1, k2])
    assert list(store.iter_keys(k1.split("/")[0])) == [k1]
    store.delete(k1)
    store.delete(k1)  # idempotent
    assert not store.exists(k1)
    assert list(store.iter_keys()) == [k2]


def test_short_source_is_refused_and_leaves_nothing(store: BlobStore) -> None:
    k = _key()
    with pytest.raises(OSError, match="expected 10 bytes"):
        store.put(k, io.BytesIO(b"abc"), size=10, content_type="image/png")
    assert not store.exists(k)
    assert list(store.iter_keys()) == []


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "/abs/x.png", "a/b.png", "", "x/../../y.png", "u/../v.png"]
)
def test_keys_not_made_by_the_core_are_refused(store: BlobStore, bad: str) -> None:
    with pytest.raises(ValueError, match="refusing"):
        store.put(bad, io.BytesIO(b"x"), size=1, content_type="image/png")


def test_presign_is_pure_and_varies_with_inputs(store: BlobStore) -> None:
    k = _key()
    exp = datetime.now(UTC) + timedelta(hours=1)
    a = store.presign(
        k, expires_at=exp, content_type="image/png", disposition="inline", filename="a"
    )
    b = store.presign(
        k, expires_at=exp, content_type="image/png", disposition="inline", filename="a"
    )
    c = store.presign(
        k, expires_at=exp, content_type="image/png", disposition="attachment", filename="a"
    )
    assert a == b and a != c


def test_ping(store: BlobStore) -> None:
    store.ping()


def test_local_put_replaces_atomically_and_leaves_no_temp(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs", b"s")
    k = _key()
    store.put(k, io.BytesIO(b"first"), size=5, content_type="image/png")
    store.put(k, io.BytesIO(b"second"), size=6, content_type="image/png")
    path = store.local_path(k)
    assert path is not None and path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert path.resolve().is_relative_to((tmp_path / "blobs").resolve())
