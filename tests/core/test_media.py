"""core.media.inspect: type from bytes only, header-only parsing, whole-file structure."""

from __future__ import annotations

import random
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from PIL import Image

from pixvault.core import heif, media, structure
from pixvault.core.errors import TooLarge, UnsupportedType
from pixvault.core.models import MediaInfo
from tests.imagegen import (
    AVIF_SUPPORTED,
    HTML_BYTES,
    PDF_BYTES,
    SVG_BYTES,
    TEXT_BYTES,
    corrupt_png_crc,
    gif_with_frames,
    gif_without_trailer,
    heif_box,
    heif_burst,
    heif_open_ended_mdat,
    heif_set_ispe,
    heif_set_major_brand,
    jpeg_without_eoi,
    make_bmp,
    make_ico,
    make_image,
    make_tiff,
    png_set_chunk,
    png_with_header_size,
    truncated,
    webp_bad_riff_size,
    webp_with_canvas,
)

LIMIT = 50_000_000
FORMATS = ["JPEG", "PNG", "GIF", "WEBP"] + (["AVIF"] if AVIF_SUPPORTED else []) + ["HEIF"]
EXPECTED = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
    "AVIF": ("image/avif", "avif"),
    "HEIF": ("image/heic", "heic"),
}


def check(
    tmp_path: Path, data: bytes, *, name: str = "upload.bin", max_pixels: int = LIMIT
) -> MediaInfo:
    path = tmp_path / name
    path.write_bytes(data)
    return media.inspect(path, max_pixels=max_pixels)


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~10 MB camera-sized JPEG (pure noise at high quality), built once per module."""
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    path.write_bytes(make_image("JPEG", (4000, 3000), quality=95, noise=1.0))
    return path


# --- accepted images -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_allowed_format_is_identified(tmp_path: Path, fmt: str) -> None:
    info = check(tmp_path, make_image(fmt, (64, 48)))
    assert info == MediaInfo(fmt, *EXPECTED[fmt], width=64, height=48, frames=1)


def test_allowed_formats_and_accepted_types_agree() -> None:
    assert media.ALLOWED_FORMATS[:4] == ("JPEG", "PNG", "GIF", "WEBP")
    assert ("AVIF" in media.ALLOWED_FORMATS) == AVIF_SUPPORTED
    assert "HEIF" in media.ALLOWED_FORMATS
    assert media.accepted_types() == [
        {"mime": EXPECTED[f][0], "ext": EXPECTED[f][1]} for f in media.ALLOWED_FORMATS
    ] + [{"mime": "image/heif", "ext": "heif"}]  # .heif files must not be hidden by the picker


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "GIF"])
def test_exif_orientation_6_swaps_dimensions(tmp_path: Path, fmt: str) -> None:
    info = check(tmp_path, make_image(fmt, (64, 48), exif_orientation=6))
    assert (info.width, info.height) == (48, 64)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "GIF"])
def test_exif_orientation_1_keeps_dimensions(tmp_path: Path, fmt: str) -> None:
    info = check(tmp_path, make_image(fmt, (64, 48), exif_orientation=1))
    assert (info.width, info.height) == (64, 48)


def test_malformed_exif_is_ignored(tmp_path: Path) -> None:
    jpeg = make_image("JPEG", (64, 48), exif_orientation=6)
    start = jpeg.index(b"Exif\x00\x00") + 6
    broken = jpeg[:start] + b"XX" + jpeg[start + 2 :]  # byte-order mark destroyed
    info = check(tmp_path, broken)
    assert (info.width, info.height) == (64, 48)


@pytest.mark.parametrize(("fmt", "frames"), [("GIF", 3), ("WEBP", 4), ("PNG", 5)])
def test_animation_frame_counts(tmp_path: Path, fmt: str, frames: int) -> None:
    info = check(tmp_path, make_image(fmt, (32, 32), frames=frames))
    assert info.format == fmt
    assert info.frames == frames


def test_progressive_jpeg_with_many_scans(tmp_path: Path) -> None:
    jpeg = make_image("JPEG", (200, 150), progressive=True)
    assert jpeg.count(b"\xff\xda") > 1
    assert check(tmp_path, jpeg).width == 200


def test_jpeg_with_restart_markers(tmp_path: Path) -> None:
    out = Image.new("RGB", (64, 64), (1, 2, 3))
    path = tmp_path / "rst.jpg"
    out.save(path, "JPEG", restart_marker_rows=1)
    assert b"\xff\xd0" in path.read_bytes()
    assert media.inspect(path, max_pixels=LIMIT).height == 64


def test_trailing_bytes_after_jpeg_eoi_are_allowed(tmp_path: Path) -> None:
    info = check(tmp_path, make_image("JPEG") + b"camera maker trailer")
    assert info.format == "JPEG"


def test_trailing_bytes_after_png_iend_are_allowed(tmp_path: Path) -> None:
    assert check(tmp_path, make_image("PNG") + b"\x00" * 10).format == "PNG"


def test_extension_is_irrelevant_png_named_gif(tmp_path: Path) -> None:
    info = check(tmp_path, make_image("PNG"), name="cat.gif")
    assert (info.format, info.mime, info.ext) == ("PNG", "image/png", "png")


def test_big_jpeg_is_accepted(big_jpeg: Path) -> None:
    assert big_jpeg.stat().st_size > 8_000_000
    info = media.inspect(big_jpeg, max_pixels=LIMIT)
    assert (info.format, info.width, info.height) == ("JPEG", 4000, 3000)


def test_big_jpeg_cut_short_is_rejected(big_jpeg: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType):
        check(tmp_path, truncated(big_jpeg.read_bytes(), 0.9))


# --- pixel and frame limits ------------------------------------------------------------


def test_pixel_limit_boundary(tmp_path: Path) -> None:
    png = make_image("PNG", (64, 48))
    assert check(tmp_path, png, max_pixels=64 * 48).width == 64
    with pytest.raises(TooLarge, match="64×48"):
        check(tmp_path, png, max_pixels=64 * 48 - 1)


def test_pixel_limit_uses_raw_size_for_rotated_images(tmp_path: Path) -> None:
    jpeg = make_image("JPEG", (64, 48), exif_orientation=6)
    assert check(tmp_path, jpeg, max_pixels=64 * 48).height == 64
    with pytest.raises(TooLarge):
        check(tmp_path, jpeg, max_pixels=64 * 48 - 1)


@pytest.mark.parametrize("max_pixels", [LIMIT, 10**12])
def test_header_bomb_rejected_without_allocating(tmp_path: Path, max_pixels: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_with_header_size(65535, 65535))
    assert path.stat().st_size < 200
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            media.inspect(path, max_pixels=max_pixels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_pillow_bomb_warning_range_is_too_large(tmp_path: Path) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    assert limit is not None
    width = 10_000
    height = limit // width + 1
    assert limit < width * height <= 2 * limit
    with pytest.raises(TooLarge):
        check(tmp_path, png_with_header_size(width, height), max_pixels=10**12)


def test_zero_dimension_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType):
        check(tmp_path, png_with_header_size(0, 10))


def test_gif_frame_outside_screen_counts_toward_pixels(tmp_path: Path) -> None:
    # A 1×1 screen whose second frame sits at (5000, 5000): decoders grow the canvas.
    gif = gif_with_frames(2, last_offset=(5000, 5000))
    assert check(tmp_path, gif, max_pixels=5001 * 5001).frames == 2
    with pytest.raises(TooLarge):
        check(tmp_path, gif, max_pixels=1_000_000)


def test_webp_canvas_checked_before_pillow(tmp_path: Path) -> None:
    webp = webp_with_canvas(make_image("WEBP", (16, 16), frames=2), 10_000, 10_000)
    with pytest.raises(TooLarge, match="10000×10000"):
        check(tmp_path, webp)


def test_frame_cap_exactly_at_limit(tmp_path: Path) -> None:
    assert check(tmp_path, gif_with_frames(media.MAX_FRAMES)).frames == media.MAX_FRAMES


def test_too_many_gif_frames(tmp_path: Path) -> None:
    with pytest.raises(TooLarge):
        check(tmp_path, gif_with_frames(media.MAX_FRAMES + 1))


def test_apng_claiming_too_many_frames(tmp_path: Path) -> None:
    apng = png_set_chunk(make_image("PNG", frames=2), b"acTL", struct.pack(">II", 5000, 0))
    with pytest.raises(TooLarge):
        check(tmp_path, apng)


# --- not images, or not allowed ones ---------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(SVG_BYTES, id="svg"),
        pytest.param(HTML_BYTES, id="html"),
        pytest.param(TEXT_BYTES, id="text"),
        pytest.param(PDF_BYTES, id="pdf"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff", id="one-byte"),
        pytest.param(make_tiff(), id="tiff"),
        pytest.param(make_bmp(), id="bmp"),
        pytest.param(make_ico(), id="ico"),
        pytest.param(b"8BPS\x00\x01" + bytes(40), id="psd"),
        pytest.param(b"\xff\xd8\xff" + HTML_BYTES, id="jpeg-magic-then-html"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + HTML_BYTES, id="png-magic-then-html"),
        pytest.param(b"GIF89a" + HTML_BYTES, id="gif-magic-then-html"),
    ],
)
def test_non_images_are_unsupported(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedType):
        check(tmp_path, data, name="image.jpg")


def test_heic_ftyp_without_boxes_after_it_is_unsupported(tmp_path: Path) -> None:
    heic = struct.pack(">I", 24) + b"ftypheic" + bytes(4) + b"mif1heic" + bytes(32)
    assert media.sniff(heic) == "HEIF"
    with pytest.raises(UnsupportedType):
        check(tmp_path, heic)


# --- truncated and corrupt -------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_truncated_images_are_unsupported(tmp_path: Path, fmt: str, keep: float) -> None:
    with pytest.raises(UnsupportedType):
        check(tmp_path, truncated(make_image(fmt, (64, 48)), keep))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(corrupt_png_crc(make_image("PNG")), id="png-bad-crc"),
        pytest.param(make_image("PNG")[:-12], id="png-without-iend"),
        pytest.param(webp_bad_riff_size(make_image("WEBP")), id="webp-bad-riff-size"),
        pytest.param(make_image("WEBP") + b"\x00\x00", id="webp-trailing-bytes"),
        pytest.param(gif_without_trailer(make_image("GIF")), id="gif-without-trailer"),
        pytest.param(jpeg_without_eoi(make_image("JPEG")), id="jpeg-without-eoi"),
        pytest.param(gif_with_frames(1)[:-6] + b"\x3b", id="gif-cut-sub-blocks"),
    ],
)
def test_corrupt_images_are_unsupported(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UnsupportedType):
        check(tmp_path, data)


@pytest.mark.skipif(not AVIF_SUPPORTED, reason="no AVIF support in this Pillow")
def test_avif_with_trailing_garbage_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedType):
        check(tmp_path, make_image("AVIF") + b"<html>")


# The walkers on their own: they must catch damage even where Pillow's header parse passes.


@pytest.mark.parametrize(
    ("walk", "data"),
    [
        (structure.walk_jpeg, jpeg_without_eoi(make_image("JPEG"))),
        (structure.walk_jpeg, truncated(make_image("JPEG", progressive=True), 0.8)),
        (structure.walk_png, corrupt_png_crc(make_image("PNG"))),
        (structure.walk_png, make_image("PNG")[:-12]),
        (structure.walk_gif, gif_without_trailer(make_image("GIF"))),
        (structure.walk_webp, webp_bad_riff_size(make_image("WEBP"))),
        (structure.walk_webp, truncated(make_image("WEBP"), 0.9)),
    ],
)
def test_walkers_reject_damage_directly(walk: object, data: bytes) -> None:
    assert callable(walk)
    kwargs = {} if walk is structure.walk_jpeg else {"max_frames": media.MAX_FRAMES}
    with pytest.raises(UnsupportedType):
        walk(data, **kwargs)


@pytest.mark.skipif(not AVIF_SUPPORTED, reason="no AVIF support in this Pillow")
def test_avif_walker_rejects_truncation_and_accepts_whole() -> None:
    avif = make_image("AVIF")
    assert structure.walk_avif(avif).frames == 1
    with pytest.raises(UnsupportedType):
        structure.walk_avif(truncated(avif, 0.9))


def test_fragmented_gif_is_refused_not_walked_forever(tmp_path: Path) -> None:
    # One frame whose data is ~120k one-byte sub-blocks: cheap to send, costly to walk.
    gif = gif_with_frames(1)
    head, tail = gif[:-2], gif[-2:]  # tail = sub-block terminator + trailer
    with pytest.raises(UnsupportedType, match="too many blocks"):
        check(tmp_path, head + b"\x01\x00" * 120_000 + tail)


def test_random_damage_never_escapes_as_another_error(tmp_path: Path) -> None:
    rng = random.Random(1234)
    samples = [make_image(f, (40, 30)) for f in FORMATS]
    samples += [make_image(f, (40, 30), frames=3) for f in ("GIF", "PNG", "WEBP")]
    outcomes: set[str] = set()
    for sample in samples:
        for _ in range(40):
            data = bytearray(sample)
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randrange(1, len(data))]
            try:
                check(tmp_path, bytes(data))
                outcomes.add("ok")
            except (UnsupportedType, TooLarge) as exc:
                outcomes.add(type(exc).__name__)
    assert "UnsupportedType" in outcomes


def test_large_noisy_gif_is_not_mistaken_for_fragmented(tmp_path: Path) -> None:
    gif = make_image("GIF", (1200, 900), noise=1.0)
    assert len(gif) > 500_000
    assert check(tmp_path, gif).width == 1200


# --- HEIC / HEIF ----------------------------------------------------------------------------


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    return (
        struct.pack(">I", 16 + 4 * len(compatible))
        + b"ftyp"
        + major
        + bytes(4)
        + b"".join(compatible)
    )


@pytest.mark.parametrize(
    ("major", "compatible", "fmt"),
    [
        (b"heic", (b"mif1", b"heic"), "HEIF"),  # iPhone
        (b"heix", (b"mif1",), "HEIF"),  # 10-bit / 4:2:2
        (b"mif1", (b"mif1", b"heic"), "HEIF"),
        (b"msf1", (b"hevc",), "HEIF"),
        (b"hevc", (), "HEIF"),
        (b"mif1", (b"mif1", b"miaf"), None),  # generic HEIF with no HEVC brand: not ours
        (b"mif1", (b"avif", b"heic"), "AVIF"),  # an avif brand stays AVIF
        (b"heic", (b"avif",), "AVIF"),
        (b"avif", (b"mif1", b"miaf"), "AVIF"),
        (b"isom", (b"mp41",), None),  # an MP4 video
        (b"qt  ", (), None),  # a QuickTime movie
    ],
)
def test_sniff_tells_heif_from_avif_and_video(
    major: bytes, compatible: tuple[bytes, ...], fmt: str | None
) -> None:
    assert media.sniff(_ftyp(major, *compatible) + bytes(16)) == fmt


def test_heic_major_brand_mif1_is_served_as_image_heif(tmp_path: Path) -> None:
    info = check(tmp_path, heif_set_major_brand(make_image("HEIF"), b"mif1"))
    assert (info.format, info.mime, info.ext) == ("HEIF", "image/heif", "heif")


def test_heic_burst_is_one_frame_the_primary_image(tmp_path: Path) -> None:
    info = check(tmp_path, heif_burst((64, 48), (32, 24), (32, 24)))
    assert (info.width, info.height, info.frames) == (64, 48, 1)


def test_heic_pixel_limit_counts_every_image_not_just_the_primary(tmp_path: Path) -> None:
    # A small primary with a big second image: a decoder asked for "every frame" pays for both.
    burst = heif_burst((32, 32), (640, 480))
    assert check(tmp_path, burst, max_pixels=640 * 480).width == 32
    with pytest.raises(TooLarge, match="640×480"):
        check(tmp_path, burst, max_pixels=640 * 480 - 1)


def test_heic_pixel_limit_uses_coded_size_from_ispe(tmp_path: Path) -> None:
    # x265 codes whole blocks: a 64×48 photo is a 64×64 image cropped by a clap box.
    heic = make_image("HEIF", (64, 48))
    assert heif.walk_heif(heic).extent == (64, 64)
    assert check(tmp_path, heic, max_pixels=64 * 64).height == 48
    with pytest.raises(TooLarge):
        check(tmp_path, heic, max_pixels=64 * 64 - 1)


@pytest.mark.parametrize("max_pixels", [LIMIT, 10**12])
def test_heic_ispe_bomb_is_too_large_before_libheif_sees_it(
    tmp_path: Path, max_pixels: int
) -> None:
    bomb = heif_set_ispe(make_image("HEIF", (64, 48)), 100_000, 100_000)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="100000×100000"):
            check(tmp_path, bomb, max_pixels=max_pixels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def _set_box_size(data: bytes, btype: bytes, size: int) -> bytes:
    pos, _ = heif_box(data, btype)
    return data[:pos] + struct.pack(">I", size) + data[pos + 4 :]


def _replace_box_type(data: bytes, old: bytes, new: bytes) -> bytes:
    pos = data.index(old)
    return data[:pos] + new + data[pos + 4 :]


def _with_iloc_data_reference(heic: bytes) -> bytes:
    """Point the first item at "another file" (data_reference_index 1)."""
    pos = heic.index(b"iloc") + 4
    version = heic[pos]
    sizes = struct.unpack_from(">H", heic, pos + 4)[0]
    assert version == 0 or (version == 1 and sizes & 0xF == 0)
    count_size = 2
    item = pos + 6 + count_size + 2  # after version/flags, sizes, count, item_ID
    if version == 1:
        item += 2  # construction_method
    return heic[:item] + b"\x00\x01" + heic[item + 2 :]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: d + b"<html>", id="trailing-garbage"),
        pytest.param(lambda d: d[:-1], id="one-byte-short"),
        pytest.param(lambda d: heif_open_ended_mdat(d)[:-16], id="item-past-the-end"),
        pytest.param(lambda d: _replace_box_type(d, b"iloc", b"xloc"), id="no-iloc"),
        pytest.param(lambda d: _replace_box_type(d, b"iinf", b"xinf"), id="no-iinf"),
        pytest.param(lambda d: _replace_box_type(d, b"meta", b"xeta"), id="no-meta"),
        pytest.param(lambda d: _replace_box_type(d, b"pitm", b"xitm"), id="no-primary-item"),
        pytest.param(_with_iloc_data_reference, id="item-in-another-file"),
        pytest.param(lambda d: _set_box_size(d, b"meta", 4), id="box-smaller-than-its-header"),
        pytest.param(lambda d: _set_box_size(d, b"meta", 1 << 20), id="box-past-the-end"),
        pytest.param(
            lambda d: d + struct.pack(">I4sQ", 1, b"free", 1 << 40), id="largesize-past-end"
        ),
    ],
)
def test_damaged_heic_is_unsupported(tmp_path: Path, damage: object) -> None:
    assert callable(damage)
    data = damage(make_image("HEIF", (64, 48)))
    assert isinstance(data, bytes)
    with pytest.raises(UnsupportedType):
        check(tmp_path, data)
    with pytest.raises(UnsupportedType):
        heif.walk_heif(data)


def test_heic_open_ended_mdat_whole_is_accepted(tmp_path: Path) -> None:
    """Size 0 ("to the end") is legal ISO-BMFF: only a cut one is refused."""
    assert check(tmp_path, heif_open_ended_mdat(make_image("HEIF"))).format == "HEIF"


def test_importing_media_registers_heif_with_pillow() -> None:
    code = (
        "from PIL import Image\n"
        "Image.init()\n"
        "before = 'HEIF' in Image.OPEN\n"
        "import pixvault.core.media\n"
        "print(before, 'HEIF' in Image.OPEN, Image.MIME['HEIF'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True", "image/heif"]
