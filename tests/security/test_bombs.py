"""Catalogue section C (decompression and resource bombs) through the whole app.

What pixvault answers (the seed contract, not the catalogue's proposed 422): a file over a
limit (pixels, frames, bytes) is 413 ``too_large``, a file that is not a whole image of an
allowed type 400 ``unsupported_type``. Sizes are read from headers, never from a decoded raster
(``core/media.py``); pixels are decoded only in the derivative worker processes, which have a
time limit. Memory is measured on this process, which runs the app (the test client's thread):
its peak resident size (``VmHWM``) is reset before each request and read after.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from PIL import Image

from tests.conftest import Api, build_api
from tests.imagegen import (
    gif_with_frames,
    heif_set_ispe,
    make_image,
    png_with_header_size,
    webp_with_canvas,
)
from tests.security.oracles import assert_no_leak

MIB = 1024 * 1024


@dataclass
class App:
    api: Api
    auth: dict[str, str]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The embedded stack with its default limits, and one account: each case takes its own
    N0 snapshot, so the cases share them (an app and a sign-up cost about a second)."""
    for api in build_api(tmp_path_factory.mktemp("bombs") / "data"):
        yield App(api, api.signup())


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


@contextmanager
def peak_growth() -> Iterator[list[float]]:
    """MiB by which this process's peak resident memory rose inside the block."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM starts again from the current RSS
    base = _kib("VmRSS")
    grown: list[float] = []
    yield grown
    grown.append((_kib("VmHWM") - base) / 1024)


def assert_refused(api: Api, r: httpx2.Response, status: int, code: str) -> None:
    """The safe refusal: the contract's status and code, and L0 (the caller checks N0)."""
    assert r.status_code == status, r.text
    assert r.json() == {"error": r.json()["error"], "code": code}
    assert "location" not in r.headers
    assert_no_leak(r, api)


def ready(api: Api, auth: dict[str, str], image: dict[str, Any]) -> Image.Image:
    """The image's thumbnail once its derivatives are made; the image must not have failed."""
    assert api.container.derivatives.wait_idle(timeout=60)
    shown = api.client.get(f"/api/images/{image['id']}", headers=auth).json()["image"]
    assert shown["status"] == "ready", shown["failureReason"]
    thumb = api.fetch(shown["thumbnailUrl"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    picture = Image.open(io.BytesIO(thumb.content))
    assert not {"icc_profile", "exif", "xmp"} & set(picture.info), picture.info.keys()
    return picture


# -- 25, 27, 29: sizes claimed by headers ---------------------------------------------------


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(make_image("JPEG", (16, 16)))
    sof = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def gif_screen(width: int, height: int) -> bytes:
    data = bytearray(gif_with_frames(1))
    struct.pack_into("<HH", data, 6, width, height)  # logical screen
    return bytes(data)


def gif_frame(width: int, height: int) -> bytes:
    """A 1×1 screen whose one frame claims ``width``×``height`` (LZW data for one pixel)."""
    data = bytearray(gif_with_frames(1))
    struct.pack_into("<HH", data, data.index(b"\x2c") + 5, width, height)
    return bytes(data)


def webp_vp8(width: int, height: int) -> bytes:
    data = bytearray(make_image("WEBP", (16, 16)))
    assert data[12:16] == b"VP8 "  # lossy: the key frame header holds 14-bit sizes
    struct.pack_into("<HH", data, 26, width, height)
    return bytes(data)


def webp_vp8l(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "WEBP", lossless=True)
    data = bytearray(out.getvalue())
    assert data[12:16] == b"VP8L"  # lossless: 14-bit width - 1 and height - 1 after 0x2f
    (bits,) = struct.unpack_from("<I", data, 21)
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    struct.pack_into("<I", data, 21, bits)
    return bytes(data)


HEADER_BOMBS: dict[str, tuple[bytes, int, str]] = {
    "jpeg-65535x65535.jpg": (jpeg_claiming(65535, 65535), 413, "too_large"),
    "png-65535x65535.png": (png_with_header_size(65535, 65535), 413, "too_large"),
    # Item 26: past Pillow's MAX_IMAGE_PIXELS (89,478,485), where Pillow only warns.
    "png-10000x8948.png": (png_with_header_size(10_000, 8_948), 413, "too_large"),
    "gif-screen-65535x65535.gif": (gif_screen(65535, 65535), 413, "too_large"),
    "gif-frame-65535x65535.gif": (gif_frame(65535, 65535), 413, "too_large"),
    "webp-vp8-16383x16383.webp": (webp_vp8(16383, 16383), 413, "too_large"),
    "webp-vp8l-16384x16384.webp": (webp_vp8l(16384, 16384), 413, "too_large"),
    "webp-vp8x-16777216x16777216.webp": (
        webp_with_canvas(make_image("WEBP", (16, 16), frames=2), 1 << 24, 1 << 24),
        413,
        "too_large",
    ),
    "heic-65535x65535.heic": (
        heif_set_ispe(make_image("HEIF", (64, 48)), 65535, 65535),
        413,
        "too_large",
    ),
    "png-0x64.png": (png_with_header_size(0, 64), 400, "unsupported_type"),
    "png-64x0.png": (png_with_header_size(64, 0), 400, "unsupported_type"),
    "jpeg-64x0.jpg": (jpeg_claiming(64, 0), 400, "unsupported_type"),
}


@pytest.mark.parametrize("name", list(HEADER_BOMBS))
def test_sizes_claimed_by_a_header_are_refused_without_allocating_them(app: App, name: str) -> None:
    """Items 25 to 27 and 29: a few hundred bytes claiming gigapixels (or no pixels at all) in
    each allowed format, the GIF screen and a GIF frame too. Refused from the header: no
    raster, so no memory growth and no time to speak of."""
    data, status, code = HEADER_BOMBS[name]
    api, h = app.api, app.auth
    before = api.state(h)
    with peak_growth() as grown:
        started = time.monotonic()
        r = api.upload(h, (name, data))
        elapsed = time.monotonic() - started
    assert_refused(api, r, status, code)
    assert name in r.json()["error"]
    assert api.state(h) == before
    assert elapsed < 2, f"{elapsed:.1f} s"
    assert grown[0] < 50, f"peak memory grew {grown[0]:.0f} MiB"


@pytest.mark.parametrize("size", [(1_000_000, 1), (1, 1_000_000)])
def test_extreme_aspect_ratios_within_the_pixel_budget_are_stored_and_rendered(
    app: App, size: tuple[int, int]
) -> None:
    """Item 27, accepted deviation: pixvault limits pixels (50 MP by default), not sides or
    their ratio, so a 1,000,000 × 1 PNG (1 MP, a 1 MB raster) is a valid image. What must
    hold: it costs no more than its pixels, and its thumbnail comes out (1 px thin)."""
    api, h = app.api, app.auth
    out = io.BytesIO()
    Image.new("L", size, 128).save(out, "PNG")
    r = api.upload(h, ("wide.png", out.getvalue()))
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    assert image["dimensions"] == {"width": size[0], "height": size[1]}
    thumb = ready(api, h, image)
    assert sorted(thumb.size) == [1, 400]


# -- 28: compressed text chunks --------------------------------------------------------------


def chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def text_chunk(ctype: bytes, text: bytes) -> bytes:
    """A zTXt or compressed iTXt chunk named ``Comment``: no place in its keyword, so the
    privacy pass has to inflate it to look for one."""
    head = b"Comment\x00\x00" if ctype == b"zTXt" else b"Comment\x00\x01\x00\x00\x00"
    return chunk(ctype, head + zlib.compress(text, 9))


def with_chunks(png: bytes, chunks: bytes, *, before_pixels: bool) -> bytes:
    at = 33 if before_pixels else png.rindex(b"IEND") - 4  # after IHDR, or before IEND
    return png[:at] + chunks + png[at:]


def test_text_chunks_cannot_make_the_server_inflate_gigabytes(app: App) -> None:
    """Item 28. After the pixels, ~9,000 chunks of 1 KiB that each inflate to 1 MiB (9 GiB of
    text in a 9 MiB file): the privacy pass inflates only 16 MiB of them in all and drops the
    rest as unreadable, so the upload takes a fraction of a second (it took half a minute)
    and the stored image can be decoded (Pillow refuses more than 64 MiB of text). Before the
    pixels, Pillow's own limits refuse the file: one chunk over 1 MiB, or 64 MiB in all."""
    api, h = app.api, app.auth
    png = make_image("PNG", (32, 32))
    one = text_chunk(b"zTXt", b"B" * (MIB - 100))
    count = 9 * MIB // len(one)
    flood = with_chunks(
        png,
        one * (count // 2) + text_chunk(b"iTXt", b"C" * (MIB - 100)) * (count // 2),
        before_pixels=False,
    )
    with peak_growth() as grown:
        started = time.monotonic()
        r = api.upload(h, ("flood.png", flood))
        elapsed = time.monotonic() - started
    assert r.status_code == 200, r.text
    assert elapsed < 10, f"{elapsed:.1f} s to check {len(flood)} bytes"
    assert grown[0] < 64, f"peak memory grew {grown[0]:.0f} MiB"
    (image,) = r.json()["images"]
    stored = api.fetch(image["url"]).content
    kept = stored.count(b"zTXt") + stored.count(b"iTXt")
    assert 0 < kept < count // 100, kept  # what was read is kept; the rest is not stored
    assert ready(api, h, image).size == (32, 32)

    too_long = text_chunk(b"zTXt", b"D" * 2 * MIB)
    r = api.upload(h, ("long.png", with_chunks(png, too_long, before_pixels=False)))
    assert r.status_code == 200, r.text
    assert b"zTXt" not in api.fetch(r.json()["images"][0]["url"]).content  # unread: dropped

    before = api.state(h)
    for name, chunks in [("long-first.png", too_long), ("flood-first.png", one * 80)]:
        r = api.upload(h, (name, with_chunks(png, chunks, before_pixels=True)))
        assert_refused(api, r, 400, "unsupported_type")
    assert api.state(h) == before


# -- 30: metadata of many megabytes ---------------------------------------------------------


def png_with_makernote(size: int) -> bytes:
    """A PNG whose eXIf chunk holds an Exif IFD with a ``size``-byte MakerNote."""
    ifd0 = struct.pack("<HHHII", 1, 0x8769, 4, 1, 26) + bytes(4)  # -> Exif IFD at 26
    exif_ifd = struct.pack("<HHHII", 1, 0x927C, 7, size, 44) + bytes(4)  # MakerNote at 44
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + exif_ifd + bytes(range(256)) * (size // 256)
    return with_chunks(make_image("PNG", (64, 48)), chunk(b"eXIf", tiff), before_pixels=True)


def _pillow(fmt: str, **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, fmt, **options)
    return out.getvalue()


FILLER = bytes(range(256)) * (8 * MIB // 256)
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><!--' + FILLER.replace(b"-", b"_") + b"--></x:xmpmeta>"


def test_metadata_of_many_megabytes_is_bounded_by_the_file_size_limit(app: App) -> None:
    """Item 30. An 8 MiB ICC profile (spread over 128 JPEG APP2 segments), MakerNote (PNG
    eXIf) and XMP packet (WebP) are read, kept in the original as received (no position in
    them: the default strip mode keeps them) and never copied into a derivative. What bounds
    them is the 10 MiB file limit; the pass that strips them holds a file in memory once. An
    ICC profile compressed to inflate to 100 MiB (PNG iCCP) is refused by Pillow's 1 MiB
    limit on compressed chunks."""
    api, h = app.api, app.auth
    files = {
        "icc.jpg": _pillow("JPEG", icc_profile=FILLER),
        "makernote.png": png_with_makernote(8 * MIB),
        "xmp.webp": _pillow("WEBP", xmp=XMP),
    }
    for name, data in files.items():
        assert len(data) > 8 * MIB
        with peak_growth() as grown:
            started = time.monotonic()
            r = api.upload(h, (name, data))
            elapsed = time.monotonic() - started
        assert r.status_code == 200, f"{name}: {r.text}"
        assert elapsed < 5, f"{name}: {elapsed:.1f} s"
        # ~20 MiB: the body is held by the test client and by the app, and read once to strip
        # it. 8 MiB parsed into Python objects (one per byte of a MakerNote, say) is gigabytes.
        assert grown[0] < 64, f"{name}: peak memory grew {grown[0]:.0f} MiB"
        (image,) = r.json()["images"]
        assert api.fetch(image["url"]).content == data
        ready(api, h, image)
    iccp = chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(bytes(100 * MIB), 9))
    before = api.state(h)
    r = api.upload(h, ("iccp.png", with_chunks(make_image("PNG"), iccp, before_pixels=True)))
    assert_refused(api, r, 400, "unsupported_type")
    assert api.state(h) == before


# -- 33: variants ------------------------------------------------------------------------------


def test_variant_sizes_and_formats_outside_the_allow_list_make_nothing(app: App) -> None:
    """Item 33: the only size parameter is a width from an allow-list, and each allowed width
    is one stored variant per format, however it is spelled."""
    api, h = app.api, app.auth
    image = api.upload(h, ("v.png", make_image("PNG", (300, 200)))).json()["images"][0]
    assert api.container.derivatives.wait_idle(timeout=60)
    base = f"/api/images/{image['id']}/variant"
    keys = set(api.container.blobs.iter_keys())
    hostile = [
        "w=99999",
        "w=-400",
        "w=0",
        "w=NaN",
        "w=inf",
        "w=4e2",
        "w=0x190",
        "w=",
        "w=18446744073709551616",
        "w=1e400",
        "w=%EF%BC%94%EF%BC%90%EF%BC%90",
        "format=webp",
        "w=400&format=bmp",
        "w=400&format=../../x.php",
        "w=400&format=WEBP",
        "w=400&w=99999",
    ]
    hostile += [f"w={w}" for w in range(1, 3000, 15)]  # 200 distinct sizes, none allowed
    for query in hostile:
        r = api.client.get(f"{base}?{query}", headers=h, follow_redirects=False)
        assert r.status_code == 400, (query, r.status_code, r.text)
        assert r.json()["code"] == "invalid_input"
        assert_no_leak(r, api)
    assert set(api.container.blobs.iter_keys()) == keys
    for spelling in ["400", "0400", "+400", "400.0", "%20400", "4_00"]:
        r = api.client.get(f"{base}?w={spelling}&format=jpeg", headers=h, follow_redirects=False)
        assert r.status_code == 200, (spelling, r.text)
    assert api.container.derivatives.wait_idle(timeout=60)
    made = set(api.container.blobs.iter_keys()) - keys
    assert [k.rsplit("/", 1)[1] for k in made] == ["w400.jpg"]


# -- 32: the render time limit ----------------------------------------------------------------


def test_a_render_killed_for_time_leaves_no_temp_file_or_derivative(app: App) -> None:
    """Item 32: the derivative worker that runs past its time limit is killed, the image is
    marked failed (its owner sees why) and every temp file of the job is gone. The rest of
    the item (the pool recovers, a killed worker is replaced) is tested in test_derivatives."""
    api, h = app.api, app.auth
    processor = api.container.processor
    limit = processor.time_limit  # type: ignore[attr-defined]
    processor.time_limit, processor.delay = 0.5, 30.0  # type: ignore[attr-defined]
    try:
        image = api.upload(h, ("slow.png", make_image("PNG", (300, 200)))).json()["images"][0]
        assert api.container.derivatives.wait_idle(timeout=60)  # the background try: killed
        neutral = api.fetch(image["thumbnailUrl"])  # the urgent try: killed, so failed
        assert neutral.status_code == 200
    finally:
        processor.time_limit, processor.delay = limit, 0.0  # type: ignore[attr-defined]
    shown = api.client.get(f"/api/images/{image['id']}", headers=h).json()["image"]
    assert shown["status"] == "failed"
    assert shown["failureReason"] == "Processing the image took longer than 0.5 s"
    assert list(api.settings.spool_dir.iterdir()) == []
    assert [k for k in api.container.blobs.iter_keys() if image["id"] in k] == [
        f"{api.user_id(h)}/{image['id']}.png"
    ]
