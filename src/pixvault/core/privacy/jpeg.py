"""JPEG: metadata lives in APPn and COM marker segments; rewrite those, copy everything else.

Every marker segment up to EOI is visited (an APP1 after the first scan still counts), with the
same C-speed scan over entropy-coded data as ``core.structure.walk_jpeg``. Bytes after EOI are
MPF secondary images (gain maps, depth): kept unless they carry EXIF, XMP or IPTC of their own,
which this module does not rewrite, so they are dropped together with the MPF index that points
to them. In mode gps, IPTC (APP13) keeps its caption and keywords and loses its place names.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from pixvault.core import mapped
from pixvault.core.privacy import iptc
from pixvault.core.privacy.blocks import (
    Edits,
    StripMode,
    broken,
    plan_exif,
    starts_with,
    xmp_has_location,
)
from pixvault.core.structure import Buffer

_FILL = re.compile(rb"\xff+")
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_EXIF_ID = b"Exif\x00"  # then \x00 (or \xff from a few old writers)
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"
_ICC_ID = b"ICC_PROFILE\x00"
_MPF_ID = b"MPF\x00"
_APP0, _APP1, _APP2, _APP13, _APP14 = 0xE0, 0xE1, 0xE2, 0xED, 0xEE
_COM, _SOS, _EOI = 0xFE, 0xDA, 0xD9
_MAX_SEGMENT = 0xFFFF


@dataclass(frozen=True, slots=True)
class _Segment:
    marker: int
    start: int  # first fill byte before the marker
    end: int
    payload: int  # after the 2-byte length

    def startswith(self, data: Buffer, prefix: bytes) -> bool:
        return starts_with(data, prefix, self.payload, self.end)


def _walk(data: Buffer) -> tuple[list[_Segment], int]:
    """Every length-prefixed segment, and where EOI ends. Raises ``UnsupportedType``."""
    n = len(data)
    if not starts_with(data, b"\xff\xd8"):
        raise broken("JPEG")
    segments: list[_Segment] = []
    pos, budget = 2, 20_000 + n // 512
    behind = mapped.Behind(data)  # restart markers can come every few hundred bytes
    while budget:
        budget -= 1
        behind.advance(pos)
        fill = _FILL.match(data, pos)
        if fill is None or fill.end() >= n:
            raise broken("JPEG")
        marker, start, pos = data[fill.end()], fill.start(), fill.end() + 1
        if marker == _EOI:
            return segments, pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            pos = _scan_end(data, pos) if marker != 0x01 else pos
            continue
        if marker in (0x00, 0xD8) or pos + 2 > n:
            raise broken("JPEG")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2 or pos + length > n:
            raise broken("JPEG")
        segments.append(_Segment(marker, start, pos + length, pos + 2))
        pos += length
        if marker == _SOS:
            pos = _scan_end(data, pos)
    raise broken("JPEG")


def _scan_end(data: Buffer, pos: int) -> int:
    found = mapped.search(_SCAN_END, data, pos)  # releases the mapped pages it passed
    if found < 0:
        raise broken("JPEG")
    return found


def _app1_exif(tiff: bytes) -> bytes:
    body = _EXIF_ID + b"\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def strip(data: Buffer, mode: StripMode) -> Edits:
    segments, eoi = _walk(data)
    edits = Edits(len(data))
    exif = [s for s in segments if s.marker == _APP1 and s.startswith(data, _EXIF_ID)]
    if exif and exif[0].end - exif[0].payload > 6:
        edits.exif = data[exif[0].payload + 6 : exif[0].end]
    if mode is StripMode.NONE:
        return edits
    xmp = [
        s
        for s in segments
        if s.marker == _APP1 and (s.startswith(data, _XMP_ID) or s.startswith(data, _XMP_EXT_ID))
    ]
    for i, seg in enumerate(exif):
        if mode is StripMode.ALL and i > 0:
            edits.replace(seg.start, seg.end)
            continue
        plan = plan_exif(data[seg.payload + 6 : seg.end], mode, same_length=False)
        if not plan.keep:
            new = b"" if plan.new is None else _app1_exif(plan.new)
            if len(new) > _MAX_SEGMENT + 2:
                raise broken("JPEG EXIF")
            edits.replace(seg.start, seg.end, new)
    if mode is StripMode.GPS:
        # The extended packet's chunks are one document: a property may straddle two segments.
        packet = b"".join(data[s.payload + _xmp_header(data, s) : s.end] for s in xmp)
        if xmp_has_location(packet):
            for seg in xmp:
                edits.replace(seg.start, seg.end)
    for seg in segments:
        if mode is StripMode.GPS and seg.marker == _APP13:
            _iptc(data, seg, edits)
        elif (mode is StripMode.ALL and _is_other_metadata(data, seg)) or (
            seg not in xmp and _is_stray_location(data, seg)
        ):
            edits.replace(seg.start, seg.end)
    _trailer(data, segments, eoi, edits, mode)
    return edits


def _xmp_header(data: Buffer, seg: _Segment) -> int:
    """Bytes before the packet data: the namespace, then for an extension chunk the GUID (32)
    and the full length and offset (4 + 4), so that the chunks join into one document."""
    if seg.startswith(data, _XMP_ID):
        return len(_XMP_ID)
    return len(_XMP_EXT_ID) + 40


def _is_stray_location(data: Buffer, seg: _Segment) -> bool:
    """XMP location properties or Photoshop resources in a segment that is not image structure
    (SOFn, DHT, DQT, SOS, ...) nor EXIF or ICC: metadata under a damaged or unknown name or
    marker, which a lax reader may still find."""
    if 0xC0 <= seg.marker <= 0xDF or seg.startswith(data, _EXIF_ID):
        return False
    if seg.startswith(data, _ICC_ID):
        return False
    payload = data[seg.payload : seg.end]
    return xmp_has_location(payload) or iptc.holds_resources(payload)


def _iptc(data: Buffer, seg: _Segment, edits: Edits) -> None:
    """Mode gps, APP13: the place datasets cut out of the IPTC record (the segment shrinks), or
    the whole segment dropped when it is left empty, or cannot be read and may hold a place."""
    payload = data[seg.payload : seg.end]
    if not payload.startswith(iptc.PHOTOSHOP_ID):
        if iptc.may_hold_place(payload):
            edits.replace(seg.start, seg.end)
        return
    try:
        new = iptc.strip_irb(payload[len(iptc.PHOTOSHOP_ID) :])
    except iptc.BadIptc:
        if iptc.may_hold_place(payload):
            edits.replace(seg.start, seg.end)
        return
    if new is None:
        return
    if not new:  # only place names in it
        edits.replace(seg.start, seg.end)
        return
    body = iptc.PHOTOSHOP_ID + new
    edits.replace(seg.start, seg.end, b"\xff\xed" + struct.pack(">H", len(body) + 2) + body)


def _is_other_metadata(data: Buffer, seg: _Segment) -> bool:
    """Mode all: every APPn and COM except JFIF (APP0), ICC (APP2), MPF (handled with the
    trailer) and Adobe (APP14, which says how to read the colors); EXIF is handled above."""
    if seg.marker == _COM:
        return True
    if not 0xE1 <= seg.marker <= 0xEF or seg.marker == _APP14:
        return False
    if seg.marker == _APP1 and seg.startswith(data, _EXIF_ID):
        return False
    kept = seg.startswith(data, _ICC_ID) or seg.startswith(data, _MPF_ID)
    return not (seg.marker == _APP2 and kept)


def _trailer(
    data: Buffer, segments: list[_Segment], eoi: int, edits: Edits, mode: StripMode
) -> None:
    """Secondary images after EOI stay only if they carry no metadata and their MPF offsets
    (relative to the MPF segment) are still right after the edits above."""
    if eoi == len(data):
        return
    tail = data[eoi:]
    mpf = next((s for s in segments if s.marker == _APP2 and s.startswith(data, _MPF_ID)), None)
    carries = (
        _EXIF_ID in tail
        or iptc.PHOTOSHOP_ID in tail
        or (xmp_has_location(tail) if mode is StripMode.GPS else b"ns.adobe.com/xap" in tail)
    )
    shifted = mpf is not None and any(
        start > mpf.start and len(new) != end - start for start, end, new in edits.replacements
    )
    if carries or shifted:
        edits.replace(eoi, len(data))
        if mpf is not None:
            edits.replace(mpf.start, mpf.end)
