"""Real and deliberately broken image bytes for tests across the project.

Everything is generated with Pillow (or assembled by hand where Pillow refuses to write
something hostile). The one set of committed binaries, the real-world corpus in tests/corpus/,
is made by its own script (tests/corpus/make_corpus.py) from the same tools.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, features

import pixvault.core.media  # noqa: F401  (registers Pillow's HEIF plugin, which can also write)

Color = tuple[int, int, int]

AVIF_SUPPORTED = features.check("avif")
_ANIMATED = {"GIF", "PNG", "WEBP", "AVIF"}
_EXIF_CAPABLE = {"JPEG", "PNG", "WEBP", "AVIF", "HEIF"}


def _frame(size: tuple[int, int], color: Color, noise: float) -> Image.Image:
    """A solid color blended with Gaussian noise: JPEGs of it are realistically large."""
    base = Image.new("RGB", size, color)
    if noise <= 0:
        return base
    grain = Image.effect_noise(size, 64).convert("RGB")
    return Image.blend(base, grain, min(noise, 1.0))


def make_image(
    fmt: str = "PNG",
    size: tuple[int, int] = (64, 48),
    *,
    color: Color = (200, 30, 30),
    frames: int = 1,
    exif_orientation: int | None = None,
    quality: int = 85,
    noise: float = 0.3,
    progressive: bool = False,
) -> bytes:
    """Encode a real image. ``frames > 1`` gives an animated GIF / WebP / APNG (/ AVIF).

    ``"HEIF"`` writes HEVC HEIC (pillow-heif, x265); ``frames > 1`` there is a burst of
    top-level images, and an EXIF orientation becomes ``irot``/``imir`` boxes.

    ``noise`` is the share of random grain (0 = flat color, 1 = pure noise).
    """
    fmt = fmt.upper()
    if fmt == "AVIF" and not AVIF_SUPPORTED:
        raise ValueError("this Pillow has no AVIF support")
    if frames > 1 and fmt not in _ANIMATED | {"HEIF"}:
        raise ValueError(f"{fmt} cannot be animated")
    if exif_orientation is not None and fmt not in _EXIF_CAPABLE:
        raise ValueError(f"{fmt} cannot carry EXIF")
    # Every frame differs: Pillow merges identical consecutive frames when saving.
    images = [
        _frame(size, ((color[0] + 40 * i) % 256, color[1], (color[2] + 90 * i) % 256), noise)
        for i in range(frames)
    ]
    options: dict[str, object] = {}
    if fmt in {"JPEG", "WEBP", "AVIF", "HEIF"}:
        options["quality"] = quality
    if progressive:
        options["progressive"] = True
    if exif_orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif.tobytes()
    if frames > 1 and fmt == "HEIF":
        options.update(save_all=True, append_images=images[1:])
    elif frames > 1:
        options.update(save_all=True, append_images=images[1:], duration=100, loop=0)
    out = io.BytesIO()
    images[0].save(out, fmt, **options)
    return out.getvalue()


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def png_with_header_size(width: int, height: int) -> bytes:
    """A tiny, CRC-valid PNG whose IHDR claims ``width``×``height``: a pixel-flood bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def png_set_chunk(png: bytes, ctype: bytes, data: bytes) -> bytes:
    """Replace the first ``ctype`` chunk's data, recomputing its CRC (e.g. to forge acTL)."""
    pos = png.index(ctype) - 4
    (length,) = struct.unpack_from(">I", png, pos)
    return png[:pos] + _png_chunk(ctype, data) + png[pos + 12 + length :]


def gif_with_frames(count: int, *, last_offset: tuple[int, int] = (0, 0)) -> bytes:
    """A hand-built GIF of ``count`` 1×1 frames on a 1×1 screen; the last frame can be
    placed far outside the screen (which makes decoders grow the canvas)."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\xff\xff\xff\x00\x00\x00"
    pixel = b"\x02\x02\x44\x01\x00"  # LZW min code size 2, one sub-block, terminator

    def frame(x: int, y: int) -> bytes:
        return b"\x2c" + struct.pack("<HHHHB", x, y, 1, 1, 0) + pixel

    body = b"".join(frame(0, 0) for _ in range(count - 1)) + frame(*last_offset)
    return header + body + b"\x3b"


def webp_with_canvas(webp: bytes, width: int, height: int) -> bytes:
    """Rewrite the VP8X canvas size of an extended WebP (animated or with EXIF)."""
    if webp[12:16] != b"VP8X":
        raise ValueError("not an extended (VP8X) WebP")
    size = struct.pack("<I", width - 1)[:3] + struct.pack("<I", height - 1)[:3]
    return webp[:24] + size + webp[30:]


def heif_burst(*sizes: tuple[int, int]) -> bytes:
    """A HEIC holding one top-level image per size, the first primary (as burst shots are)."""
    frames = [_frame(size, (30, 90 + 40 * i, 200), 0.0) for i, size in enumerate(sizes)]
    out = io.BytesIO()
    frames[0].save(out, "HEIF", save_all=True, append_images=frames[1:], quality=50)
    return out.getvalue()


def heif_set_ispe(heic: bytes, width: int, height: int) -> bytes:
    """Rewrite every ``ispe`` box: the image size a HEIF claims for its items."""
    out = bytearray(heic)
    pos = out.find(b"ispe")
    while pos != -1:
        struct.pack_into(">II", out, pos + 8, width, height)  # after type, version and flags
        pos = out.find(b"ispe", pos + 4)
    return bytes(out)


def heif_set_major_brand(heic: bytes, brand: bytes) -> bytes:
    """Rewrite the ``ftyp`` major brand (e.g. ``mif1``: generic HEIF, served as image/heif)."""
    if heic[4:8] != b"ftyp" or len(brand) != 4:
        raise ValueError("not an ISO-BMFF file, or not a four-character brand")
    return heic[:8] + brand + heic[12:]


def heif_box(data: bytes, btype: bytes) -> tuple[int, int]:
    """(offset, size) of the first top-level box of type ``btype``."""
    pos = 0
    while pos + 8 <= len(data):
        size, found = struct.unpack_from(">I4s", data, pos)
        if found == btype:
            return pos, size
        if size < 8:
            break
        pos += size
    raise ValueError(f"no top-level {btype!r} box")


def heif_open_ended_mdat(heic: bytes) -> bytes:
    """Make ``mdat`` (the last box) run "to the end of the file" (size 0), as streaming
    writers do: cutting such a file leaves the boxes tiling it, so only ``iloc`` shows it."""
    pos, size = heif_box(heic, b"mdat")
    if pos + size != len(heic):
        raise ValueError("mdat is not the last box")
    return heic[:pos] + struct.pack(">I", 0) + heic[pos + 4 :]


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first ``keep`` share of the bytes: an interrupted upload."""
    return data[: int(len(data) * keep)]


def corrupt_png_crc(png: bytes) -> bytes:
    """Flip a byte inside the first IDAT's data, leaving its CRC stale."""
    pos = png.index(b"IDAT")
    (length,) = struct.unpack_from(">I", png, pos - 4)
    target = pos + 4 + length // 2
    return png[:target] + bytes([png[target] ^ 0xFF]) + png[target + 1 :]


def webp_bad_riff_size(webp: bytes) -> bytes:
    """Claim 4 more bytes in the RIFF header than the file has."""
    (size,) = struct.unpack_from("<I", webp, 4)
    return webp[:4] + struct.pack("<I", size + 4) + webp[8:]


def gif_without_trailer(gif: bytes) -> bytes:
    if not gif.endswith(b"\x3b"):
        raise ValueError("GIF does not end with a trailer")
    return gif[:-1]


def jpeg_without_eoi(jpeg: bytes) -> bytes:
    end = jpeg.rindex(b"\xff\xd9")
    return jpeg[:end]


SVG_BYTES = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>\n'
)
HTML_BYTES = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
TEXT_BYTES = b"just some plain text, not an image\n"
PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _pillow_bytes(fmt: str) -> bytes:
    out = io.BytesIO()
    _frame((32, 24), (10, 120, 200), 0.3).save(out, fmt)
    return out.getvalue()


def make_tiff() -> bytes:
    return _pillow_bytes("TIFF")


def make_bmp() -> bytes:
    return _pillow_bytes("BMP")


def make_ico() -> bytes:
    return _pillow_bytes("ICO")
