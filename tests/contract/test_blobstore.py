"""One contract for every BlobStore adapter: memory (the core tests' double), disk, SeaweedFS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pixvault.core import keys
from pixvault.core.ports import BlobStore
from pixvault.storage.local import LocalBlobStore
from tests.doubles.blobstore import MemoryBlobStore


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


def _file(tmp_path: Path, data: bytes) -> Path:
    """A spooled upload as the web layer hands it over: a closed file of its own."""
    path = tmp_path / f"upload-{keys.new_id()}"
    path.write_bytes(data)
    return path


def test_put_exists_iter_delete(store: BlobStore, tmp_path: Path) -> None:
    k1, k2 = _key(), _key("jpg")
    store.put(k1, _file(tmp_path, b"one"), size=3, content_type="image/png")
    store.put(k2, _file(tmp_path, b"two!"), size=4, content_type="image/jpeg")
    assert store.exists(k1) and store.exists(k2)
    assert sorted(store.iter_keys()) == sorted([k1, k2])
    assert list(store.iter_keys(k1.split("/")[0])) == [k1]
    store.delete(k1)
    store.delete(k1)  # idempotent
    assert not store.exists(k1)
    assert list(store.iter_keys()) == [k2]


@pytest.mark.parametrize("size", [10, 2])
def test_wrong_size_is_refused_and_leaves_nothing(
    store: BlobStore, tmp_path: Path, size: int
) -> None:
    k = _key()
    src = _file(tmp_path, b"abc")
    with pytest.raises(OSError, match=f"expected {size} bytes"):
        store.put(k, src, size=size, content_type="image/png")
    assert not store.exists(k)
    assert list(store.iter_keys()) == []
    assert src.read_bytes() == b"abc"  # a refused put does not consume the caller's file


def test_put_may_consume_the_source_but_never_changes_it(store: BlobStore, tmp_path: Path) -> None:
    """The port's promise to ImageService: the file is moved or left as it was, nothing else."""
    k = _key()
    src = _file(tmp_path, b"payload")
    store.put(k, src, size=7, content_type="image/png")
    assert store.exists(k)
    assert not src.exists() or src.read_bytes() == b"payload"
    src.unlink(missing_ok=True)  # what the web layer's discard() does


@pytest.mark.parametrize(
    "bad", ["../etc/passwd", "/abs/x.png", "a/b.png", "", "x/../../y.png", "u/../v.png"]
)
def test_keys_not_made_by_the_core_are_refused(store: BlobStore, tmp_path: Path, bad: str) -> None:
    src = _file(tmp_path, b"x")
    with pytest.raises(ValueError, match="refusing"):
        store.put(bad, src, size=1, content_type="image/png")
    assert src.read_bytes() == b"x"


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
    store.put(k, _file(tmp_path, b"first"), size=5, content_type="image/png")
    store.put(k, _file(tmp_path, b"second"), size=6, content_type="image/png")
    path = store.local_path(k)
    assert path is not None and path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    assert path.resolve().is_relative_to((tmp_path / "blobs").resolve())
