"""The pixel work of one render job, run inside a worker process (never the API process).

Decode once at the smallest size the largest output needs (JPEG ``draft``: libjpeg scales by
1/2, 1/4 or 1/8 while decoding, so a 12 MP photo costs a fraction of a full decode), resize,
convert to sRGB, apply the EXIF orientation, then write every output without metadata.

Formats without a draft (PNG, WebP, GIF, HEIC, AVIF) are decoded in full, so the work after
the decode is kept small: the resize box-reduces by an integer factor before its LANCZOS pass
(``_REDUCING_GAP``), and the sRGB conversion (ICC profile, CMYK, greyscale) runs on the resized
pixels, not the full-size ones (~1 ms instead of ~30 ms for a 2 MP ICC transform). That is the
order libvips' thumbnail uses when it colour-manages. Both orders resample gamma-encoded values;
they differ only where the conversion is far from linear: flat areas and in-gamut detail come
out within ~3 levels, but fine detail in colours outside sRGB, which the conversion clips,
can differ by up to ~20 levels in one channel (2-px stripes of an Adobe RGB green that sRGB
cannot show: clipped then averaged vs averaged then clipped). A photo tagged Adobe RGB came out
37 dB PSNR apart between the orders. tests/processing/test_render.py checks the colours of ICC,
CMYK and greyscale sources against the old order. Modes that cannot be resized faithfully
(palette, 1-bit, 16-bit, ...) are still converted first.
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
# libwebp's method (effort) 4 spends ~5 ms more than 2 on a 400 px thumbnail (~9.7 vs ~4.4 ms)
# on its rate-distortion search. At q82 that bought 0.03-0.45 dB PSNR (not visible) and 0-4 %
# fewer bytes on photos and screenshots, 8-16 % on smooth, blurry content (a few hundred bytes
# on a ~4 KB thumbnail). Thumbnail-sized outputs take 2 (half the encode time); larger ones
# keep 4, where its few percent are kilobytes. Trading bytes for CPU: revert to 4 to undo.
_WEBP_METHOD, _WEBP_METHOD_SMALL, _SMALL_PIXELS = 4, 2, 400 * 400
# Box-reduce by an integer factor first as long as LANCZOS then still shrinks by >= 2x: the
# same split as libvips' resize (its default gap is 2.0). At 3.0 a 2 MP -> 400 px thumbnail
# (4.3x) got no reduce at all and its LANCZOS cost ~20 ms; with 2.0 it is ~8 ms, and the
# pixels are 36-54 dB PSNR from a full LANCZOS (the WebP q82 encode's own error is 30-41 dB).
_REDUCING_GAP = 2.0
# Modes Pillow resamples channel by channel (alpha premultiplied) with every filter; others
# are converted to RGB(A) before resizing (palette and 1-bit would resize with NEAREST).
_RESIZE_FIRST = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def can_encode(fmt: str) -> bool:
    return fmt in ("WEBP", "JPEG") or (fmt == "AVIF" and bool(features.check("avif")))


def _fit(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled down to fit ``box`` (never up), keeping the aspect ratio."""
    w, h = size
    scale = min(1.0, box[0] / w, box[1] / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB or RGBA in sRGB: CMYK and an embedded ICC profile (``icc``, read from the file, as
    ``im.info`` may be a copy that outlived a conversion) are converted, so browsers (which
    treat an untagged image as sRGB) show the colours the camera or designer meant."""
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
            icc = opened.info.get("icc_profile") or None
            im: Image.Image = opened
            if im.mode == "RGBA" and im.getchannel("A").getextrema() == (255, 255):
                # Opaque alpha (many screenshots and exports): the same pixels without it, and
                # the resize skips premultiplying and unpremultiplying every full-size pixel.
                im = im.convert("RGB")
            resize_first = im.mode in _RESIZE_FIRST
            if not resize_first:  # a profile is only applied to RGB(A), CMYK and L, as ever
                im = _to_srgb(im, None)
            size = _fit(im.size, stored_box)
            if size != im.size:
                im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
            if resize_first:
                im = _to_srgb(im, icc)
            if im is opened:
                im = opened.copy()  # closing the file below would take the pixels with it
            # Nothing of the source's info (ICC, EXIF, XMP, JPEG comment, ...) may reach an
            # encoder: the AVIF and JPEG writers fall back to it when no option is given.
            im.info = {}
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
        small = im.width * im.height <= _SMALL_PIXELS
        options["method"] = _WEBP_METHOD_SMALL if small else _WEBP_METHOD
    elif spec.format == "JPEG":
        options.update(optimize=True, progressive=True)
    elif spec.format == "AVIF":
        options["speed"] = 8
    # No exif=, icc_profile= or xmp=: derivatives carry no metadata (untagged means sRGB).
    im.save(dest, spec.format, **options)


def _placeholder(im: Image.Image) -> str:
    small = im.copy()  # shrunk first, then given its alpha: the same pixels, 1/150 the convert
    small.thumbnail((_HASH_SIDE, _HASH_SIDE), Image.Resampling.BILINEAR)
    small = small.convert("RGBA")
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
            current = current.resize(size, Image.Resampling.LANCZOS, reducing_gap=_REDUCING_GAP)
        _encode(current, spec, Path(out[i]))
        made[i] = Rendered(spec.name, current.width, current.height, Path(out[i]).stat().st_size)
        if spec.placeholder:
            placeholder = _placeholder(current)
    return RenderResult(tuple(made[i] for i in range(len(specs))), placeholder)
