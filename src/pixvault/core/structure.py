"""Structural walkers: prove an upload is a *whole* file of its sniffed format.

Pillow's header parse stops at the first frame, so a file cut off mid-upload, or a valid header
glued to arbitrary bytes, would otherwise pass. These walkers visit every segment, chunk, block
or box without decoding a pixel. They work on ``bytes`` or a read-only ``mmap`` (both support
slicing, ``find``, ``re`` and ``struct.unpack_from``), and they jump over payloads with C-level
searches so a 50 MB file costs milliseconds, not a Python loop per byte.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass

from pixvault.core import mapped
from pixvault.core.errors import TooLarge, UnsupportedType

Buffer = bytes | mmap.mmap

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_JPEG_FILL = re.compile(rb"\xff+")
# The end of entropy-coded data: an FF that is neither byte stuffing (FF00) nor a restart
# marker (FFD0-FFD7). A literal first byte lets ``re`` scan at memchr-like speed.
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_PNG_MAX_CHUNK = 0x7FFFFFFF


@dataclass(frozen=True, slots=True)
class Structure:
    """What the walk learned: frame count and the canvas every frame fits in (0 = unknown)."""

    frames: int
    extent: tuple[int, int] = (0, 0)


class Steps:
    """Caps loop iterations: a file made of millions of tiny blocks must not pin a CPU.

    Real files stay far below the cap: GIF data comes in sub-blocks of up to 255 bytes, so it
    gets one step per 128 bytes; other formats use few, large blocks (one per 512 bytes).
    """

    __slots__ = ("left", "what")

    def __init__(self, size: int, what: str, bytes_per_step: int = 512) -> None:
        self.left = 20_000 + size // bytes_per_step
        self.what = what

    def tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise UnsupportedType(f"{self.what} has too many blocks")


def broken(what: str) -> UnsupportedType:
    return UnsupportedType(f"truncated or corrupt {what}")


def _too_many_frames(max_frames: int) -> TooLarge:
    return TooLarge(f"Animation has too many frames (the limit is {max_frames})")


def walk_jpeg(buf: Buffer) -> Structure:
    """SOI, then length-prefixed segments; after each SOS skip entropy data up to the next
    marker (progressive files have many scans); must reach EOI. Bytes after EOI are ignored."""
    n = len(buf)
    if buf[:2] != b"\xff\xd8":
        raise broken("JPEG")
    pos = 2
    steps = Steps(n, "JPEG")
    behind = mapped.Behind(buf)  # restart markers can come every few hundred bytes
    while True:
        steps.tick()
        behind.advance(pos)
        fill = _JPEG_FILL.match(buf, pos)
        if fill is None or fill.end() >= n:
            raise broken("JPEG")
        marker = buf[fill.end()]
        pos = fill.end() + 1
        if marker == 0xD9:  # EOI
            return Structure(frames=1)
        if marker == 0x01:  # TEM: standalone
            continue
        if 0xD0 <= marker <= 0xD7:  # RSTn: entropy-coded data continues
            pos = _jpeg_scan_end(buf, pos)
            continue
        if marker in (0x00, 0xD8) or pos + 2 > n:
            raise broken("JPEG")
        (length,) = struct.unpack_from(">H", buf, pos)
        if length < 2 or pos + length > n:
            raise broken("JPEG")
        pos += length
        if marker == 0xDA:  # SOS
            pos = _jpeg_scan_end(buf, pos)


def _jpeg_scan_end(buf: Buffer, pos: int) -> int:
    found = mapped.search(_JPEG_SCAN_END, buf, pos)  # releases the mapped pages it passed
    if found < 0:
        raise broken("JPEG")
    return found


def walk_png(buf: Buffer, *, max_frames: int) -> Structure:
    """IHDR first, every chunk's CRC right, at least one IDAT, and IEND reached.

    Bytes after IEND are ignored, as decoders do. Frames: ``acTL`` num_frames (APNG) or 1.
    """
    n = len(buf)
    if buf[:8] != PNG_SIGNATURE:
        raise broken("PNG")
    pos = 8
    frames = 1
    ext_w = ext_h = 0
    seen_idat = False
    steps = Steps(n, "PNG")
    behind = mapped.Behind(buf)  # libpng writes 8 kB IDAT chunks: a header every two pages
    while True:
        steps.tick()
        behind.advance(pos)
        if pos + 12 > n:
            raise broken("PNG")
        length, ctype = struct.unpack_from(">I4s", buf, pos)
        data = pos + 8
        end = data + length
        if length > _PNG_MAX_CHUNK or end + 4 > n:
            raise broken("PNG")
        # crc32 reads straight from the mapping: no copy even for a 50 MB IDAT, and the
        # pages it passed are released (core.mapped).
        if mapped.crc32(buf, pos + 4, end) != struct.unpack_from(">I", buf, end)[0]:
            raise UnsupportedType("corrupt PNG: chunk checksum mismatch")
        if (pos == 8) != (ctype == b"IHDR") or (ctype == b"IHDR" and length != 13):
            raise broken("PNG")
        if ctype == b"IHDR":
            ext_w, ext_h = struct.unpack_from(">II", buf, data)
        elif ctype == b"acTL" and length == 8:
            (frames,) = struct.unpack_from(">I", buf, data)
            if frames == 0:
                raise broken("PNG")
            if frames > max_frames:
                raise _too_many_frames(max_frames)
        elif ctype == b"fcTL" and length == 26:
            w, h, x, y = struct.unpack_from(">IIII", buf, data + 4)
            ext_w, ext_h = max(ext_w, x + w), max(ext_h, y + h)
        elif ctype == b"IDAT":
            seen_idat = True
        elif ctype == b"IEND":
            if not seen_idat:
                raise broken("PNG")
            return Structure(frames=frames, extent=(ext_w, ext_h))
        pos = end + 4


def walk_gif(buf: Buffer, *, max_frames: int) -> Structure:
    """Header, screen descriptor, color table, then extension / image blocks up to the trailer.

    The extent covers every frame's offset + size: a 1×1 screen with a frame placed at
    (60000, 60000) makes a decoder allocate the whole canvas.
    """
    n = len(buf)
    if n < 13 or buf[:6] not in (b"GIF87a", b"GIF89a"):
        raise broken("GIF")
    ext_w, ext_h, flags = struct.unpack_from("<HHB", buf, 6)
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    frames = 0
    steps = Steps(n, "GIF", bytes_per_step=128)
    while pos < n:
        steps.tick()
        block = buf[pos]
        if block == 0x3B:  # trailer
            if frames == 0:
                raise UnsupportedType("GIF has no image")
            return Structure(frames=frames, extent=(ext_w, ext_h))
        if block == 0x21:  # extension: label, then data sub-blocks
            pos = _skip_sub_blocks(buf, pos + 2, steps)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > n:
                break
            x, y, w, h, flags = struct.unpack_from("<HHHHB", buf, pos + 1)
            pos += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
            pos = _skip_sub_blocks(buf, pos + 1, steps)  # +1: LZW minimum code size
            frames += 1
            if frames > max_frames:
                raise _too_many_frames(max_frames)
            ext_w, ext_h = max(ext_w, x + w), max(ext_h, y + h)
        else:
            raise broken("GIF")
    raise broken("GIF")


def _skip_sub_blocks(buf: Buffer, pos: int, steps: Steps) -> int:
    n = len(buf)
    while pos < n:
        steps.tick()
        size = buf[pos]
        pos += 1
        if size == 0:
            return pos
        pos += size
    raise broken("GIF")


def _riff_chunks(buf: Buffer, start: int, end: int, steps: Steps) -> list[tuple[bytes, int, int]]:
    """(fourcc, data start, data end) for chunks that exactly tile ``buf[start:end]``."""
    chunks: list[tuple[bytes, int, int]] = []
    pos = start
    while pos < end:
        steps.tick()
        if pos + 8 > end:
            raise broken("WebP")
        fourcc, size = struct.unpack_from("<4sI", buf, pos)
        data = pos + 8
        if data + size > end:
            raise broken("WebP")
        chunks.append((fourcc, data, data + size))
        pos = data + size + (size & 1)
    if pos != end:
        raise broken("WebP")
    return chunks


def _u24(buf: Buffer, pos: int) -> int:
    lo, hi = struct.unpack_from("<HB", buf, pos)
    return int(lo) | int(hi) << 16


def walk_webp(buf: Buffer, *, max_frames: int) -> Structure:
    """RIFF size must equal the file length; chunks must tile it; there must be a bitstream
    (VP8 / VP8L, at top level or inside every ANMF frame). Frames: ANMF count or 1."""
    n = len(buf)
    if n < 12 or buf[:4] != b"RIFF" or buf[8:12] != b"WEBP":
        raise broken("WebP")
    if struct.unpack_from("<I", buf, 4)[0] + 8 != n:
        raise UnsupportedType("truncated or corrupt WebP: RIFF size does not match file length")
    frames = 0
    has_bitstream = False
    ext_w = ext_h = 0
    steps = Steps(n, "WebP")
    for fourcc, data, end in _riff_chunks(buf, 12, n, steps):
        if fourcc in (b"VP8 ", b"VP8L"):
            has_bitstream = True
        elif fourcc == b"VP8X" and end - data >= 10:
            ext_w, ext_h = 1 + _u24(buf, data + 4), 1 + _u24(buf, data + 7)
        elif fourcc == b"ANMF":
            if end - data < 16:
                raise broken("WebP")
            inner = {c for c, _, _ in _riff_chunks(buf, data + 16, end, steps)}
            if not inner & {b"VP8 ", b"VP8L"}:
                raise broken("WebP")
            frames += 1
            if frames > max_frames:
                raise _too_many_frames(max_frames)
            x, y = 2 * _u24(buf, data), 2 * _u24(buf, data + 3)
            w, h = 1 + _u24(buf, data + 6), 1 + _u24(buf, data + 9)
            ext_w, ext_h = max(ext_w, x + w), max(ext_h, y + h)
    if not (has_bitstream or frames):
        raise UnsupportedType("WebP has no image data")
    return Structure(frames=frames or 1, extent=(ext_w, ext_h))


def webp_header_size(head: bytes) -> tuple[int, int] | None:
    """Canvas size from the first 30 bytes, so it can be checked *before* Pillow's WebP
    decoder, which allocates the whole canvas when it is created."""
    if len(head) < 30:
        return None
    fourcc = head[12:16]
    if fourcc == b"VP8X":
        return 1 + _u24(head, 24), 1 + _u24(head, 27)
    if fourcc == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack_from("<HH", head, 26)
        return w & 0x3FFF, h & 0x3FFF
    if fourcc == b"VP8L" and head[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", head, 21)
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


Box = tuple[bytes, int, int]
"""An ISO-BMFF box (AVIF, HEIF): (type, payload start, box end)."""


def bmff_boxes(buf: Buffer, start: int, end: int, steps: Steps) -> list[Box]:
    """Boxes that exactly tile ``buf[start:end]``; size 0 runs to ``end``, size 1 is 64-bit.
    One reader for the AVIF and HEIF walkers and the HEIF metadata stripper."""
    found: list[Box] = []
    pos = start
    while pos < end:
        steps.tick()
        if pos + 8 > end:
            raise broken(steps.what)
        size, btype = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise broken(steps.what)
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise broken(steps.what)
        found.append((btype, pos + header, pos + size))
        pos += size
    return found


def walk_avif(buf: Buffer) -> Structure:
    """Top-level ISO-BMFF boxes must exactly tile the file: ``ftyp`` first, then ``meta`` and
    ``mdat`` somewhere. Sequences are reported as one frame."""
    types = [btype for btype, _, _ in bmff_boxes(buf, 0, len(buf), Steps(len(buf), "AVIF"))]
    if not types or types[0] != b"ftyp" or b"meta" not in types or b"mdat" not in types:
        raise broken("AVIF")
    return Structure(frames=1)
