"""Privacy by default: strip metadata from an upload before a byte of it reaches the store.

``prepare`` reads the received spool file, lets the container's rewriter list its edits (no
pixel is decoded: segments, chunks and items are copied or replaced as bytes), and writes the
result to a new spool file beside the received one, hashed while written. A file with nothing
to strip is handed on untouched, so it is stored byte-identical. The camera metadata is read
from the received EXIF on the way.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pixvault.core.errors import UnsupportedType
from pixvault.core.models import IncomingFile, PhotoMetadata
from pixvault.core.privacy import bmff, exif, gif, jpeg, png, webp
from pixvault.core.privacy.blocks import Edits, StripMode
from pixvault.core.spool import Spool

__all__ = ["Prepared", "StripMode", "prepare", "rewrite"]

# Formats as ``core.media`` names them; anything new is stored as received.
_REWRITERS: dict[str, Callable[[bytes, StripMode], Edits]] = {
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
        """Delete the stripped copy (the received file belongs to whoever spooled it)."""
        if self.stripped:
            self.stored.path.unlink(missing_ok=True)


def rewrite(
    data: bytes, fmt: str, mode: StripMode
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


def prepare(received: IncomingFile, fmt: str, mode: StripMode) -> Prepared:
    """Strip ``received`` per ``mode``; the caller must ``discard()`` the result when done."""
    data = received.path.read_bytes()
    pieces, edits = rewrite(data, fmt, mode)
    taken_at, photo = exif.read(edits.exif, with_location=mode is StripMode.NONE)
    stored = received
    if pieces is not None:
        # Same directory: the same filesystem (the local store renames it into place) and the
        # same start-up sweep if this process dies before the upload ends.
        spool = Spool(received.path.parent, received.original_name, max(len(data), 1) * 2)
        try:
            for piece in pieces:
                spool.write(piece)
            stored = spool.finish()
        except BaseException:
            spool.discard()
            raise
    return Prepared(received, stored, taken_at, None if photo.is_empty() else photo)
