"""The TIFF structure inside every EXIF block: read a few tags, and cut the GPS IFD out in place.

In place, because the same TIFF sits inside JPEG APP1, PNG eXIf, WebP EXIF and HEIF/AVIF Exif
items: when its length never changes, nothing that points *into* it (MakerNote offsets, HEIF
``iloc`` extents) has to move. Every read is bounds-checked; a broken layout raises
``BadTiff`` and the caller decides what to do with the whole block.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

GPS_IFD = 0x8825
EXIF_IFD = 0x8769
ORIENTATION = 0x0112

# TIFF field type -> bytes per value (1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL, 6 SBYTE,
# 7 UNDEFINED, 8 SSHORT, 9 SLONG, 10 SRATIONAL, 11 FLOAT, 12 DOUBLE, 13 IFD).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_MAX_IFDS = 4  # IFD0 and IFD1 (the thumbnail) are all a camera writes; a longer chain is hostile
_ENTRY = 12

Value = int | float | str | tuple[float, ...] | None


class BadTiff(ValueError):
    """The bytes are not a TIFF structure this module can safely read or edit."""


@dataclass(frozen=True, slots=True)
class Entry:
    tag: int
    type: int
    count: int
    at: int  # where the 12-byte entry starts
    value_at: int  # where the value bytes start (inside the entry when they fit in 4 bytes)
    value_size: int  # 0 for an unknown type


class Tiff:
    """A bounds-checked view of one TIFF blob (the bytes after ``Exif\\0\\0``)."""

    def __init__(self, data: bytes | bytearray) -> None:
        if len(data) < 8 or data[:4] not in (b"II*\x00", b"MM\x00*"):
            raise BadTiff("no TIFF header")
        self.data = data
        self.order = "<" if data[:2] == b"II" else ">"
        self.ifd0 = self._u32(4)

    def _u16(self, pos: int) -> int:
        if pos < 0 or pos + 2 > len(self.data):
            raise BadTiff("read past the end")
        return int(struct.unpack_from(self.order + "H", self.data, pos)[0])

    def _u32(self, pos: int) -> int:
        if pos < 0 or pos + 4 > len(self.data):
            raise BadTiff("read past the end")
        return int(struct.unpack_from(self.order + "I", self.data, pos)[0])

    def entries(self, offset: int) -> list[Entry]:
        """The IFD at ``offset``; its entries (and next-IFD pointer) must lie inside the data."""
        if offset < 8:
            raise BadTiff("IFD inside the header")
        count = self._u16(offset)
        if offset + 2 + count * _ENTRY + 4 > len(self.data):
            raise BadTiff("IFD runs past the end")
        found = []
        for i in range(count):
            at = offset + 2 + i * _ENTRY
            tag, ftype, n = struct.unpack_from(self.order + "HHI", self.data, at)
            size = _TYPE_SIZES.get(ftype, 0) * n
            value_at = at + 8 if size <= 4 else self._u32(at + 8)
            found.append(Entry(tag, ftype, n, at, value_at, size))
        return found

    def chain(self) -> list[int]:
        """Offsets of IFD0, IFD1, ... (at most a few; a loop or a long chain is refused)."""
        offsets = [self.ifd0]
        while len(offsets) <= _MAX_IFDS:
            last = offsets[-1]
            nxt = self._u32(last + 2 + self._u16(last) * _ENTRY)
            if nxt == 0:
                return offsets
            if nxt in offsets:
                raise BadTiff("IFD loop")
            offsets.append(nxt)
        raise BadTiff("too many IFDs")

    def find(self, offset: int, tag: int) -> Entry | None:
        return next((e for e in self.entries(offset) if e.tag == tag), None)

    def value(self, entry: Entry) -> Value:
        """An entry's value: int, float, str, or a tuple of rationals; None if out of bounds."""
        if entry.value_size == 0 or entry.value_at + entry.value_size > len(self.data):
            return None
        raw = bytes(self.data[entry.value_at : entry.value_at + entry.value_size])
        if entry.type == 2:
            return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")
        if entry.type in (5, 10):
            fmt = "I" if entry.type == 5 else "i"
            nums = struct.unpack(f"{self.order}{2 * entry.count}{fmt}", raw)
            return tuple(
                a / b if b else float("nan") for a, b in zip(nums[::2], nums[1::2], strict=True)
            )
        if entry.type in (3, 4, 8, 9, 13) and entry.count >= 1:
            fmt = {3: "H", 4: "I", 8: "h", 9: "i", 13: "I"}[entry.type]
            return int(struct.unpack_from(self.order + fmt, raw)[0])
        if entry.type == 1 and entry.count >= 1:
            return raw[0]
        return None

    def pointer(self, offset: int, tag: int) -> int | None:
        """The sub-IFD offset stored under ``tag`` (Exif, GPS) in the IFD at ``offset``."""
        entry = self.find(offset, tag)
        value = self.value(entry) if entry else None
        return value if isinstance(value, int) else None

    def orientation(self) -> int:
        """IFD0's Orientation, 1 (upright) when missing or invalid."""
        entry = self.find(self.ifd0, ORIENTATION)
        value = self.value(entry) if entry else None
        return value if isinstance(value, int) and 1 <= value <= 8 else 1


def has_gps(data: bytes | bytearray) -> bool:
    """A GPSInfo pointer in any IFD of the chain; raises ``BadTiff`` if the chain is broken."""
    tiff = Tiff(data)
    return any(tiff.find(off, GPS_IFD) for off in tiff.chain())


def remove_gps(data: bytearray) -> bool:
    """Cut every GPSInfo entry and the GPS IFD it points to out of ``data``, keeping its length.

    The GPS IFD and its out-of-line values are zeroed; the pointer entry is removed from its
    IFD by moving the later entries (and the next-IFD pointer) up 12 bytes. True if anything
    changed. Raises ``BadTiff`` (having changed nothing) when a GPS structure overlaps the
    header or the IFD that points to it: no in-place edit is safe then.
    """
    tiff = Tiff(data)
    changed = False
    for offset in tiff.chain():
        entry = tiff.find(offset, GPS_IFD)
        if entry is None:
            continue
        count = tiff._u16(offset)
        ifd_end = offset + 2 + count * _ENTRY + 4
        spans = _gps_spans(tiff, entry)
        for start, end in spans:
            if (start < ifd_end and end > offset) or start < 8:
                raise BadTiff("GPS data overlaps its parent IFD")
        for start, end in spans:
            data[start:end] = bytes(end - start)
        # Remove the entry: later entries and the next pointer move up, the freed tail is zeroed.
        data[entry.at : ifd_end - _ENTRY] = data[entry.at + _ENTRY : ifd_end]
        data[ifd_end - _ENTRY : ifd_end] = bytes(_ENTRY)
        struct.pack_into(tiff.order + "H", data, offset, count - 1)
        changed = True
    return changed


def _gps_spans(tiff: Tiff, pointer: Entry) -> list[tuple[int, int]]:
    """Byte ranges of the GPS IFD and its values that lie inside the data (others are moot)."""
    gps = tiff.value(pointer)
    if not isinstance(gps, int) or gps < 8 or gps + 2 > len(tiff.data):
        return []  # points nowhere: no position can be read from it, only the pointer goes
    try:
        entries = tiff.entries(gps)
    except BadTiff:  # a broken GPS IFD: everything from it to the end may be position data
        return [(gps, len(tiff.data))]
    spans = [(gps, gps + 2 + len(entries) * _ENTRY + 4)]
    for e in entries:
        if e.value_size > 4:
            start, end = e.value_at, min(e.value_at + e.value_size, len(tiff.data))
            if start < end:
                spans.append((start, end))
    return spans


def minimal(orientation: int, *, big_endian: bool = False) -> bytes:
    """A TIFF holding only IFD0 Orientation (none at all when it is 1): what mode ``all`` keeps
    so a rotated photo still displays upright."""
    order = ">" if big_endian else "<"
    head = b"MM\x00*" if big_endian else b"II*\x00"
    if orientation == 1:
        return head + struct.pack(order + "IHI", 8, 0, 0)
    return head + struct.pack(order + "IHHHIHHI", 8, 1, ORIENTATION, 3, 1, orientation, 0, 0)
