"""Spooling one uploaded file part to disk while it streams in.

An upload is never held in memory: each chunk is hashed (md5 + sha256), counted and
written as it arrives, and the size limit is enforced before the chunk that would pass
it is written, so an oversized file costs at most ``max_size`` bytes of disk.
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
        self.size = 0
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

    def write(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash, count and store ``chunk``; the limit is checked before anything is written."""
        if self._file is None:
            raise ValueError("write to a finished or discarded spool")
        if self.size + len(chunk) > self.max_size:
            self.discard()
            name = display_name(self.original_name)
            raise TooLarge(f'"{name}" is too large (max {human_size(self.max_size)})')
        try:
            self._file.write(chunk)
        except BaseException:
            self.discard()
            raise
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)

    def finish(self) -> IncomingFile:
        """Close the file and hand it over; the caller now owns (and must delete) it."""
        if self._file is None:
            raise ValueError("finish on a finished or discarded spool")
        try:
            self._file.close()
        except BaseException:
            self.discard()
            raise
        self._file = None
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
        if file is not None:
            # A failed flush (disk full) must not stop the delete or mask the real error.
            with contextlib.suppress(OSError):
                file.close()
        self.path.unlink(missing_ok=True)
