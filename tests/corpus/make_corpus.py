"""Make the real-world corpus: tricky but ordinary files, each with the verdict it must get.

    .venv/bin/python -m tests.corpus.make_corpus   # rewrites tests/corpus/files/ and corpus.json

Deterministic: no clock, no randomness, pixels drawn from gradients. Encoders differ between
releases (libjpeg-turbo, zlib, libwebp, x265, libavif), so the bytes are only reproducible with
the Pillow and pillow-heif recorded under "generator"; tests/core/test_corpus.py rebuilds and
compares them when those versions are installed. The verdicts are written here by hand, never
taken from pixvault's own answer, so the tests that read them can disagree with the code.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

import PIL
import pillow_heif
from PIL import ExifTags, Image, ImageDraw, features

import pixvault.core.media  # noqa: F401  (registers Pillow's HEIF plugin: the writer too)

HERE = Path(__file__).resolve().parent
CORPUS_DIR = HERE / "files"
MANIFEST = HERE / "corpus.json"
SIZE = (60, 40)  # landscape, so a 90° EXIF rotation visibly swaps width and height

Verdict = Literal["accept", "unsupported_type", "too_large"]


class Entry(TypedDict):
    verdict: Verdict
    format: str  # the format the file is, or claims to be when it is refused
    mime: str | None  # accepted files only
    width: int | None  # as displayed (EXIF orientation / irot applied); accepted files only
    height: int | None
    frames: int | None
    note: str
    sha256: NotRequired[str]


def _accept(fmt: str, mime: str, size: tuple[int, int], note: str, frames: int = 1) -> Entry:
    return Entry(
        verdict="accept",
        format=fmt,
        mime=mime,
        width=size[0],
        height=size[1],
        frames=frames,
        note=note,
    )


def _refuse(verdict: Verdict, fmt: str, note: str) -> Entry:
    return Entry(
        verdict=verdict, format=fmt, mime=None, width=None, height=None, frames=None, note=note
    )


# --- pixels and metadata ----------------------------------------------------------------


def picture(size: tuple[int, int] = SIZE) -> Image.Image:
    """A gradient with a dark block in the stored top-left corner (shows the orientation)."""
    ramp = Image.linear_gradient("L").resize(size)
    bands = (ramp, ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT), Image.new("L", size, 140))
    image = Image.merge("RGB", bands)
    ImageDraw.Draw(image).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=(20, 20, 20))
    return image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def gps_exif(orientation: int | None = None) -> Image.Exif:
    """A camera-like EXIF block with a real GPS position (the Eiffel Tower, 35 m up)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PixvaultCam"
    exif[ExifTags.Base.Model] = "Corpus 1"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.52)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.2)
    gps[ExifTags.GPS.GPSAltitudeRef] = b"\x00"
    gps[ExifTags.GPS.GPSAltitude] = 35.0
    return exif


XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' exif:GPSLatitude="48,51.492N" exif:GPSLongitude="2,17.67E">'
    b"<dc:creator><rdf:Seq><rdf:li>Jane Photographer</rdf:li></rdf:Seq></dc:creator>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>\n"
    b'<?xpacket end="w"?>'
)

POLYGLOT_HTML = b"<html><body><script>alert(document.domain)</script></body></html>"


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)


ADOBE_RGB_DESCRIPTION = "Adobe RGB (1998) compatible (pixvault corpus)"


def adobe_rgb_icc() -> bytes:
    """An ICC v2 display profile with the Adobe RGB (1998) primaries, white point and 2.2
    gamma, built from the published numbers (Adobe's own file is not redistributable)."""
    text = ADOBE_RGB_DESCRIPTION.encode("ascii") + b"\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 3 + 67)
    trc = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00"  # γ 563/256
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", desc),
        (b"cprt", b"text\x00\x00\x00\x00No copyright, use freely\x00"),
        (b"wtpt", _xyz(0.95045, 1.0, 1.08905)),
        (b"rXYZ", _xyz(0.60974, 0.31111, 0.01947)),
        (b"gXYZ", _xyz(0.20528, 0.62567, 0.06087)),
        (b"bXYZ", _xyz(0.14919, 0.06322, 0.74457)),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        padded = body + bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += padded
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + bytes(4)
        + bytes.fromhex("02100000")
        + b"mntrRGB XYZ "
        + struct.pack(">6H", 1999, 6, 3, 0, 0, 0)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)  # rendering intent: perceptual
        + _xyz(0.9642, 1.0, 0.8249)[8:]  # PCS illuminant: D50
        + bytes(48)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def rgb48_png(size: tuple[int, int] = SIZE) -> bytes:
    """16 bits per channel RGB (as scanners and raw converters write); Pillow cannot write it."""
    width, height = size
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += struct.pack(">HHH", x * 65535 // width, y * 65535 // height, 0x8000)
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + _png_chunk(b"IEND", b"")
    )


BOMB_SIDE = 20_000


def bomb_png() -> bytes:
    """20000×20000 one-bit pixels of one colour: 50 MB of zero rows deflate to ~50 KB
    (deflate cannot do better than ~1:1000), 400 megapixels for whoever decodes it."""
    row = bytes(1 + BOMB_SIDE // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(BOMB_SIDE)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", BOMB_SIDE, BOMB_SIDE, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def palette_png() -> bytes:
    image = picture().quantize(16)
    ImageDraw.Draw(image).ellipse((20, 5, 55, 35), fill=0)
    palette = image.getpalette() or []
    palette[0:3] = [0, 0, 0]
    image.putpalette(palette)
    return _encode(image, "PNG", transparency=0)  # a tRNS chunk: index 0 is see-through


def animated(fmt: str, **options: object) -> bytes:
    """Three frames, each different (Pillow merges identical consecutive frames)."""
    first = picture()
    rest = [
        first.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        first.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    ]
    return _encode(first, fmt, save_all=True, append_images=rest, duration=100, loop=0, **options)


def orientation_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return exif


def oriented_jpeg(orientation: int) -> bytes:
    return _encode(picture(), "JPEG", quality=80, exif=orientation_exif(orientation).tobytes())


def heic(**options: object) -> bytes:
    return _encode(picture(), "HEIF", quality=60, **options)


def open_ended_mdat(data: bytes) -> bytes:
    """``mdat`` (last) with size 0 = "to the end of the file", as streaming writers do."""
    pos = len(data)
    for pos in range(len(data) - 8, -1, -1):
        if data[pos + 4 : pos + 8] == b"mdat" and struct.unpack_from(">I", data, pos)[0] == (
            len(data) - pos
        ):
            break
    return data[:pos] + bytes(4) + data[pos + 4 :]


def with_major_brand(data: bytes, brand: bytes) -> bytes:
    return data[:8] + brand + data[12:]


def cut(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


# --- the corpus ---------------------------------------------------------------------------

Maker = Callable[[], bytes]
W, H = SIZE


def corpus() -> dict[str, tuple[Maker, Entry]]:
    """name -> (how to make it, what pixvault must answer)."""
    jpeg = "image/jpeg"
    items: dict[str, tuple[Maker, Entry]] = {
        "cmyk.jpg": (
            lambda: _encode(picture().convert("CMYK"), "JPEG", quality=80),
            _accept("JPEG", jpeg, SIZE, "CMYK JPEG with an Adobe APP14 marker (print exports)"),
        ),
        "adobe-rgb-icc.jpg": (
            lambda: _encode(picture(), "JPEG", quality=80, icc_profile=adobe_rgb_icc()),
            _accept("JPEG", jpeg, SIZE, "JPEG with an embedded Adobe RGB (1998) ICC profile"),
        ),
        "progressive.jpg": (
            lambda: _encode(picture(), "JPEG", quality=80, progressive=True),
            _accept("JPEG", jpeg, SIZE, "progressive JPEG: many SOS scans"),
        ),
        "gps-xmp.jpg": (
            lambda: _encode(picture(), "JPEG", quality=80, exif=gps_exif().tobytes(), xmp=XMP),
            _accept("JPEG", jpeg, SIZE, "JPEG with a GPS position in EXIF and in XMP"),
        ),
        "polyglot.jpg": (
            lambda: _encode(picture(), "JPEG", quality=80, comment=POLYGLOT_HTML),
            _accept(
                "JPEG",
                jpeg,
                SIZE,
                "JPEG/HTML polyglot: <html><script> in a COM segment. A valid JPEG, so "
                "accepted; it is served as image/jpeg with nosniff and a sandbox CSP, so no "
                "browser runs the script",
            ),
        ),
        "rgb48.png": (
            rgb48_png,
            _accept("PNG", "image/png", SIZE, "16 bits per channel RGB PNG"),
        ),
        "palette-trns.png": (
            palette_png,
            _accept("PNG", "image/png", SIZE, "palette PNG with a tRNS (transparent) entry"),
        ),
        "animated.gif": (
            lambda: animated("GIF"),
            _accept("GIF", "image/gif", SIZE, "animated GIF, 3 frames", frames=3),
        ),
        "animated.webp": (
            lambda: animated("WEBP", quality=70),
            _accept("WEBP", "image/webp", SIZE, "animated WebP, 3 frames", frames=3),
        ),
        "gps.heic": (
            lambda: heic(exif=gps_exif().tobytes()),
            _accept("HEIF", "image/heic", SIZE, "HEIC (iPhone style) with a GPS IFD in EXIF"),
        ),
        "rotated-6.heic": (
            lambda: heic(exif=orientation_exif(6).tobytes()),
            _accept(
                "HEIF",
                "image/heic",
                (H, W),
                "HEIC turned 90° by an irot box (pillow-heif moves EXIF orientation 6 there)",
            ),
        ),
        "mif1.heif": (
            lambda: with_major_brand(heic(), b"mif1"),
            _accept(
                "HEIF",
                "image/heif",
                SIZE,
                "HEVC HEIF whose major brand is the generic mif1: served as image/heif",
            ),
        ),
        "truncated.jpg": (
            lambda: cut(_encode(picture(), "JPEG", quality=80)),
            _refuse("unsupported_type", "JPEG", "JPEG cut at 60%: no EOI (interrupted upload)"),
        ),
        "truncated.png": (
            lambda: cut(_encode(picture(), "PNG")),
            _refuse("unsupported_type", "PNG", "PNG cut at 60%: no IEND"),
        ),
        "truncated.heic": (
            lambda: cut(heic()),
            _refuse("unsupported_type", "HEIF", "HEIC cut at 60%: mdat runs past the end"),
        ),
        "item-past-end.heic": (
            lambda: open_ended_mdat(heic())[:-16],
            _refuse(
                "unsupported_type",
                "HEIF",
                "HEIC with an open-ended mdat (size 0) cut by 16 bytes: the boxes still tile "
                "the file, only the iloc extent pointing past the end shows the loss",
            ),
        ),
        "bomb.png": (
            bomb_png,
            _refuse(
                "too_large",
                "PNG",
                f"decompression bomb: {BOMB_SIDE}×{BOMB_SIDE} of one colour in ~50 KB, "
                "refused by the pixel limit from the header alone",
            ),
        ),
    }
    for orientation in range(1, 9):
        shown = (H, W) if orientation >= 5 else SIZE
        items[f"orientation-{orientation}.jpg"] = (
            functools.partial(oriented_jpeg, orientation),
            _accept(
                "JPEG",
                jpeg,
                shown,
                f"EXIF orientation {orientation}"
                + (
                    ": displayed turned by 90°, so width and height swap"
                    if orientation >= 5
                    else ""
                ),
            ),
        )
    if features.check("avif"):
        items["plain.avif"] = (
            lambda: _encode(picture(), "AVIF", quality=60),
            _accept("AVIF", "image/avif", SIZE, "AVIF still image (Pillow's own encoder)"),
        )
    return dict(sorted(items.items()))


def build(out_dir: Path) -> dict[str, Entry]:
    """Write every corpus file into ``out_dir``; the manifest entries, with checksums."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries: dict[str, Entry] = {}
    for name, (make, entry) in corpus().items():
        data = make()
        (out_dir / name).write_bytes(data)
        entries[name] = {**entry, "sha256": hashlib.sha256(data).hexdigest()}
    return entries


def generator() -> dict[str, str]:
    """The versions whose encoders made the bytes: rebuilds match only under the same ones."""
    return {"pillow": PIL.__version__, "pillow_heif": pillow_heif.__version__}


def main() -> None:
    for stale in CORPUS_DIR.glob("*"):
        stale.unlink()
    entries = build(CORPUS_DIR)
    manifest = {"generator": generator(), "files": entries}
    MANIFEST.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    total = sum(p.stat().st_size for p in CORPUS_DIR.iterdir())
    sys.stdout.write(f"{len(entries)} files, {total} bytes in {CORPUS_DIR}\n")


if __name__ == "__main__":
    main()
