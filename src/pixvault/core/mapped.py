"""Reading a whole mapped upload without keeping it all resident.

The upload path maps spool files (``mmap``) so the structure walk, the metadata rewriter and the
hashes read the page cache in place instead of copying the bytes. Every page a pass touches
stays in the process's RSS until the map closes, though, so one pass over a 50 MB upload would
add 50 MB to the server's peak memory (issue 10's memory table). These helpers go through a
mapped buffer a window at a time and hand the pages behind them back (``MADV_DONTNEED``: on a
shared file mapping that drops only this process's view; the page cache keeps the bytes, so
nothing is read from disk again). On ``bytes`` they are the plain calls.
"""

from __future__ import annotations

import mmap
import re
import zlib
from typing import Protocol

Buffer = bytes | mmap.mmap

WINDOW = 4 * 1024 * 1024
"""Bytes read between two releases: big enough that the extra calls cost nothing measurable."""


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


def release(buf: Buffer, start: int, end: int) -> None:
    """Drop this process's mapped pages wholly inside ``[start, end)`` of ``buf`` (maps only)."""
    if not isinstance(buf, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return
    first = start + (-start) % mmap.PAGESIZE
    last = end - end % mmap.PAGESIZE
    if last > first:
        buf.madvise(mmap.MADV_DONTNEED, first, last - first)


class Behind:
    """Releases a mapped buffer behind a walk that only goes forward, a window at a time:
    ``advance(pos)`` on every step costs a comparison, a system call once per window."""

    __slots__ = ("buf", "done")

    def __init__(self, buf: Buffer) -> None:
        self.buf = buf
        self.done = 0

    def advance(self, pos: int) -> None:
        if pos - self.done >= WINDOW:
            release(self.buf, self.done, pos)
            self.done = pos - pos % mmap.PAGESIZE


def search(pattern: re.Pattern[bytes], buf: Buffer, pos: int, window: int = WINDOW) -> int:
    """Where ``pattern`` (at most 2 bytes long) first matches at or after ``pos``; -1 if not.
    A long search releases the windows it has passed."""
    n = len(buf)
    if not isinstance(buf, mmap.mmap):
        found = pattern.search(buf, pos)
        return -1 if found is None else found.start()
    while pos < n:
        end = min(n, pos + window)
        found = pattern.search(buf, pos, end)
        if found is not None:
            return found.start()
        if end == n:
            break
        release(buf, pos, end - 1)
        pos = end - 1  # a 2-byte match may start on the window's last byte
    return -1


def crc32(buf: Buffer, start: int, end: int, window: int = WINDOW) -> int:
    """``zlib.crc32(buf[start:end])`` without a copy; a long range is released as it goes."""
    crc = 0
    with memoryview(buf) as view:
        for at in range(start, end, window):
            stop = min(end, at + window)
            crc = zlib.crc32(view[at:stop], crc)
            if end - start > window:
                release(buf, at, stop)
    return crc


def update(hashers: tuple[Hasher, ...], buf: Buffer, window: int = WINDOW) -> None:
    """Feed all of ``buf`` to every hasher (hashlib releases the GIL on big windows)."""
    with memoryview(buf) as view:
        for at in range(0, len(buf), window):
            piece = view[at : at + window]
            for hasher in hashers:
                hasher.update(piece)
            piece.release()
            release(buf, at, at + window)
