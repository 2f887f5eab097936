"""Spooling one uploaded file part to disk while it streams in.

An upload is never held in memory: chunks are counted as they arrive, gathered into blocks
of about :data:`BLOCK_SIZE`, and each block is hashed (md5 + sha256) and written in one go.
The size limit is enforced before a chunk is accepted, so an oversized file costs at most
``max_size`` bytes of disk.

``feed`` is cheap (a count and a reference: read-only chunks are not copied, issue 10's
profile found the copy on the event loop) and ``flush`` does the heavy part, so an event loop
can feed and leave the flushes to a worker thread (hashlib releases the GIL on big chunks).
One spool is not thread-safe: a caller never runs ``feed`` and ``flush`` at the same time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from pixvault.core.errors import TooLarge
from pixvault.core.models import IncomingFile
from pixvault.core.names import display_name

BLOCK_SIZE = 1024 * 1024
"""Bytes gathered before a flush is due: big enough that hashing and writing cost far more
than handing the block to a thread, small enough to keep memory per upload flat."""

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(n: int) -> str:
    """Binary units for error messages: 10485760 -> "10 MiB", 1536 -> "1.5 KiB".

    Binary because every limit in the settings is written as a power of two; a decimal
    rendering would show odd numbers ("10.5 MB") for round limits.
    """
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} {_UNITS[unit]}"


class Spool:
    """Writer for one file part: a private temp file plus running hashes and size.

    The temp file is created in ``directory`` (mode 0600, prefix ``upload-``) so it lives
    on the same filesystem as the rest of the upload pipeline. Any failure while writing
    deletes it: callers only have to discard spools that finished.
    """

    def __init__(self, directory: Path, original_name: str, max_size: int) -> None:
        self.original_name = original_name
        self.max_size = max_size
        self.size = 0  # bytes accepted so far, flushed or not
        self._pending: list[bytes | memoryview] = []
        self._pending_size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()
        fd, name = tempfile.mkstemp(prefix="upload-", dir=directory)
        self.path = Path(name)
        try:
            self._file: BinaryIO | None = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            raise

    @property
    def flush_due(self) -> bool:
        """A full block is waiting for :meth:`flush`."""
        return self._pending_size >= BLOCK_SIZE

    def feed(self, chunk: bytes | bytearray | memoryview) -> bool:
        """Count and buffer ``chunk``; True when a flush is due.

        The limit is checked first: a chunk that would pass it deletes the spool and raises
        ``TooLarge`` naming the file, so no byte of an oversized file is ever kept.
        """
        if self._file is None:
            raise ValueError("write to a finished or discarded spool")
        if self.size + len(chunk) > self.max_size:
            self.discard()
            name = display_name(self.original_name)
            raise TooLarge(f'"{name}" is too large (max {human_size(self.max_size)})')
        view = memoryview(chunk)
        # Kept by reference until the flush; a writable buffer is copied, since its owner may
        # reuse it before then.
        self._pending.append(view if view.readonly else bytes(view))
        self._pending_size += view.nbytes
        self.size += view.nbytes
        return self.flush_due

    def flush(self) -> None:
        """Hash and write what is buffered: the slow part, safe to run in a worker thread."""
        if self._file is None:
            raise ValueError("write to a finished or discarded spool")
        if not self._pending:
            return
        pieces, self._pending, self._pending_size = self._pending, [], 0
        try:
            for piece in pieces:
                self._file.write(piece)  # big pieces bypass the file's buffer: no copy
        except BaseException:
            self.discard()
            raise
        for piece in pieces:
            self._md5.update(piece)
            self._sha256.update(piece)

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash, count and store ``chunk`` now; the limit is checked before anything is written."""
        self.feed(chunk)
        self.flush()

    def finish(self) -> IncomingFile:
        """Flush, close the file and hand it over; the caller now owns (and must delete) it."""
        self.flush()
        file, self._file = self._file, None
        assert file is not None  # flush() raised otherwise
        try:
            file.close()
        except BaseException:
            self.discard()
            raise
        return IncomingFile(
            original_name=self.original_name,
            path=self.path,
            size=self.size,
            md5=self._md5.hexdigest(),
            sha256=self._sha256.hexdigest(),
        )

    def discard(self) -> None:
        """Close and delete the temp file, finished or not; safe to call repeatedly."""
        file, self._file = self._file, None
        self._pending, self._pending_size = [], 0
        if file is not None:
            # A failed flush (disk full) must not stop the delete or mask the real error.
            with contextlib.suppress(OSError):
                file.close()
        self.path.unlink(missing_ok=True)
