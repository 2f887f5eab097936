"""Catalogue section D, the known-CVE regression corpus: run on every dependency bump.

Each test is named after what it would have caught. The payloads are built here from their
published shape (a few lines of MVG or MSL, one PNG text chunk), pointed at a canary file and
a canary listener of this test's own, never at anything real.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
from pathlib import Path

import pytest
from PIL import features

from pixvault.core import media
from pixvault.core.errors import UnsupportedType
from tests.conftest import Api
from tests.imagegen import (
    AVIF_SUPPORTED,
    corrupt_png_crc,
    gif_without_trailer,
    jpeg_without_eoi,
    make_image,
    truncated,
    webp_bad_riff_size,
)
from tests.security.hostile import (
    assert_refused,
    derivatives,
    image_open_calls,
    pillow_only_formats,
    png_with_chunk,
    post,
)
from tests.security.oracles import snapshot

ROOT = Path(__file__).resolve().parents[2]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def test_cve_2023_4863_libwebp_is_at_least_1_3_2() -> None:
    """D34: the heap overflow in libwebp's lossless Huffman tables was fixed in 1.3.2. The
    WebP decoder Pillow was built with is the one uploads and derivatives use."""
    version = features.version("webp")
    assert version is not None, "Pillow has no WebP support"
    assert _version(version) >= (1, 3, 2), f"libwebp {version} is open to CVE-2023-4863"


def _child_pids() -> set[int]:
    """This process's children (every thread's), from /proc."""
    found: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError):  # the thread ended while we looked
            found.update(int(pid) for pid in children.read_text().split())
    return found


def test_imagetragick_payloads_are_refused_and_run_nothing(local_api: Api, tmp_path: Path) -> None:
    """D35 (CVE-2016-3714 and its family): MVG and MSL scripts using ``url()`` with a shell
    pipe, ``ephemeral:``, ``msl:`` and ``text:``, named and declared as images, are 400 from
    the magic allow-list. The canary file survives, nothing is written or fetched, and no
    child process starts."""
    api = local_api
    h = api.signup()
    canary = tmp_path / "canary"
    canary.write_text("still here\n")
    touched = tmp_path / "pwned"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    graphic = "push graphic-context\nviewbox 0 0 640 480\n{}\npop graphic-context\n"
    msl = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<image>\n'
        f'<read filename="{url}/x.png" />\n<write filename="{touched}" />\n</image>\n'
    )
    payloads = {
        "url-pipe": graphic.format(f"fill 'url({url}/x.jpg\"|touch \"{touched})'"),
        "ephemeral": graphic.format(f"image over 0,0 0,0 'ephemeral:{canary}'"),
        "msl-scheme": graphic.format(f"image over 0,0 0,0 'msl:{url}/x.msl'"),
        "text": graphic.format("image over 0,0 0,0 'text:/etc/passwd'"),
        "msl": msl,
    }
    children = _child_pids()
    before = snapshot(api, [h], [])
    try:
        for label, script in payloads.items():
            for name, ctype, magic in [
                (f"{label}.jpg", "image/jpeg", b""),
                (f"{label}.png", "image/png", b""),
                (f"{label}.jpeg", "image/jpeg", b"\xff\xd8\xff\xe0"),  # JPEG magic, then it
            ]:
                r = post(api, h, (name, magic + script.encode(), ctype))
                assert_refused(api, h, before, r)
        assert canary.read_text() == "still here\n"
        assert not touched.exists()
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody called the canary listener
    finally:
        listener.close()
    assert _child_pids() <= children, "a refused upload started a process"


def test_no_external_image_tool_is_in_the_pipeline() -> None:
    """D35's and D37's precondition: ImageMagick (Wand, pgmagick), ExifTool and shell-outs
    are nowhere in pixvault, so their CVEs (ImageTragick, CVE-2021-22204's DjVu) cannot
    apply. The day one is added, this fails and the policy checks those items ask for are due."""
    banned = re.compile(
        r"^\s*(?:import|from)\s+(?:subprocess|wand|pgmagick|PythonMagick|exiftool|pyexiftool)\b"
        r"|\bos\.(?:system|popen|exec\w*|spawn\w*|posix_spawn\w*)\s*\("
        r"|\b(?:magick|convert|exiftool|identify|gs)\b['\"]",
        re.M,
    )
    sources = sorted((ROOT / "src" / "pixvault").rglob("*.py"))
    assert len(sources) > 50
    offenders = [
        f"{p.relative_to(ROOT)}: {m[0]!r}" for p in sources for m in banned.finditer(p.read_text())
    ]
    assert offenders == []
    deps = (ROOT / "pyproject.toml").read_text().lower()
    for tool in ("wand", "pgmagick", "pyexiftool", "exiftool"):
        assert not re.search(rf"[\"']{tool}\b", deps), tool


def test_cve_2022_44268_png_profile_path_pulls_no_file_into_any_output(
    local_api: Api, tmp_path: Path
) -> None:
    """D36: ImageMagick read the file a PNG ``profile`` text chunk names and embedded it in
    its output. The canary's bytes (raw or hex, as ImageMagick writes them) are in no stored
    or served byte: original, thumbnails, preview or variant."""
    api = local_api
    h = api.signup()
    secret = secrets.token_bytes(16)
    canary = tmp_path / "canary.bin"
    canary.write_bytes(secret)
    png = make_image("PNG", (300, 200))
    for ctype, data in [
        (b"tEXt", b"profile\x00" + str(canary).encode()),
        (b"iTXt", b"profile\x00\x00\x00\x00\x00" + str(canary).encode()),
    ]:
        png = png_with_chunk(png, ctype, data)
    r = api.upload(h, ("exploit.png", png))
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    outputs = {"original": api.client.get(image["url"]).content}
    outputs.update(derivatives(api, image, h))
    stored = {
        k: (api.container.blobs.local_path(k) or Path()).read_bytes() for k in api.state(h)[0]
    }
    for where, body in [*outputs.items(), *stored.items()]:
        for needle in (secret, secret.hex().encode(), secret.hex().upper().encode()):
            assert needle not in body, f"{where} holds the canary file's bytes"


def test_pillow_crasher_formats_damaged_never_reach_a_plugin(tmp_path: Path) -> None:
    """D38: the formats of Pillow's historical crashers (TIFF, SGI, PCX, FLI, PSD, BLP, EPS,
    J2K and more), whole, cut short, bit-flipped in the header and with garbage appended, are
    refused by the magic allow-list before Pillow opens them. Crashers need a plugin to parse
    them; none is ever asked to."""
    path = tmp_path / "upload.bin"
    with image_open_calls() as calls:
        for fmt, whole in pillow_only_formats().items():
            flipped = bytearray(whole)
            for i in range(4, min(32, len(flipped))):
                flipped[i] ^= 0xA5
            for variant in (whole, whole[: len(whole) // 2], bytes(flipped), whole + whole):
                path.write_bytes(variant)
                with pytest.raises(UnsupportedType):
                    media.inspect(path, max_pixels=50_000_000)
                assert calls == [], f"{fmt}: Pillow was asked to open it"


def test_damaged_allowed_images_are_a_clean_400_never_500(local_api: Api) -> None:
    """D39: a truncated JPEG, a PNG with a bad CRC, a WebP whose RIFF size is wrong (either
    way) and their cousins are 400 ``unsupported_type`` with nothing stored."""
    api = local_api
    h = api.signup()
    webp = make_image("WEBP", (64, 48))
    cases = {
        "cut.jpg": truncated(make_image("JPEG", (64, 48)), 0.5),
        "no-eoi.jpg": jpeg_without_eoi(make_image("JPEG", (64, 48))),
        "bad-crc.png": corrupt_png_crc(make_image("PNG", (64, 48))),
        "riff-too-big.webp": webp_bad_riff_size(webp),
        "riff-too-small.webp": webp[:4]
        + (int.from_bytes(webp[4:8], "little") - 4).to_bytes(4, "little")
        + webp[8:],
        "cut.webp": truncated(webp, 0.7),
        "no-trailer.gif": gif_without_trailer(make_image("GIF", (64, 48))),
        "cut.heic": truncated(make_image("HEIF", (64, 48)), 0.8),
    }
    if AVIF_SUPPORTED:
        cases["cut.avif"] = truncated(make_image("AVIF", (64, 48)), 0.8)
    before = snapshot(api, [h], [])
    for name, data in cases.items():
        assert_refused(api, h, before, api.upload(h, (name, data)))
