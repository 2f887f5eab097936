"""IPTC: the caption, keywords, credit... and the place, as IIM datasets inside a Photoshop
image resource block (JPEG APP13 ``Photoshop 3.0``, ImageMagick's PNG and GIF profiles).

Mode gps cuts the place datasets out of the IIM record (2:26/2:27 content location code and
name, 2:90 city, 2:92 sublocation, 2:95 province/state, 2:100/2:101 country code and name) and
keeps every other one; resource lengths (padded to even) are rewritten, and the IPTC digest
(resource 0x0425) follows the record. Other resources holding a location go whole: EXIF with a
GPS IFD, XMP (or anything) with an XMP location property. A structure that cannot be read
raises ``BadIptc``: the caller then drops the whole block, since a place name it cannot find
must not be stored either.
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass

from pixvault.core.privacy import tiff
from pixvault.core.privacy.blocks import xmp_has_location

PHOTOSHOP_ID = b"Photoshop 3.0\x00"  # the JPEG APP13 (and ImageMagick 8bim profile) prefix
# Writers other than Photoshop sign their resources differently; the layout is the same.
_SIGNATURES = frozenset({b"8BIM", b"PHUT", b"AgHg", b"DCSR", b"MeSa"})
_IPTC, _EXIF_1, _EXIF_3, _DIGEST = 0x0404, 0x0422, 0x0423, 0x0425
PLACE_DATASETS = frozenset({26, 27, 90, 92, 95, 100, 101})  # in record 2 (application)
# A place dataset's tag or an IPTC resource header, for bytes that cannot be parsed.
_PLACE_HINT = re.compile(rb"\x1c\x02[\x1a\x1b\x5a\x5c\x5f\x64\x65]|8BIM\x04\x04")


class BadIptc(ValueError):
    """The bytes are not a resource block or IIM record this module can safely edit."""


def _datasets(iim: bytes) -> list[tuple[int, int, int, int]]:
    """(record, dataset, start, end) for each dataset, tiling ``iim`` (zero padding at the
    end allowed, as some writers pad the record to an even length)."""
    found: list[tuple[int, int, int, int]] = []
    pos, n = 0, len(iim)
    while pos < n:
        if iim[pos] != 0x1C:
            if iim.count(0, pos) == n - pos:
                break
            raise BadIptc("not an IIM dataset")
        if pos + 5 > n:
            raise BadIptc("short dataset header")
        record, number, length = iim[pos + 1], iim[pos + 2], iim[pos + 3] << 8 | iim[pos + 4]
        header = 5
        if length & 0x8000:  # extended dataset: the low bits give the size of the length
            size = length & 0x7FFF
            if not 1 <= size <= 4 or pos + 5 + size > n:
                raise BadIptc("bad extended length")
            length = int.from_bytes(iim[pos + 5 : pos + 5 + size], "big")
            header += size
        end = pos + header + length
        if end > n:
            raise BadIptc("dataset past the end")
        found.append((record, number, pos, end))
        pos = end
    return found


def strip_iim(iim: bytes) -> bytes | None:
    """The record without its place datasets; None when it has none. Raises ``BadIptc``."""
    spans = [(s, e) for r, d, s, e in _datasets(iim) if r == 2 and d in PLACE_DATASETS]
    if not spans:
        return None
    kept, pos = [], 0
    for start, end in spans:
        kept.append(iim[pos:start])
        pos = end
    kept.append(iim[pos:])
    return b"".join(kept)


@dataclass(frozen=True, slots=True)
class _Resource:
    rid: int
    start: int
    size_at: int  # the 4-byte data size, after the padded Pascal-string name
    data: int
    data_end: int
    end: int  # after the pad byte


def _resources(irb: bytes) -> list[_Resource]:
    found: list[_Resource] = []
    pos, n = 0, len(irb)
    while pos < n:
        if irb[pos : pos + 4] not in _SIGNATURES:
            if irb.count(0, pos) == n - pos:
                break
            raise BadIptc("not an image resource")
        if pos + 7 > n:
            raise BadIptc("short resource header")
        (rid,) = struct.unpack_from(">H", irb, pos + 4)
        name = irb[pos + 6]
        size_at = pos + 6 + name + 1 + ((name + 1) & 1)
        if size_at + 4 > n:
            raise BadIptc("short resource header")
        (size,) = struct.unpack_from(">I", irb, size_at)
        data, data_end = size_at + 4, size_at + 4 + size
        if data_end > n:
            raise BadIptc("resource past the end")
        end = min(data_end + (size & 1), n)  # a missing last pad byte is tolerated
        found.append(_Resource(rid, pos, size_at, data, data_end, end))
        pos = end
    return found


def _resource(irb: bytes, res: _Resource, data: bytes) -> bytes:
    pad = b"\x00" if len(data) & 1 else b""
    return irb[res.start : res.size_at] + struct.pack(">I", len(data)) + data + pad


def _drop(rid: int, data: bytes) -> bool:
    """A resource other than IPTC that holds a location: EXIF with a GPS IFD, an XMP location
    property (resource 0x0424 is XMP, but any may hold one), or IPTC under another resource
    number (an IIM record with a place, or what looks like a place dataset). What cannot be
    read counts as a location; a false positive only drops that one resource."""
    if rid in (_EXIF_1, _EXIF_3):
        try:
            return tiff.has_gps(data)
        except tiff.BadTiff:
            return True
    if data[:1] == b"\x1c":
        try:
            return strip_iim(data) is not None
        except BadIptc:
            pass
    return may_hold_place(data)


def strip_irb(irb: bytes) -> bytes | None:
    """Mode gps: the resource block (after ``Photoshop 3.0\\0``) without a location; None when
    it holds none, ``b""`` when nothing is left. Raises ``BadIptc``."""
    resources = _resources(irb)
    new: dict[int, bytes | None] = {}  # resource index -> new data (None: dropped)
    record: bytes | None = None
    for i, res in enumerate(resources):
        data = irb[res.data : res.data_end]
        if res.rid == _IPTC:
            try:
                stripped = strip_iim(data)
            except BadIptc:  # an IPTC record that cannot be read goes whole
                stripped = b""
            if stripped is not None:
                record = stripped
                new[i] = stripped if _datasets(stripped) else None
        elif _drop(res.rid, data):
            new[i] = None
    if not new:
        return None
    for i, res in enumerate(resources):
        if res.rid == _DIGEST and record is not None and i not in new:
            # The MD5 of the IPTC record, by which readers tell whether XMP and IPTC agree.
            new[i] = hashlib.md5(record, usedforsecurity=False).digest() if record else None
    out = []
    for i, res in enumerate(resources):
        if i not in new:
            out.append(irb[res.start : res.end])
        elif (edited := new[i]) is not None:
            out.append(_resource(irb, res, edited))
    return b"".join(out)


def has_place(blob: bytes) -> bool:
    """A resource block (with or without ``Photoshop 3.0\\0``) or a bare IIM record holds a
    location; what cannot be read counts as one when it looks like IPTC or XMP with a place."""
    body = blob.removeprefix(PHOTOSHOP_ID)
    try:
        if body[:4] in _SIGNATURES:
            return strip_irb(body) is not None
        if body[:1] == b"\x1c":
            return strip_iim(body) is not None
    except BadIptc:
        pass
    return may_hold_place(blob)


def holds_resources(blob: bytes) -> bool:
    """Photoshop resources (the APP13 header or an IPTC resource) anywhere in ``blob``."""
    return PHOTOSHOP_ID in blob or b"8BIM\x04\x04" in blob


def may_hold_place(blob: bytes) -> bool:
    """For bytes that could not be parsed: an IPTC resource, a place dataset's tag or an XMP
    location property anywhere in them."""
    return _PLACE_HINT.search(blob) is not None or xmp_has_location(blob)
