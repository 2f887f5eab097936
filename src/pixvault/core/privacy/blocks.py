"""What every container rewriter shares: the mode, the edit list, and the EXIF/XMP decisions.

A rewriter never builds a new file: it lists byte-range replacements over the received bytes
(``Edits``), so untouched pixels are copied as slices and a file with nothing to strip stays
byte-identical (no edits at all).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from pixvault.core.errors import UnsupportedType
from pixvault.core.privacy import tiff
from pixvault.core.structure import Buffer


class StripMode(enum.StrEnum):
    GPS = "gps"  # the location only: EXIF GPS IFD, XMP and IPTC place names, PNG location text
    ALL = "all"  # every EXIF, XMP, IPTC and comment block, except ICC and the orientation
    NONE = "none"  # store what was received


# A location property in any XMP prefix, as an element or an attribute: a GPS property
# (exif:GPSLatitude, exifEX:GPSHPositioningError, ...) or a place name (photoshop:City,
# photoshop:State, photoshop:Country, Iptc4xmpCore:Location, Iptc4xmpCore:CountryCode,
# Iptc4xmpExt:LocationCreated / LocationShown and their City, ProvinceState, ... fields).
# A false positive only drops a packet, which errs on the safe side.
_XMP_LOCATION = re.compile(
    rb":(?:GPS[A-Z]|(?:City|State|Country|CountryCode|CountryName|Location|LocationCreated"
    rb"|LocationShown|Sublocation|ProvinceState|WorldRegion)(?![\w.-]))"
)
_BLANK_XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
)
_XMP_END = b'<?xpacket end="w"?>'


def starts_with(data: Buffer, prefix: bytes, start: int = 0, end: int | None = None) -> bool:
    """``bytes.startswith`` for a mapped file too (``mmap`` has no ``startswith``)."""
    stop = len(data) if end is None else min(end, len(data))
    return stop - start >= len(prefix) and data[start : start + len(prefix)] == prefix


def broken(what: str) -> UnsupportedType:
    return UnsupportedType(f"corrupt {what} metadata")


def xmp_has_location(packet: bytes | bytearray) -> bool:
    """The one XMP test every container uses: a GPS property or a place name (the packet goes
    whole: XMP repeats a value in several forms, so no single property can be cut safely)."""
    return _XMP_LOCATION.search(packet) is not None


def blank_xmp(length: int) -> bytes:
    """An empty XMP packet padded with spaces (XMP's own padding) to exactly ``length`` bytes,
    for containers where a block cannot shrink; spaces alone when it is too short for one."""
    if length < len(_BLANK_XMP) + len(_XMP_END):
        return b" " * length
    return _BLANK_XMP + b" " * (length - len(_BLANK_XMP) - len(_XMP_END)) + _XMP_END


@dataclass(slots=True)
class Edits:
    """Byte-range replacements over the received file, plus the first EXIF TIFF found."""

    size: int
    replacements: list[tuple[int, int, bytes]] = field(default_factory=list)
    exif: bytes | None = None

    def replace(self, start: int, end: int, data: bytes = b"") -> None:
        if not 0 <= start <= end <= self.size:
            raise broken("image")
        self.replacements.append((start, end, data))

    def pieces(self, data: Buffer) -> list[memoryview | bytes] | None:
        """The new file as slices of ``data`` and replacement bytes; None when unchanged."""
        if not self.replacements:
            return None
        view = memoryview(data)
        out: list[memoryview | bytes] = []
        pos = 0
        for start, end, new in sorted(self.replacements, key=lambda r: r[0]):
            if start < pos:  # two edits of one range: a rewriter bug or a self-overlapping file
                raise broken("image")
            out += [view[pos:start], new]
            pos = end
        out.append(view[pos:])
        return out


@dataclass(frozen=True, slots=True)
class ExifPlan:
    """What to do with one EXIF TIFF: keep it, or write ``new`` (None: drop the block)."""

    keep: bool
    new: bytes | None = None


def plan_exif(raw: bytes | bytearray, mode: StripMode, *, same_length: bool) -> ExifPlan:
    """gps: the GPS IFD cut out in place; all: only the orientation (if not 1) survives.

    A TIFF too broken to edit safely is dropped (or, when the block cannot shrink, replaced by
    an empty TIFF padded with zeros): a position we cannot find must not be stored either.
    """
    if mode is StripMode.NONE:
        return ExifPlan(keep=True)
    try:
        parsed = tiff.Tiff(raw)
        orientation = parsed.orientation()
        big = parsed.order == ">"
    except tiff.BadTiff:
        orientation, big = 1, False
    if mode is StripMode.GPS:
        edited = bytearray(raw)
        try:
            if not tiff.remove_gps(edited):
                return ExifPlan(keep=True)
            return ExifPlan(keep=False, new=bytes(edited))
        except tiff.BadTiff:
            pass  # no safe in-place edit: fall through and keep only the orientation
    new: bytes | None = tiff.minimal(orientation, big_endian=big)
    if same_length:
        assert new is not None
        if len(new) > len(raw):
            new = tiff.minimal(1, big_endian=big)
        new = new[: len(raw)] + bytes(max(0, len(raw) - len(new)))
    elif orientation == 1:
        new = None
    # A file stripped before (re-uploaded, or made by a careful camera) stays byte-identical.
    return ExifPlan(keep=new == raw, new=new)
