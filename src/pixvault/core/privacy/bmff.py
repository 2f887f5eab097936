"""HEIF/HEIC and AVIF: metadata are items (``Exif``, and ``mime`` items of XMP) that ``iloc``
places somewhere in the file, usually inside ``mdat``.

Every edit here keeps each item's length, so no ``iloc`` offset, box size or ``mdat`` position
moves: the GPS IFD is cut out inside the TIFF in place (``tiff.remove_gps``), a TIFF that
cannot be edited safely becomes an empty one padded with zeros, and an XMP packet to drop
becomes an empty packet padded with spaces. Items split over several extents are edited as one
run of bytes and written back extent by extent.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pixvault.core.heif import ItemLocation, item_locations
from pixvault.core.privacy.blocks import (
    Edits,
    StripMode,
    blank_xmp,
    broken,
    plan_exif,
    xmp_has_location,
)
from pixvault.core.structure import Buffer, Steps, bmff_boxes

_XMP_TYPES = (b"application/rdf+xml", b"text/xml", b"application/xml")


@dataclass(frozen=True, slots=True)
class _Box:
    type: bytes
    body: int  # after the header
    end: int


def _boxes(data: Buffer, start: int, end: int) -> list[_Box]:
    """The boxes tiling ``data[start:end]``, read by the one ISO-BMFF reader the upload
    checks use, so the stripper cannot disagree with them about where a box ends."""
    steps = Steps(end - start, "HEIF")
    return [_Box(btype, body, stop) for btype, body, stop in bmff_boxes(data, start, end, steps)]


def _child(boxes: list[_Box], btype: bytes) -> _Box | None:
    return next((b for b in boxes if b.type == btype), None)


def _item_types(data: Buffer, iinf: _Box) -> dict[int, bytes]:
    """item ID -> "Exif", "xmp" (an XMP mime item) or another type name."""
    version = data[iinf.body] if iinf.body < iinf.end else 0
    first = iinf.body + 4 + (2 if version == 0 else 4)
    types: dict[int, bytes] = {}
    for infe in _boxes(data, first, iinf.end):
        if infe.type != b"infe" or infe.end - infe.body < 12 or data[infe.body] < 2:
            continue  # infe versions 0/1 predate item types: never EXIF or XMP
        pos = infe.body + 4
        if data[infe.body] == 2:
            (item_id,) = struct.unpack_from(">H", data, pos)
            pos += 2
        else:
            (item_id,) = struct.unpack_from(">I", data, pos)
            pos += 4
        item_type = data[pos + 2 : pos + 6]
        if item_type == b"mime":
            name_end = data.find(b"\x00", pos + 6, infe.end)
            mime_end = data.find(b"\x00", name_end + 1, infe.end) if name_end >= 0 else -1
            mime = data[name_end + 1 : mime_end if mime_end >= 0 else infe.end]
            item_type = b"xmp" if mime.strip().lower() in _XMP_TYPES else b"mime"
        types[item_id] = item_type
    return types


def _locations(
    data: Buffer, iloc: _Box, idat: _Box | None, mdats: list[_Box]
) -> dict[int, list[tuple[int, int]]]:
    """item ID -> absolute (start, end) of each extent, read by the upload check's ``iloc``
    reader. An extent this module cannot edit in place with certainty (see ``_absolute``)
    makes the item's list ``[(-1, -1)]``, refused only if the item is metadata."""
    found = item_locations(
        data,
        (iloc.type, iloc.body, iloc.end),
        None if idat is None else (idat.type, idat.body, idat.end),
        Steps(len(data), "HEIF"),
    )
    return {item_id: _absolute(place, mdats) for item_id, place in found.items()}


def _absolute(place: ItemLocation, mdats: list[_Box]) -> list[tuple[int, int]]:
    """Extents as (start, end) file offsets. Method 2 (data built from other items), length 0
    ("to the end"), an extent past its limit and data in another file cannot be edited here;
    nor can a file-offset extent outside every ``mdat`` payload: it may lie over box headers
    (``meta``, ``ipma``...), which an in-place edit would overwrite."""
    if place.method not in (0, 1):
        return []  # only looked at for metadata items, checked there
    if place.reference != 0:
        return [(-1, -1)]
    out = []
    for start, length in place.extents:
        if length == 0 or start + length > place.limit:
            return [(-1, -1)]
        in_mdat = any(m.body <= start and start + length <= m.end for m in mdats)
        if place.method == 0 and not in_mdat:
            return [(-1, -1)]
        out.append((start, start + length))
    return out


def strip(data: Buffer, mode: StripMode) -> Edits:
    edits = Edits(len(data))
    top = _boxes(data, 0, len(data))
    meta = _child(top, b"meta")
    if meta is None:
        return edits
    inner = _boxes(data, meta.body + 4, meta.end)  # meta is a full box: skip version + flags
    iinf, iloc = _child(inner, b"iinf"), _child(inner, b"iloc")
    if iinf is None or iloc is None:
        return edits
    types = _item_types(data, iinf)
    wanted = {i: t for i, t in types.items() if t in (b"Exif", b"xmp")}
    if not wanted:
        return edits
    places = _locations(data, iloc, _child(inner, b"idat"), [b for b in top if b.type == b"mdat"])
    for item_id in sorted(wanted):
        spans = places.get(item_id, [])
        if not spans or spans == [(-1, -1)]:
            raise broken("HEIF item")
        content = b"".join(data[s:e] for s, e in spans)
        new = _rewrite(content, wanted[item_id], mode, edits)
        if new is None:
            continue
        pos = 0
        for start, end in spans:
            edits.replace(start, end, new[pos : pos + end - start])
            pos += end - start
    return edits


def _rewrite(content: bytes, kind: bytes, mode: StripMode, edits: Edits) -> bytes | None:
    """The item's new bytes (same length), or None to leave it as received."""
    if kind == b"xmp":
        if mode is StripMode.ALL or (mode is StripMode.GPS and xmp_has_location(content)):
            return blank_xmp(len(content))
        return None
    # Exif item: a 4-byte offset to the TIFF header (after e.g. "Exif\0\0"), then the TIFF.
    if len(content) < 4:
        return None if mode is StripMode.NONE else bytes(len(content))
    start = 4 + int.from_bytes(content[:4], "big")
    if start > len(content):
        return None if mode is StripMode.NONE else bytes(len(content))
    raw = content[start:]
    if edits.exif is None:
        edits.exif = raw
    plan = plan_exif(raw, mode, same_length=True)
    if plan.keep or plan.new is None:
        return None
    return content[:start] + plan.new
