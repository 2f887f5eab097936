"""The local store moves a spooled upload into place (same inode, no copy), copies it only
across filesystems, and orders fsyncs so that neither a reader nor a power cut sees a torn or
vanished blob."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pixvault.core import keys
from pixvault.storage.local import LocalBlobStore


def _key() -> str:
    return keys.storage_key(keys.new_id(), keys.new_id(), "png")


def _spooled(directory: Path, data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)  # like core.spool.Spool
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def _other_filesystem(than: Path) -> Path | None:
    """A writable folder on another filesystem than ``than`` (tmpfs /dev/shm), if any."""
    for candidate in (Path("/dev/shm"), Path(tempfile.gettempdir())):
        try:
            if candidate.is_dir() and candidate.stat().st_dev != than.stat().st_dev:
                return Path(tempfile.mkdtemp(dir=candidate, prefix="pixvault-test-"))
        except OSError:
            continue
    return None


def test_put_moves_the_file_on_the_same_filesystem(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs", b"s")
    src = _spooled(tmp_path, b"moved, not copied")
    inode = src.stat().st_ino
    key = _key()
    store.put(key, src, size=17, content_type="image/png")
    stored = store.local_path(key)
    assert stored is not None and stored.read_bytes() == b"moved, not copied"
    assert stored.stat().st_ino == inode  # the same file: no second copy of the bytes
    assert not src.exists()
    assert stored.stat().st_mode & 0o777 == 0o600  # as private as the spool file was


def test_put_copies_across_filesystems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real second filesystem when the machine has one; else a rename that fails with EXDEV
    (what the kernel answers) stands in for it."""
    store = LocalBlobStore(tmp_path / "blobs", b"s")
    elsewhere = _other_filesystem(tmp_path)
    if elsewhere is None:
        real_replace = os.replace

        def cross_device(src: str | Path, dst: str | Path) -> None:
            if Path(src).name.startswith("upload-"):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", cross_device)
        elsewhere = tmp_path
    try:
        data = os.urandom(3 * 1024 * 1024 + 7)  # several copy chunks
        src = _spooled(elsewhere, data)
        inode = src.stat().st_ino
        key = _key()
        store.put(key, src, size=len(data), content_type="image/png")
        stored = store.local_path(key)
        assert stored is not None and stored.read_bytes() == data
        assert stored.stat().st_ino != inode
        assert src.read_bytes() == data  # left for the caller to delete
        assert list(store.iter_keys()) == [key]  # no temp file left behind
        assert [p.name for p in stored.parent.iterdir()] == [stored.name]
    finally:
        if elsewhere != tmp_path:
            for leftover in elsewhere.iterdir():
                leftover.unlink()
            elsewhere.rmdir()


Event = tuple[str, str]


def _record(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """Every fsync (by the path its fd names) and rename, in order."""
    events: list[Event] = []
    real_fsync: Callable[[int], None] = os.fsync
    real_replace = os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
def test_put_is_durable_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bytes fsynced before the rename (else a crash can leave the name on empty blocks),
    the folder after it, and a new owner folder fsynced into the root (else a power cut can
    drop the folder, and the acknowledged blob with it)."""
    root = tmp_path / "blobs"
    store = LocalBlobStore(root, b"s")
    root.mkdir()
    src = _spooled(tmp_path, b"durable")
    key = _key()
    dest = root / key
    events = _record(monkeypatch)
    store.put(key, src, size=7, content_type="image/png")
    assert events == [
        ("fsync", str(src)),
        ("fsync", str(root)),  # the new owner folder's entry
        ("replace", f"{src} -> {dest}"),
        ("fsync", str(dest.parent)),
    ]
    events.clear()
    same_owner = keys.storage_key(key.split("/")[0], keys.new_id(), "png")
    store.put(same_owner, _spooled(tmp_path, b"x"), size=1, content_type="image/png")
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]  # existing folder: no mkdir
