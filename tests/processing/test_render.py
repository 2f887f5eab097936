"""The pixel work (in this process, for speed) and the worker pool around it."""

from __future__ import annotations

import io
import math
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageStat

from pixvault.core.errors import Unavailable
from pixvault.core.pipeline.specs import PREVIEW_SPEC, THUMB_SPEC, Undecodable, variant_spec
from pixvault.processing import ProcessImageProcessor
from pixvault.processing.render import _decode, render
from tests.corpus.make_corpus import adobe_rgb_icc
from tests.imagegen import AVIF_SUPPORTED, make_image

Color = tuple[int, int, int]


def _render(tmp_path: Path, data: bytes, *specs_: object) -> list[Image.Image]:
    src = tmp_path / "src"
    src.write_bytes(data)
    wanted = specs_ or (THUMB_SPEC, PREVIEW_SPEC)
    out = [tmp_path / f"out{i}" for i in range(len(wanted))]
    render(str(src), wanted, [str(p) for p in out])  # type: ignore[arg-type]
    found = []
    for path in out:
        with Image.open(path) as im:
            im.load()
            found.append(im.copy())
    return found


def test_animated_gif_thumbnail_is_its_first_frame(tmp_path: Path) -> None:
    gif = make_image("GIF", (500, 250), frames=3, noise=0)
    thumb, _ = _render(tmp_path, gif)
    with Image.open(io.BytesIO(gif)) as first:
        expected = first.convert("RGB").getpixel((10, 10))
    assert thumb.size == (400, 200)
    got = thumb.convert("RGB").getpixel((10, 10))
    assert isinstance(got, tuple) and isinstance(expected, tuple)
    assert all(abs(a - b) < 24 for a, b in zip(got, expected, strict=True))


def test_wide_gamut_icc_profile_is_converted_to_untagged_srgb(tmp_path: Path) -> None:
    # An sRGB source tagged with an explicit profile: converted, and the tag dropped.
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (600, 300), (10, 160, 40)).save(out, "PNG", icc_profile=srgb)
    thumb, preview = _render(tmp_path, out.getvalue())
    assert "icc_profile" not in thumb.info and "icc_profile" not in preview.info
    got = preview.convert("RGB").getpixel((300, 150))
    assert isinstance(got, tuple) and abs(got[1] - 160) < 12


def test_transparent_png_keeps_alpha_in_webp_and_is_flattened_in_jpeg(tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGBA", (500, 500), (200, 0, 0, 0)).save(out, "PNG")
    webp, jpeg = _render(tmp_path, out.getvalue(), THUMB_SPEC, variant_spec(200, "JPEG"))
    assert webp.mode == "RGBA" and jpeg.mode == "RGB"
    assert jpeg.getpixel((5, 5)) == (255, 255, 255)


def test_garbage_is_undecodable(tmp_path: Path) -> None:
    with pytest.raises(Undecodable, match="could not be decoded"):
        _render(tmp_path, make_image("JPEG", (100, 100))[:200])


def test_jpeg_draft_makes_thumbnails_much_cheaper_than_a_full_decode(tmp_path: Path) -> None:
    src = tmp_path / "big.jpg"
    src.write_bytes(make_image("JPEG", (4000, 3000), noise=0.1))  # 12 MP
    out = [str(tmp_path / "t.webp")]

    def best(fn: object) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    def naive() -> None:  # what it costs without draft: decode 12 MP, then shrink
        with Image.open(src) as im:
            im.load()
            im.resize((400, 300), Image.Resampling.LANCZOS).save(tmp_path / "n.webp")

    thumb = best(lambda: render(str(src), (THUMB_SPEC,), out))
    assert thumb < best(naive) * 0.6  # decoded at 1/8 scale


def test_pool_survives_a_dead_worker_and_closes(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    src.write_bytes(make_image("PNG", (500, 300)))
    pool = ProcessImageProcessor(1)
    try:
        result = pool.render(src, (THUMB_SPEC,), [tmp_path / "t.webp"])
        assert result.outputs[0].width == 400 and result.placeholder
        bad = tmp_path / "bad"
        bad.write_bytes(b"not an image")
        with pytest.raises(Undecodable):
            pool.render(bad, (THUMB_SPEC,), [tmp_path / "u.webp"])
        assert pool.can_encode("WEBP") and not pool.can_encode("GIF")
    finally:
        pool.close()
    with pytest.raises(Unavailable):
        pool.render(src, (THUMB_SPEC,), [tmp_path / "t.webp"])


# Colour conversion now runs after the resize (see render.py's docstring). The reference below
# is the old order: the whole picture converted to sRGB at full size, then resized.

_RED, _GREY, _SKIN, _YELLOW = (200, 60, 50), (90, 90, 90), (230, 180, 150), (250, 210, 20)
_PATCHES = {  # thumbnail-space box (the 1200×800 picture is shown at 400×267) -> what it holds
    (20, 20, 180, 110): "flat red",
    (220, 20, 380, 110): "flat yellow",
    (20, 150, 380, 250): "2-px stripes, grey and skin tone",
}


def _patchwork(mode: str) -> Image.Image:
    """Flat patches plus fine detail (stripes 2 px apart, what a resize averages away)."""
    im = Image.new("RGB", (1200, 800), _RED)
    draw = ImageDraw.Draw(im)
    draw.rectangle((600, 0, 1199, 399), fill=_YELLOW)
    draw.rectangle((0, 400, 1199, 799), fill=_GREY)
    for x in range(0, 1200, 2):
        draw.line([(x, 400), (x, 799)], fill=_SKIN)
    return im.convert(mode)


def _mean(im: Image.Image, box: tuple[int, int, int, int]) -> list[float]:
    return [float(v) for v in ImageStat.Stat(im.convert("RGB").crop(box)).mean]


def _assert_patches_match(got: Image.Image, reference: Image.Image, tolerance: float) -> None:
    for box, what in _PATCHES.items():
        g, r = _mean(got, box), _mean(reference, box)
        assert all(abs(a - b) <= tolerance for a, b in zip(g, r, strict=True)), (what, g, r)


def test_icc_image_is_resized_then_converted_to_the_same_srgb_colours(tmp_path: Path) -> None:
    icc = adobe_rgb_icc()
    out = io.BytesIO()
    _patchwork("RGB").save(out, "PNG", icc_profile=icc)
    (thumb,) = _render(tmp_path, out.getvalue(), THUMB_SPEC)
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    full = ImageCms.profileToProfile(_patchwork("RGB"), source, srgb, outputMode="RGB")
    assert full is not None
    reference = full.resize(thumb.size, Image.Resampling.LANCZOS)
    assert thumb.size == (400, 267) and "icc_profile" not in thumb.info
    _assert_patches_match(thumb, reference, tolerance=3)  # WebP's own error is about that
    # Converted, not merely copied: Adobe RGB's (200, 60, 50) is a redder red in sRGB.
    red = _mean(thumb, (20, 20, 180, 110))
    assert red[0] > 220, red


def test_cmyk_image_is_resized_then_converted_to_the_same_rgb_colours(tmp_path: Path) -> None:
    out = io.BytesIO()
    _patchwork("CMYK").save(out, "JPEG", quality=95)
    (thumb,) = _render(tmp_path, out.getvalue(), THUMB_SPEC)
    with Image.open(io.BytesIO(out.getvalue())) as im:
        reference = im.convert("RGB").resize(thumb.size, Image.Resampling.LANCZOS)
    assert thumb.mode == "RGB" and thumb.size == (400, 267)
    _assert_patches_match(thumb, reference, tolerance=3)


def test_greyscale_png_is_resized_then_made_rgb(tmp_path: Path) -> None:
    out = io.BytesIO()
    _patchwork("L").save(out, "PNG")
    (thumb,) = _render(tmp_path, out.getvalue(), THUMB_SPEC)
    reference = _patchwork("L").convert("RGB").resize(thumb.size, Image.Resampling.LANCZOS)
    assert thumb.mode == "RGB"
    _assert_patches_match(thumb, reference, tolerance=3)


def _psnr(a: Image.Image, b: Image.Image) -> float:
    stat = ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB")))
    mse = sum(stat.sum2) / (3 * a.width * a.height)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def test_shortcut_resize_stays_close_to_a_full_lanczos(tmp_path: Path) -> None:
    """The box reduce before LANCZOS (reducing_gap) must not show. On this worst case (rings
    and text, every frequency up to ~1/3 px) a gap of 2 is 36 dB PSNR from a full LANCZOS;
    a gap of 1.1 (box-reducing 4x, then LANCZOS for the last 8 %) would be 30 dB, and 1.0
    26 dB: visibly aliased rings."""
    im = Image.new("RGB", (1732, 1155), (250, 250, 250))
    draw = ImageDraw.Draw(im)
    for r in range(0, 1100, 3):  # concentric rings: every spatial frequency up to ~1/3 px
        draw.ellipse((866 - r, 577 - r, 866 + r, 577 + r), outline=(20, 20, 20))
    for y in range(0, 1155, 14):
        draw.text((4, y), "The quick brown fox jumps over the lazy dog 0123456789 " * 6, fill=0)
    src = tmp_path / "detail.png"
    im.save(src, "PNG")
    got = _decode(src, (400, 400))
    assert got.size == (400, 267)
    assert _psnr(got, im.resize(got.size, Image.Resampling.LANCZOS)) > 33


def test_opaque_rgba_renders_exactly_like_rgb(tmp_path: Path) -> None:
    rgb = make_image("PNG", (900, 600), noise=0.5)
    rgba = io.BytesIO()
    with Image.open(io.BytesIO(rgb)) as picture:
        picture.convert("RGBA").save(rgba, "PNG")
    (from_rgb,) = _render(tmp_path, rgb, THUMB_SPEC)
    (from_rgba,) = _render(tmp_path, rgba.getvalue(), THUMB_SPEC)
    assert from_rgba.mode == "RGB"
    assert from_rgba.tobytes() == from_rgb.tobytes()


def test_png_orientation_is_applied_after_the_resize(tmp_path: Path) -> None:
    stored = Image.new("RGB", (1200, 600), (220, 20, 20))
    stored.paste((20, 20, 220), (600, 0, 1200, 600))  # left red, right blue, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise: the stored left half on top
    out = io.BytesIO()
    stored.save(out, "PNG", exif=exif.tobytes())
    (thumb,) = _render(tmp_path, out.getvalue(), THUMB_SPEC)
    assert thumb.size == (200, 400)
    top, bottom = _mean(thumb, (20, 20, 180, 180)), _mean(thumb, (20, 220, 180, 380))
    assert top[0] > 180 > top[2] and bottom[2] > 180 > bottom[0], (top, bottom)


def test_derivatives_carry_no_comment_or_profile_of_the_source(tmp_path: Path) -> None:
    """The JPEG and AVIF writers fall back to the image's own info when not given an option."""
    out = io.BytesIO()
    Image.new("RGB", (600, 400), (10, 160, 40)).save(
        out, "JPEG", comment=b"secret: home address", icc_profile=adobe_rgb_icc()
    )
    specs = [variant_spec(200, "JPEG"), variant_spec(200, "WEBP")]
    if AVIF_SUPPORTED:
        specs.append(variant_spec(200, "AVIF"))
    for derivative in _render(tmp_path, out.getvalue(), *specs):
        assert not {"comment", "icc_profile", "exif", "xmp"} & set(derivative.info), (
            derivative.format,
            sorted(derivative.info),
        )
