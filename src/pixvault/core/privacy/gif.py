"""GIF: metadata lives in extension blocks (comments, and application extensions for XMP and
IPTC); drop those blocks whole, copy every other byte (frames, palettes, graphic control,
looping, the ICC profile) as received.

The walk is the one ``core.structure.walk_gif`` does: header, logical screen descriptor, global
color table, then extensions (0x21) and images (0x2C), each followed by data sub-blocks, up to
the trailer (0x3B). Runs of full 255-byte sub-blocks (how encoders write image data) are skipped
at C speed, so even a large animation costs a few milliseconds.

XMP is written raw, not in sub-blocks: its bytes *read* as sub-block lengths, and a "magic
trailer" (0x01, 0xFF ... 0x00, 0x00) brings any such walk to the terminator. So the packet is
searched both as raw bytes and as joined sub-blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from pixvault.core.privacy import iptc
from pixvault.core.privacy.blocks import Edits, StripMode, broken, xmp_has_location
from pixvault.core.structure import Buffer

_EXTENSION, _IMAGE, _TRAILER = 0x21, 0x2C, 0x3B
_GRAPHIC_CONTROL, _PLAIN_TEXT, _COMMENT, _APPLICATION = 0xF9, 0x01, 0xFE, 0xFF
_XMP = b"XMP DataXMP"
_IPTC = (b"MGK8BIM0000", b"MGKIPTC0000")  # ImageMagick: Photoshop resources, a bare IIM record
_ICC = b"ICCRGBG1012"
_LOOPING = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_MAX_RUN = 1 << 14  # full sub-blocks looked at in one slice (the first slice looks at 16)


@dataclass(frozen=True, slots=True)
class _Extension:
    label: int
    start: int  # the 0x21 introducer
    end: int  # after the block terminator
    blocks: list[tuple[int, int]]  # each data sub-block's (start, end), without its size byte

    def app_id(self, data: Buffer) -> bytes:
        """An application extension's identifier and authentication code (11 bytes)."""
        if self.label != _APPLICATION or not self.blocks:
            return b""
        start, end = self.blocks[0]
        return data[start:end] if end - start == 11 else b""

    def contents(self, data: Buffer) -> tuple[bytes, bytes]:
        """(after the first sub-block as raw bytes, the sub-blocks' data joined)."""
        first = self.blocks[0][1] if self.label == _APPLICATION and self.blocks else self.start + 2
        return data[first : self.end], b"".join(data[s:e] for s, e in self.blocks)


class _Walk:
    __slots__ = ("budget", "data")

    def __init__(self, data: Buffer) -> None:
        self.data = data
        self.budget = 20_000 + len(data) // 128

    def tick(self) -> None:
        self.budget -= 1
        if self.budget < 0:
            raise broken("GIF")

    def skip(self, pos: int) -> int:
        """Past the sub-blocks at ``pos`` and their terminator."""
        data, n = self.data, len(self.data)
        run = 16
        while True:
            self.tick()
            if pos >= n:
                raise broken("GIF")
            size = data[pos]
            if size == 0:
                return pos + 1
            if size == 0xFF:  # a run of full sub-blocks: their size bytes are 256 apart
                sizes = data[pos : min(n, pos + 256 * run) : 256]
                pos += 256 * (len(sizes) - len(sizes.lstrip(b"\xff")))
                run = min(2 * run, _MAX_RUN)
            else:
                pos += size + 1

    def blocks(self, pos: int) -> tuple[list[tuple[int, int]], int]:
        """Each sub-block's data span, and where the terminator ends (extensions are small)."""
        data, n = self.data, len(self.data)
        found: list[tuple[int, int]] = []
        while True:
            self.tick()
            if pos >= n:
                raise broken("GIF")
            size = data[pos]
            if size == 0:
                return found, pos + 1
            found.append((pos + 1, pos + 1 + size))
            pos += size + 1


def _table(flags: int) -> int:
    """The size of a color table that ``flags`` announces (0 when absent)."""
    return 3 * (2 << (flags & 7)) if flags & 0x80 else 0


def strip(data: Buffer, mode: StripMode) -> Edits:
    n = len(data)
    if n < 13 or data[:6] not in (b"GIF87a", b"GIF89a"):
        raise broken("GIF")
    edits = Edits(n)
    walk = _Walk(data)
    pos = 13 + _table(data[10])
    while True:
        walk.tick()
        if pos >= n:
            raise broken("GIF")
        block = data[pos]
        if block == _TRAILER:
            break
        if block == _EXTENSION:
            if pos + 2 > n:
                raise broken("GIF")
            blocks, end = walk.blocks(pos + 2)
            ext = _Extension(data[pos + 1], pos, end, blocks)
            if mode is not StripMode.NONE and _drop(data, ext, mode):
                edits.replace(pos, end)
            pos = end
        elif block == _IMAGE:
            if pos + 10 > n:
                raise broken("GIF")
            pos += 10 + _table(data[pos + 9])
            pos = walk.skip(pos + 1)  # +1: the LZW minimum code size
        else:
            raise broken("GIF")
    tail = data[pos + 1 :]
    if tail and mode is not StripMode.NONE and _tail_holds_metadata(tail, mode):
        edits.replace(pos + 1, n)  # after the trailer: read by no decoder, searched by some
    return edits


def _drop(data: Buffer, ext: _Extension, mode: StripMode) -> bool:
    """Mode all: comments, XMP and IPTC; both modes: any block (but the ICC profile, looping
    and the rendered ones) holding a location, whatever its name, as a lax reader may still
    find it: an XMP location property, or an IPTC place dataset or resource."""
    if ext.label in (_GRAPHIC_CONTROL, _PLAIN_TEXT):
        return False
    app_id = ext.app_id(data)
    if app_id == _ICC or app_id in _LOOPING:
        return False
    if mode is StripMode.ALL and (ext.label == _COMMENT or app_id == _XMP or app_id in _IPTC):
        return True
    raw, joined = ext.contents(data)
    if app_id in _IPTC:
        return iptc.has_place(joined)
    return iptc.may_hold_place(raw) or iptc.may_hold_place(joined)


def _tail_holds_metadata(tail: bytes, mode: StripMode) -> bool:
    if xmp_has_location(tail) or iptc.PHOTOSHOP_ID in tail:
        return True
    return mode is StripMode.ALL and b"ns.adobe.com/xap" in tail
