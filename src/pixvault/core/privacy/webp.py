"""WebP: metadata lives in the top-level ``EXIF`` and ``XMP `` RIFF chunks.

A dropped chunk also clears its VP8X flag (a decoder may refuse a flag without its chunk), and
the RIFF size is rewritten whenever the length changes.
"""

from __future__ import annotations

import struct

from pixvault.core.privacy.blocks import (
    Edits,
    StripMode,
    broken,
    plan_exif,
    starts_with,
    xmp_has_location,
)
from pixvault.core.structure import Buffer

_EXIF_FLAG, _XMP_FLAG = 0x08, 0x04
_IMAGE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP", b"XMP "})
_EXIF_PREFIX = b"Exif\x00\x00"  # some writers keep the JPEG APP1 prefix


def _chunk(fourcc: bytes, data: Buffer) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) & 1 else b"")


def strip(data: Buffer, mode: StripMode) -> Edits:
    n = len(data)
    if n < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise broken("WebP")
    if struct.unpack_from("<I", data, 4)[0] + 8 != n:
        raise broken("WebP")
    edits = Edits(n)
    flags_at: int | None = None
    cleared = 0
    pos, budget = 12, 20_000 + n // 512
    while pos < n and budget:
        budget -= 1
        if pos + 8 > n:
            raise broken("WebP")
        fourcc, size = struct.unpack_from("<4sI", data, pos)
        body, end = pos + 8, pos + 8 + size + (size & 1)
        if body + size > n:
            raise broken("WebP")
        if fourcc == b"VP8X" and size >= 10:
            flags_at = body
        elif fourcc == b"EXIF":
            cleared |= _exif(data, pos, body, body + size, mode, edits)
        elif fourcc == b"XMP " and _drop_xmp(data[body : body + size], mode):
            edits.replace(pos, min(end, n))
            cleared |= _XMP_FLAG
        elif _stray_location(fourcc, data[body : body + size], mode):
            edits.replace(pos, min(end, n))
        pos = end
    if pos < n:
        raise broken("WebP")
    if not edits.replacements:
        return edits
    if flags_at is not None and data[flags_at] & cleared:
        edits.replace(flags_at, flags_at + 1, bytes([data[flags_at] & ~cleared & 0xFF]))
    delta = sum(len(new) - (end - start) for start, end, new in edits.replacements)
    if delta:
        edits.replace(4, 8, struct.pack("<I", n - 8 + delta))
    return edits


def _stray_location(fourcc: bytes, body: bytes, mode: StripMode) -> bool:
    """XMP with a location under an unknown chunk name, which a lax reader may still find."""
    return mode is not StripMode.NONE and fourcc not in _IMAGE_CHUNKS and xmp_has_location(body)


def _drop_xmp(packet: bytes, mode: StripMode) -> bool:
    return mode is StripMode.ALL or (mode is StripMode.GPS and xmp_has_location(packet))


def _exif(data: Buffer, pos: int, body: int, end: int, mode: StripMode, edits: Edits) -> int:
    """Rewrite one EXIF chunk; the VP8X flag to clear if it is dropped (else 0)."""
    prefix = _EXIF_PREFIX if starts_with(data, _EXIF_PREFIX, body, end) else b""
    raw = data[body + len(prefix) : end]
    if edits.exif is None:
        edits.exif = raw
    plan = plan_exif(raw, mode, same_length=False)
    if plan.keep:
        return 0
    chunk_end = min(end + ((end - body) & 1), len(data))
    if plan.new is None:
        edits.replace(pos, chunk_end)
        return _EXIF_FLAG
    edits.replace(pos, chunk_end, _chunk(b"EXIF", prefix + plan.new))
    return 0
