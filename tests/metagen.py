"""Photos that carry metadata (camera, date, GPS position, XMP, text chunks, ICC), made with
Pillow or spliced by hand, for the privacy tests. No binary fixtures live in the repository."""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageCms, TiffImagePlugin

from tests.imagegen import AVIF_SUPPORTED, _png_chunk

try:  # pillow-heif arrives with HEIC support (being added); HEIC cases skip without it
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_WRITABLE = "x265" in pillow_heif.libheif_info().get("encoders", {})
except ImportError:  # pragma: no cover - depends on the environment
    HEIF_WRITABLE = False

LATITUDE = 48 + 51 / 60 + 29.5 / 3600  # the Eiffel tower, north
LONGITUDE = -(2 + 17 / 60 + 40.2 / 3600)  # west of Greenwich, as a test of the sign
XMP_WITH_GPS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="48,51.491667N" exif:GPSLongitude="2,17.67W"/></rdf:RDF></x:xmpmeta>'
)
XMP_WITHOUT_GPS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
    b'dc:format="image/jpeg"/></rdf:RDF></x:xmpmeta>'
)
FORMATS = ["JPEG", "PNG", "WEBP"] + (["AVIF"] if AVIF_SUPPORTED else [])


def exif_bytes(*, gps: bool = True, orientation: int | None = None, camera: bool = True) -> bytes:
    """A TIFF-structured EXIF block with the camera, lens, exposure, date and a position."""
    exif = Image.Exif()
    if camera:
        exif[0x010F] = "Canon"
        exif[0x0110] = "Canon EOS R5"
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = "2024:05:06 07:08:09"
        sub[0x9011] = "+02:00"
        sub[0x829A] = TiffImagePlugin.IFDRational(1, 250)
        sub[0x8827] = 400
        sub[0x920A] = TiffImagePlugin.IFDRational(50, 1)
        sub[0xA434] = "RF50mm F1.8 STM"
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        where = exif.get_ifd(0x8825)
        where[1], where[2] = "N", (48.0, 51.0, 29.5)
        where[3], where[4] = "W", (2.0, 17.0, 40.2)
    return exif.tobytes()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo(
    fmt: str,
    *,
    size: tuple[int, int] = (64, 48),
    exif: bytes | None = None,
    xmp: bytes | None = None,
    icc: bytes | None = None,
) -> bytes:
    """A small photo with the given metadata blocks, written by Pillow (or pillow-heif)."""
    image = Image.new("RGB", size, (200, 30, 30))
    image.paste((20, 90, 220), (0, 0, size[0] // 2, size[1] // 3))  # asymmetric: shows rotation
    options: dict[str, object] = {}
    if exif is not None:
        options["exif"] = exif
    if xmp is not None:
        options["xmp"] = xmp
    if icc is not None:
        options["icc_profile"] = icc
    if fmt in ("JPEG", "WEBP", "AVIF", "HEIF"):
        options["quality"] = 90
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_insert(jpeg: bytes, *segments: bytes) -> bytes:
    """Insert marker segments right after SOI (and after APP0 JFIF when it is first)."""
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":
        pos = 4 + struct.unpack_from(">H", jpeg, 4)[0]
    return jpeg[:pos] + b"".join(segments) + jpeg[pos:]


def iptc_segment() -> bytes:
    """APP13 Photoshop IRB holding one IPTC record (2:90 City)."""
    record = b"\x1c\x02\x5a" + struct.pack(">H", 5) + b"Paris"
    irb = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    return jpeg_segment(0xED, b"Photoshop 3.0\x00" + irb)


def png_insert(png: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    """Insert chunks right after IHDR."""
    pos = 8 + 12 + 13
    return png[:pos] + b"".join(_png_chunk(t, d) for t, d in chunks) + png[pos:]


def decoded(data: bytes) -> bytes:
    """The pixels, as RGB bytes: what a viewer shows (before applying the orientation)."""
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB").tobytes()
