"""The pixel work of one render job, run inside a worker process (never the API process).

Decode once at the smallest size the largest output needs (JPEG ``draft``: libjpeg scales by
1/2, 1/4 or 1/8 while decoding, so a 12 MP photo costs a fraction of a full decode), convert
to sRGB, resize, apply the EXIF orientation, then write every output without metadata.
"""

from __future__ import annotations

import io
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageCms, features

from pixvault.core import media  # noqa: F401 - registers every decoder uploads accept (HEIC)
from pixvault.core.pipeline import thumbhash
from pixvault.core.pipeline.specs import Rendered, RenderResult, RenderSpec, Undecodable

_SWAPS_AXES = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the picture by 90°
_TRANSPOSE = {  # EXIF orientation -> the transposition that shows it upright (as exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_HASH_SIDE = 32  # ThumbHash input: enough detail for a blur, a few ms of pure Python
_QUALITY = {"WEBP": 82, "JPEG": 85, "AVIF": 60}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def can_encode(fmt: str) -> bool:
    return fmt in ("WEBP", "JPEG") or (fmt == "AVIF" and bool(features.check("avif")))


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled down to fit ``box`` (never up), keeping the aspect ratio."""
    w, h = size
    scale = min(1.0, box[0] / w, box[1] / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _to_srgb(im: Image.Image) -> Image.Image:
    """RGB or RGBA in sRGB: CMYK and embedded ICC profiles are converted, so browsers (which
    treat an untagged image as sRGB) show the colours the camera or designer meant."""
    icc = im.info.get("icc_profile")
    alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
    target = "RGBA" if alpha else "RGB"
    if icc and im.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            mode = "RGBA" if im.mode == "RGBA" else "RGB"
            converted = ImageCms.profileToProfile(im, source, _SRGB, outputMode=mode)
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: plain conversion below is the best we can do
    return im if im.mode == target else im.convert(target)


def _orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not fail the render: show it unrotated
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode(source: Path, box: tuple[int, int]) -> Image.Image:
    """The first frame in sRGB, upright, scaled down to fit ``box`` (never up)."""
    try:
        with warnings.catch_warnings(), Image.open(source) as opened:
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            jpeg = opened.format == "JPEG"
            if jpeg:  # its EXIF is in a header; PNG's getexif() would decode (and hide errors)
                orientation = _orientation(opened)
                stored_box = (box[1], box[0]) if orientation in _SWAPS_AXES else box
                # draft picks the smallest 1/2^n scale that still covers the requested size.
                mode = opened.mode if opened.mode in ("RGB", "L") else None
                opened.draft(mode, _fit(opened.size, stored_box))
            opened.seek(0)  # animated GIF / WebP / APNG: the first frame
            opened.load()
            if not jpeg:
                orientation = _orientation(opened)
                stored_box = (box[1], box[0]) if orientation in _SWAPS_AXES else box
            im = _to_srgb(opened)
            size = _fit(im.size, stored_box)
            if size != im.size:
                im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
            elif im is opened:
                im = opened.copy()  # closing the file below would take the pixels with it
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise Undecodable(_reason(exc)) from None
    except Image.DecompressionBombWarning as exc:
        raise Undecodable(_reason(exc)) from None
    # Turned after the resize (fewer pixels to move); the stored bytes keep their orientation.
    return im.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else im


def _reason(exc: BaseException) -> str:
    detail = str(exc).strip() or type(exc).__name__
    return f"The image's pixels could not be decoded ({detail[:200]})"


def _encode(im: Image.Image, spec: RenderSpec, dest: Path) -> None:
    if spec.format == "JPEG" and im.mode == "RGBA":
        flat = Image.new("RGB", im.size, (255, 255, 255))
        flat.paste(im, mask=im.getchannel("A"))
        im = flat
    options: dict[str, object] = {"quality": _QUALITY[spec.format]}
    if spec.format == "WEBP":
        options["method"] = 4
    elif spec.format == "JPEG":
        options.update(optimize=True, progressive=True)
    elif spec.format == "AVIF":
        options["speed"] = 8
    # No exif=, icc_profile= or xmp=: derivatives carry no metadata (untagged means sRGB).
    im.save(dest, spec.format, **options)


def _placeholder(im: Image.Image) -> str:
    small = im.convert("RGBA")
    small.thumbnail((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BILINEAR)
    return thumbhash.encode_base64(small.width, small.height, small.tobytes())


def render(
    source: str, specs: Sequence[RenderSpec], out: Sequence[str], delay: float = 0.0
) -> RenderResult:
    """The worker's entry point: plain, picklable arguments and result.

    ``delay`` is fault injection for tests (a slow image); production passes 0.
    """
    if delay:
        time.sleep(delay)
    largest = (max(s.box[0] for s in specs), max(s.box[1] for s in specs))
    current = _decode(Path(source), largest)
    made: dict[int, Rendered] = {}
    placeholder: str | None = None
    # Largest first, each smaller one resized from the one before: one decode for all.
    order = sorted(range(len(specs)), key=lambda i: -_fit(current.size, specs[i].box)[0])
    for i in order:
        spec = specs[i]
        size = _fit(current.size, spec.box)
        if size != current.size:
            current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        _encode(current, spec, Path(out[i]))
        made[i] = Rendered(spec.name, current.width, current.height, Path(out[i]).stat().st_size)
        if spec.placeholder:
            placeholder = _placeholder(current)
    return RenderResult(tuple(made[i] for i in range(len(specs))), placeholder)
