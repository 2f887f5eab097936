"""Privacy by default: strip metadata from an upload before a byte of it reaches the store.

``prepare`` maps the received spool file, lets the container's rewriter list its edits (no
pixel is decoded: segments, chunks and items are copied or replaced as bytes), and writes the
result to a new spool file beside the received one, hashed while written (or, for the upload
service, patches the received file where it lies when no edit changes a length). A file with
nothing to strip is handed on untouched, so it is stored byte-identical. The camera metadata
is read from the received EXIF on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from pixvault.core import mapped
from pixvault.core.errors import UnsupportedType
from pixvault.core.models import IncomingFile, PhotoMetadata
from pixvault.core.privacy import bmff, exif, gif, jpeg, png, webp
from pixvault.core.privacy.blocks import Edits, StripMode
from pixvault.core.spool import Spool
from pixvault.core.structure import Buffer

__all__ = ["Prepared", "StripMode", "prepare", "rewrite"]

# Formats as ``core.media`` names them; anything new is stored as received.
_REWRITERS: dict[str, Callable[[Buffer, StripMode], Edits]] = {
    "JPEG": jpeg.strip,
    "PNG": png.strip,
    "GIF": gif.strip,
    "WEBP": webp.strip,
    "AVIF": bmff.strip,
    "HEIF": bmff.strip,
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """What goes to the store (``stored`` is ``received`` when nothing was stripped)."""

    received: IncomingFile
    stored: IncomingFile
    taken_at: datetime | None
    photo: PhotoMetadata | None

    @property
    def stripped(self) -> bool:
        return self.stored is not self.received

    def discard(self) -> None:
        """Delete the stripped copy (the received file belongs to whoever spooled it, also
        when it was patched in place)."""
        if self.stored.path != self.received.path:
            self.stored.path.unlink(missing_ok=True)


def rewrite(
    data: Buffer, fmt: str, mode: StripMode
) -> tuple[list[memoryview | bytes] | None, Edits]:
    """The stripped file as pieces (None: nothing to strip) and the edits, with the EXIF found.

    Raises ``UnsupportedType`` when the metadata layout is broken in a way no edit can be
    trusted on (e.g. a segment length that runs past the file).
    """
    rewriter = _REWRITERS.get(fmt)
    if rewriter is None:
        return None, Edits(len(data))
    try:
        edits = rewriter(data, mode)
    except (IndexError, ValueError, OverflowError, struct.error):  # a walk that missed a check
        raise UnsupportedType(f"corrupt {fmt} metadata") from None
    return edits.pieces(data), edits


def prepare(
    received: IncomingFile, fmt: str, mode: StripMode, *, in_place: bool = False
) -> Prepared:
    """Strip ``received`` per ``mode``; the caller must ``discard()`` the result when done.

    The file is mapped, not read: the rewriters and the copy work on the page cache, so a
    50 MB upload costs no 50 MB of heap. ``in_place``: the caller gives up the received
    bytes, so edits that keep every length are written into that file (the stored file is
    then the received one, patched) instead of into a copy."""
    with _mapped(received.path) as data:
        pieces, edits = rewrite(data, fmt, mode)
        taken_at, photo = exif.read(edits.exif, with_location=mode is StripMode.NONE)
        if pieces is None:
            stored = received
        elif in_place and all(end - start == len(new) for start, end, new in edits.replacements):
            stored = _patch(received, edits, data)
        else:
            stored = _copy(received, edits, data)
        del pieces  # views into the map: gone before it closes
    return Prepared(received, stored, taken_at, None if photo.is_empty() else photo)


def _patch(received: IncomingFile, edits: Edits, data: Buffer) -> IncomingFile:
    """Overwrite the edited ranges in the received file itself and hash the result: when no
    edit changes a length (the usual GPS strip), the bytes are written to disk only once.
    The received checksums were taken while it streamed in; nothing reads its bytes again."""
    fd = os.open(received.path, os.O_WRONLY)
    try:
        for start, end, new in edits.replacements:
            if os.pwrite(fd, new, start) != end - start:
                raise OSError(f"short write patching {received.path.name}")
    finally:
        os.close(fd)
    # The map is shared with the page cache, so it reads the patched bytes; hashlib releases
    # the GIL over it.
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    mapped.update((md5, sha256), data)
    return replace(received, md5=md5.hexdigest(), sha256=sha256.hexdigest())


def _copy(received: IncomingFile, edits: Edits, data: Buffer) -> IncomingFile:
    """The stripped file as a new spool file beside the received one (same filesystem: the
    local store renames it into place; same start-up sweep if this process dies)."""
    spool = Spool(received.path.parent, received.original_name, max(len(data), 1) * 2)
    try:
        pos = 0
        for start, end, new in sorted(edits.replacements, key=lambda r: r[0]):
            _copy_range(spool, data, pos, start)
            spool.write(new)
            pos = end
        _copy_range(spool, data, pos, len(data))
        return spool.finish()
    except BaseException:
        spool.discard()
        raise


def _copy_range(spool: Spool, data: Buffer, start: int, end: int) -> None:
    """``data[start:end]`` into ``spool`` a window at a time, releasing the map behind."""
    with memoryview(data) as view:
        for at in range(start, end, mapped.WINDOW):
            stop = min(end, at + mapped.WINDOW)
            piece = view[at:stop]
            spool.write(piece)
            piece.release()
            mapped.release(data, at, stop)


@contextmanager
def _mapped(path: Path) -> Iterator[Buffer]:
    """``path`` mapped read-only (``b""`` when empty: an empty file cannot be mapped)."""
    with path.open("rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            yield b""
            return
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        yield buf
    finally:
        # A view kept alive by an exception's traceback: the map closes when it is freed.
        with contextlib.suppress(BufferError):
            buf.close()
