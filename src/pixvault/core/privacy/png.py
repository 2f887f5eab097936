"""PNG: metadata lives in eXIf and the text chunks (tEXt, zTXt, iTXt); rewrite those chunks only.

A rewritten chunk gets a fresh CRC; every other chunk (IDAT, iCCP, ...) is copied as received.
"""

from __future__ import annotations

import re
import struct
import zlib

from pixvault.core import mapped
from pixvault.core.privacy import iptc, tiff
from pixvault.core.privacy.blocks import (
    Edits,
    StripMode,
    broken,
    plan_exif,
    starts_with,
    xmp_has_location,
)
from pixvault.core.structure import Buffer

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT = (b"tEXt", b"zTXt", b"iTXt")
# Keywords naming a place (GPSLatitude, Location, geo:lat, City, Country, ...): gone in mode gps.
_PLACE = re.compile(
    rb"gps|locat|latitude|longitude|geo|coordinates|position|\bcity|countr|province|\bstate\b",
    re.IGNORECASE,
)
# ImageMagick's hex dump of a whole metadata block: EXIF (or APP1, which Pillow also reads as
# EXIF), IPTC, 8BIM (Photoshop resources, with IPTC inside), XMP...
_RAW_PROFILE = re.compile(rb"Raw profile type (\w+)\Z", re.IGNORECASE)
_PROFILES = frozenset({b"exif", b"app1", b"iptc", b"8bim", b"xmp"})
_FRAME_DATA = (b"fdAT",)  # APNG pixels: never searched
_MAX_TEXT = 1 << 20  # inflate at most this much to look inside a compressed chunk
# ... and at most this much for the whole file. Without it a 10 MiB upload of ~10,000 small
# zTXt chunks, each inflating to 1 MiB, cost ~10 GiB of inflating: half a minute of CPU.
_MAX_TEXT_TOTAL = 16 << 20


def _chunk(ctype: bytes, data: Buffer) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def strip(data: Buffer, mode: StripMode) -> Edits:
    edits = Edits(len(data))
    if not starts_with(data, _SIGNATURE):
        raise broken("PNG")
    pos, budget = len(_SIGNATURE), 20_000 + len(data) // 512
    inflate = _Inflater(_MAX_TEXT_TOTAL)
    behind = mapped.Behind(data)
    while budget:
        budget -= 1
        if pos + 12 > len(data):
            raise broken("PNG")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        body, end = pos + 8, pos + 12 + length
        if end > len(data):
            raise broken("PNG")
        if ctype == b"eXIf":
            _exif(data, pos, body, end - 4, mode, edits)
        elif ctype in _TEXT and mode is not StripMode.NONE:
            if mode is StripMode.ALL or _has_place(ctype, data[body : end - 4], inflate):
                edits.replace(pos, end)
        elif ctype == b"IEND":
            return edits
        elif mode is StripMode.GPS and _stray_location(ctype, data, body, end - 4):
            edits.replace(pos, end)
        behind.advance(end)  # chunk headers touch a page every few kB
        pos = end
    raise broken("PNG")


def _stray_location(ctype: bytes, data: Buffer, body: int, end: int) -> bool:
    """XMP with a location in an unknown ancillary chunk (lower-case first letter). The type
    first: pixel data (IDAT, fdAT) is neither copied nor read."""
    return ctype[0] >= 0x61 and ctype not in _FRAME_DATA and xmp_has_location(data[body:end])


def _exif(data: Buffer, pos: int, body: int, end: int, mode: StripMode, edits: Edits) -> None:
    raw = data[body:end]
    if edits.exif is None:
        edits.exif = raw
    plan = plan_exif(raw, mode, same_length=False)
    if not plan.keep:
        edits.replace(pos, end + 4, b"" if plan.new is None else _chunk(b"eXIf", plan.new))


def _has_place(ctype: bytes, body: bytes, inflate: _Inflater) -> bool:
    """Mode gps: a location keyword, XMP with a location property (iTXt XML:com.adobe.xmp or
    any other text), or a raw profile holding one (EXIF with a GPS IFD, IPTC with a place name,
    hex-coded XMP). What cannot be read (bad compression, too big to inflate, past the file's
    inflating budget) counts as a place."""
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or _PLACE.search(keyword):
        return True
    try:
        text = _text(ctype, rest, inflate)
    except (ValueError, zlib.error):
        return True
    if xmp_has_location(text):
        return True
    raw = _RAW_PROFILE.match(keyword)
    return raw is not None and _raw_profile_has_place(raw[1].lower(), text)


def _text(ctype: bytes, rest: bytes, inflate: _Inflater) -> bytes:
    if ctype == b"tEXt":
        return rest
    if ctype == b"zTXt":
        return inflate(rest[1:])
    # iTXt: compression flag, method, language tag \0, translated keyword \0, text
    if len(rest) < 2:
        raise ValueError("short iTXt")
    flag, tail = rest[0], rest[2:]
    parts = tail.split(b"\x00", 2)
    if len(parts) != 3:
        raise ValueError("short iTXt")
    return inflate(parts[2]) if flag else parts[2]


class _Inflater:
    """Inflates compressed text chunks, each up to ``_MAX_TEXT``, all within ``left`` bytes."""

    def __init__(self, left: int) -> None:
        self.left = left

    def __call__(self, packed: bytes) -> bytes:
        if self.left <= 0:
            raise ValueError("no inflating budget left to check the text")
        inflater = zlib.decompressobj()
        text = inflater.decompress(packed, min(_MAX_TEXT, self.left))
        self.left -= len(text)
        if inflater.unconsumed_tail:
            raise ValueError("text too large to check")
        return text


def _raw_profile_has_place(kind: bytes, text: bytes) -> bool:
    """``\\nexif\\n   LENGTH\\nHEX...``: decode and look for a GPS IFD in EXIF, a place in IPTC
    and a location property in XMP (what cannot be decoded counts as yes). Other profiles (ICC)
    are not looked into."""
    if kind not in _PROFILES:
        return False
    lines = text.strip().split(b"\n")
    try:
        blob = bytes.fromhex(b"".join(lines[2:]).decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return True
    if kind in (b"iptc", b"8bim"):
        return iptc.has_place(blob)
    if kind == b"xmp":
        return xmp_has_location(blob)
    start = blob.find(b"II*\x00")
    start = blob.find(b"MM\x00*") if start < 0 else start
    try:
        return tiff.has_gps(blob[max(start, 0) :])
    except tiff.BadTiff:
        return True
