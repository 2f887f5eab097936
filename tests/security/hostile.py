"""Hostile uploads for catalogue sections B, D and E, and the checks their tests share.

The files are made here, in a few hundred bytes each: markup and executables, polyglots, the
formats Pillow can open but pixvault does not allow, ImageTragick payloads. Nothing is
downloaded and no binary is committed.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx2
from PIL import Image, features
from PIL.ImageFile import ImageFile

from tests.conftest import Api
from tests.security.oracles import assert_no_leak, snapshot

SCRIPT = b"<script>document.title='pwned';fetch('/canary?'+document.cookie)</script>"
"""What a polyglot carries: it renames the page and calls home, so running it is visible."""
HTML_PAYLOAD = (
    b"<!DOCTYPE html><html><head><meta http-equiv=refresh content='0;url=/navigated'></head>"
    b"<body><img src=x onerror=\"document.title='pwned'\">" + SCRIPT + b"</body></html>"
)
MARKERS = (b"<script", b"onerror", b"<html", b"pwned")
"""Bytes of the payloads that no derivative (a re-encoded picture) may contain."""

File = tuple[str, bytes, str]
"""(client file name, bytes, client-declared Content-Type)"""


def post(api: Api, headers: dict[str, str], *files: File) -> httpx2.Response:
    """One upload request; unlike ``Api.upload`` each part declares its own Content-Type."""
    parts = [("files", (name, data, ctype)) for name, data, ctype in files]
    return api.client.post("/api/images/upload", headers=headers, files=parts)


def assert_refused(
    api: Api,
    headers: dict[str, str],
    before: list[object],
    r: httpx2.Response,
    *,
    status: int = 400,
    code: str = "unsupported_type",
) -> None:
    """The safe refusal: the status and code the contract gives, N0 and L0."""
    where = f"{r.request.url.path} -> {r.status_code}"
    assert r.status_code == status, f"{where}: {r.text}"
    body = r.json()
    assert body["code"] == code, body
    assert set(body) == {"error", "code"}, body  # no image id, nothing half-made
    assert "location" not in r.headers
    assert r.headers["content-type"] == "application/json"
    assert_no_leak(r, api)
    assert snapshot(api, [headers], []) == before, f"{where}: something was stored"


def png_with_chunk(png: bytes, ctype: bytes, data: bytes) -> bytes:
    """``png`` with one more chunk (CRC right) straight after IHDR."""
    chunk = struct.pack(">I", len(data)) + ctype + data
    chunk += struct.pack(">I", zlib.crc32(ctype + data))
    ihdr_end = 8 + 8 + 13 + 4
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def derivatives(api: Api, image: dict[str, Any], headers: dict[str, str]) -> dict[str, bytes]:
    """Every re-encoded picture of an image: thumbnails, preview and a JPEG width variant
    (local stack: the app serves them itself)."""
    found: dict[str, bytes] = {}
    for name in ("thumbnailUrl", "thumbnail2xUrl", "previewUrl"):
        r = api.client.get(image[name])
        assert r.status_code == 200, (name, r.text)
        assert r.headers["content-type"] == "image/webp"
        found[name] = r.content
    r = api.client.get(f"/api/images/{image['id']}/variant?w=200&format=jpeg", headers=headers)
    assert r.status_code == 200, r.text
    found["variant"] = r.content
    return found


def _pillow(fmt: str, mode: str = "RGB", **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).convert(mode).save(out, fmt, **options)
    return out.getvalue()


def _fits() -> bytes:
    cards = ["SIMPLE  =                    T", "BITPIX  =                    8"]
    cards += ["NAXIS   =                    2", "NAXIS1  =                    1"]
    cards += ["NAXIS2  =                    1", "END"]
    header = b"".join(c.ljust(80).encode() for c in cards).ljust(2880, b" ")
    return header + b"\x05".ljust(2880, b"\x00")


def _psd() -> bytes:
    """One RGB pixel: header, empty colour-mode, resource and layer sections, raw data."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, 1, 1, 8, 3)
    return head + struct.pack(">IIIH", 0, 0, 0, 0) + b"\x10\x20\x30"


def _fli() -> bytes:
    """An FLC header (magic AF11 at offset 4) and one empty frame chunk."""
    head = struct.pack("<IHHHHHH", 128 + 16, 0xAF11, 1, 8, 8, 8, 0).ljust(128, b"\x00")
    return head + struct.pack("<IHH", 16, 0xF1FA, 0).ljust(16, b"\x00")


def pillow_only_formats() -> dict[str, bytes]:
    """A small file of every format Pillow can open (or write) that pixvault does not allow,
    including the ones with a record of Pillow CVEs (TIFF, SGI, PCX, FLI, PSD, BLP, EPS, J2K)
    and EPS, whose decoder runs Ghostscript."""
    files = {
        "TIFF": _pillow("TIFF"),
        "BMP": _pillow("BMP"),
        "ICO": _pillow("ICO"),
        "ICNS": _pillow("ICNS"),
        "PCX": _pillow("PCX"),
        "SGI": _pillow("SGI"),
        "EPS": _pillow("EPS"),
        "DDS": _pillow("DDS"),
        "BLP": _pillow("BLP", "P"),
        "TGA": _pillow("TGA"),
        "PPM": _pillow("PPM"),
        "QOI": _pillow("QOI"),
        "MSP": _pillow("MSP", "1"),
        "XBM": _pillow("XBM", "1"),
        "SPIDER": _pillow("SPIDER", "F"),
        "PDF": _pillow("PDF"),
        "PSD": _psd(),
        "FITS": _fits(),
        "FLI": _fli(),
    }
    if features.check("jpg_2000"):
        files["JPEG2000"] = _pillow("JPEG2000")
    return files


@contextmanager
def image_open_calls() -> Iterator[list[object]]:
    """Record the ``formats`` argument of every ``PIL.Image.open`` in this process.

    A spy, not a fake: each call goes on to Pillow unchanged. It shows *which* plugins the
    upload path lets Pillow try, which no answer from the API can show."""
    calls: list[object] = []
    real = Image.open

    def spy(fp: Any, mode: Literal["r"] = "r", formats: Any = None) -> ImageFile:
        calls.append(None if formats is None else list(formats))
        return real(fp, mode, formats)

    Image.open = spy
    try:
        yield calls
    finally:
        Image.open = real


def files_under(root: Path) -> set[Path]:
    """Every regular file below ``root``, relative to it."""
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}
