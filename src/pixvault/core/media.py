"""What an uploaded file really is, decided from its bytes alone and without decoding pixels.

Uploads are untrusted: the name, the extension and the client's Content-Type are ignored.
``inspect`` sniffs magic numbers (JPEG, PNG, GIF, WebP, AVIF, HEIC/HEIF), lets Pillow parse
only the header of that one format, checks the pixel count before anything costly, then walks
the whole file's structure (``core.structure``, ``core.heif``) so truncated or padded-out files
are refused too.
"""

from __future__ import annotations

import mmap
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pillow_heif
from PIL import Image, features

from pixvault.core import heif, structure
from pixvault.core.errors import TooLarge, UnsupportedType
from pixvault.core.models import MediaInfo

# format -> (mime, ext)
_TYPES: dict[str, tuple[str, str]] = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
    "AVIF": ("image/avif", "avif"),
    "HEIF": ("image/heic", "heic"),  # or image/heif by the major brand: heif.media_type
}

# The one side effect of importing this module: Pillow learns to open HEIF (pillow-heif's
# plugin, libheif inside). Uploads still reach it only through ``inspect``'s checks.
pillow_heif.register_heif_opener()

ALLOWED_FORMATS: tuple[str, ...] = (
    ("JPEG", "PNG", "GIF", "WEBP") + (("AVIF",) if features.check("avif") else ()) + ("HEIF",)
)
MAX_FRAMES = 1000

_SNIFF_BYTES = 4096  # enough for any sane AVIF or HEIF ``ftyp`` box
_ORIENTATION = 0x0112
_SWAPS_AXES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90°

_WALKERS: dict[str, Callable[[structure.Buffer], structure.Structure]] = {
    "JPEG": structure.walk_jpeg,
    "PNG": lambda buf: structure.walk_png(buf, max_frames=MAX_FRAMES),
    "GIF": lambda buf: structure.walk_gif(buf, max_frames=MAX_FRAMES),
    "WEBP": lambda buf: structure.walk_webp(buf, max_frames=MAX_FRAMES),
    "AVIF": structure.walk_avif,
    "HEIF": heif.walk_heif,
}
# Walked *before* Pillow opens them: libheif reads the whole container on open, so it gets
# only files whose boxes, item locations and image sizes already passed.
_WALK_FIRST = frozenset({"HEIF"})


def accepted_types() -> list[dict[str, str]]:
    """MIME types and extensions this server accepts, for the UI's file picker.

    HEIF is listed twice: iPhones write ``.heic`` (image/heic), other cameras and converters
    ``.heif`` (image/heif), and a picker filtering on one would hide the other.
    """
    types = [{"mime": _TYPES[f][0], "ext": _TYPES[f][1]} for f in ALLOWED_FORMATS]
    if "HEIF" in ALLOWED_FORMATS:
        types.append({"mime": "image/heif", "ext": "heif"})
    return types


def sniff(head: bytes) -> str | None:
    """The format named by the magic number at the start of ``head``, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(structure.PNG_SIGNATURE):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    found = heif.brands(head)
    if found is not None:
        if any(b in heif.AVIF_BRANDS for b in found[1]):
            return "AVIF"
        if heif.is_heif(*found):
            return "HEIF"
    return None


def inspect(path: Path, *, max_pixels: int) -> MediaInfo:
    """Identify and vet the image at ``path``.

    Raises ``UnsupportedType`` for anything that is not a whole image of an allowed format,
    ``TooLarge`` when its pixel count or frame count is over the limit. Nothing else
    escapes for bad input.
    """
    with path.open("rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            raise UnsupportedType("empty file")
        # mmap: the walkers search and checksum the file in place instead of copying it.
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            head = buf[:_SNIFF_BYTES]
            fmt = sniff(head)
            if fmt is None:
                raise UnsupportedType("not a JPEG, PNG, GIF, WebP, AVIF or HEIC image")
            if fmt not in ALLOWED_FORMATS:
                raise UnsupportedType(f"{fmt} images are not supported on this server")
            if fmt == "WEBP":
                # Pillow's WebP decoder allocates the canvas on open: check the size first.
                size = structure.webp_header_size(buf[:30])
                if size is not None:
                    _check_pixels(*size, max_pixels=max_pixels)
            walked = _WALKERS[fmt](buf) if fmt in _WALK_FIRST else None
            if walked is not None and walked.extent != (0, 0):
                _check_pixels(*walked.extent, max_pixels=max_pixels)
            width, height, orientation = _read_header(f, fmt)
            _check_pixels(width, height, max_pixels=max_pixels)
            if walked is None:
                walked = _WALKERS[fmt](buf)
    if walked.extent[0] * walked.extent[1] > width * height:  # a frame reaches past the header size
        _check_pixels(*walked.extent, max_pixels=max_pixels)
    if walked.frames > MAX_FRAMES:
        raise TooLarge(f"Animation has too many frames (the limit is {MAX_FRAMES})")
    if orientation in _SWAPS_AXES:
        width, height = height, width
    mime, ext = heif.media_type(head) if fmt == "HEIF" else _TYPES[fmt]
    return MediaInfo(fmt, mime, ext, width, height, walked.frames)


def _read_header(f: IO[bytes], fmt: str) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) from Pillow, restricted to the sniffed format.

    Decompression-bomb warnings are promoted to errors so the bomb is refused, not logged.
    """
    f.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f, formats=[fmt]) as im:
                width, height = im.size
                orientation = _orientation(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge("Image too large: its header claims too many pixels") from exc
    except Exception as exc:  # any Pillow failure on hostile bytes means "not an image"
        raise UnsupportedType(f"corrupt or unreadable {fmt} header") from exc
    return width, height, orientation


def _orientation(im: Image.Image) -> int:
    """EXIF orientation, or 1. Only when EXIF is already in the header info: Pillow's PNG
    ``getexif`` would otherwise decode the whole image looking for a late eXIf chunk.

    HEIF comes out as 1: its rotation is the ``irot``/``imir`` boxes, which libheif has already
    applied to the size, and pillow-heif resets the EXIF tag so it is not applied twice."""
    if "exif" not in im.info:
        return 1
    try:
        value = im.getexif().get(_ORIENTATION, 1)
    except Exception:  # malformed EXIF is ignored, as browsers do
        return 1
    return value if isinstance(value, int) else 1


def _check_pixels(width: int, height: int, *, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise UnsupportedType("image has zero width or height")
    limit = max_pixels
    # Also Pillow's own bomb limit: warnings filters are process-global and racy under
    # threads, so do not rely on the promoted warning alone.
    if Image.MAX_IMAGE_PIXELS:
        limit = min(limit, Image.MAX_IMAGE_PIXELS)
    if width * height > limit:
        raise TooLarge(f"Image too large: {width}×{height} pixels exceeds the limit of {limit}")
