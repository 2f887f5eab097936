"""Spool: streamed hashing, the size limit before the write, and no temp file left behind."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from pixvault.core.errors import TooLarge
from pixvault.core.spool import Spool, human_size


def test_chunks_are_hashed_counted_and_stored(tmp_path: Path) -> None:
    chunks = [b"hello ", b"", b"world", bytes(range(256)) * 40]
    spool = Spool(tmp_path, "photo.png", 100_000)
    for chunk in chunks:
        spool.write(chunk)
    incoming = spool.finish()
    data = b"".join(chunks)
    assert incoming.original_name == "photo.png"
    assert incoming.size == len(data)
    assert incoming.md5 == hashlib.md5(data).hexdigest()
    assert incoming.sha256 == hashlib.sha256(data).hexdigest()
    assert incoming.path.parent == tmp_path
    assert incoming.path.name.startswith("upload-")
    assert incoming.path.read_bytes() == data
    assert stat.S_IMODE(incoming.path.stat().st_mode) == 0o600


def test_memoryview_chunks_are_accepted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "a", 10)
    spool.write(memoryview(b"xxabcxx")[2:5])
    incoming = spool.finish()
    assert incoming.path.read_bytes() == b"abc"
    assert incoming.sha256 == hashlib.sha256(b"abc").hexdigest()


def test_empty_file(tmp_path: Path) -> None:
    incoming = Spool(tmp_path, "empty", 10).finish()
    assert incoming.size == 0
    assert incoming.md5 == hashlib.md5(b"").hexdigest()
    assert incoming.path.read_bytes() == b""


def test_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "edge.png", 10)
    spool.write(b"12345")
    spool.write(b"67890")
    assert spool.finish().size == 10


def test_one_byte_over_raises_names_the_file_and_deletes_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "big.png", 10)
    spool.write(b"1234567890")
    with pytest.raises(TooLarge) as info:
        spool.write(b"x")
    assert type(info.value) is TooLarge
    assert info.value.message == '"big.png" is too large (max 10 B)'
    assert list(tmp_path.iterdir()) == []
    spool.discard()  # still safe afterwards


def test_oversized_chunk_is_never_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "big.png", 2 * 1024 * 1024)
    with pytest.raises(TooLarge, match=r"max 2 MiB"):
        spool.write(b"x" * (2 * 1024 * 1024 + 1))
    assert list(tmp_path.iterdir()) == []


def test_error_message_uses_a_display_safe_name(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "dir/evil\u202egpj.exe", 1)
    with pytest.raises(TooLarge) as info:
        spool.write(b"xx")
    assert info.value.message.startswith('"evilgpj.exe" is too large')


def test_discard_is_idempotent_and_removes_unfinished_and_finished_files(tmp_path: Path) -> None:
    open_spool = Spool(tmp_path, "a", 10)
    open_spool.write(b"abc")
    done = Spool(tmp_path, "b", 10)
    done.write(b"abc")
    done.finish()
    assert len(list(tmp_path.iterdir())) == 2
    for spool in (open_spool, done):
        spool.discard()
        spool.discard()
    assert list(tmp_path.iterdir()) == []


def test_write_after_finish_or_discard_is_an_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "a", 10)
    spool.finish()
    with pytest.raises(ValueError, match="finished or discarded"):
        spool.write(b"x")
    with pytest.raises(ValueError, match="finished or discarded"):
        spool.finish()


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (64 * 1024, "64 KiB"),
        (10_485_760, "10 MiB"),
        (25 * 1024**2 + 1024**2 // 2, "25.5 MiB"),
        (3 * 1024**3, "3 GiB"),
    ],
)
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


def test_a_buffer_reused_by_the_caller_after_feed_is_stored_as_fed(tmp_path: Path) -> None:
    """Read-only chunks are kept by reference until the flush (no copy on the event loop);
    a writable one is copied, so a caller reusing its buffer cannot change what is stored."""
    spool = Spool(tmp_path, "a", 100)
    buffer = bytearray(b"abc")
    spool.feed(buffer)
    spool.feed(memoryview(b"xdefx")[1:4])
    buffer[:] = b"zzz"
    incoming = spool.finish()
    assert incoming.path.read_bytes() == b"abcdef"
    assert incoming.md5 == hashlib.md5(b"abcdef").hexdigest()
