"""The pixel work (in this process, for speed) and the worker pool around it."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from pixvault.core.errors import Unavailable
from pixvault.core.pipeline.specs import PREVIEW_SPEC, THUMB_SPEC, Undecodable, variant_spec
from pixvault.processing import ProcessImageProcessor
from pixvault.processing.render import render
from tests.imagegen import make_image


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
