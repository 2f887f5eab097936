"""core.mapped: windowed passes over a mapped upload give exactly the plain results, also
where a match or a window boundary falls between two windows."""

from __future__ import annotations

import hashlib
import io
import mmap
import re
import zlib
from functools import partial
from pathlib import Path

import pytest
from PIL import Image

from pixvault.core import mapped, structure
from pixvault.core.privacy import StripMode, rewrite
from tests.metagen import exif_bytes

SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _map(tmp_path: Path, data: bytes) -> mmap.mmap:
    path = tmp_path / "f"
    path.write_bytes(data)
    with path.open("rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


@pytest.mark.parametrize("at", [0, 4094, 4095, 4096, 8190, 8191, 8192, 20_000])
def test_a_match_across_a_window_boundary_is_found(tmp_path: Path, at: int) -> None:
    data = bytearray(b"\xff\x00\x00\x00" * 6_000)  # stuffed FF00 pairs: no match
    data[at - at % 4 : at - at % 4 + 8] = bytes(8)
    data[at : at + 2] = b"\xff\xd9"
    buf = _map(tmp_path, bytes(data))
    try:
        for pos in sorted({0, max(0, at - 1), at}):
            assert mapped.search(SCAN_END, buf, pos, window=4096) == at
        assert mapped.search(SCAN_END, buf, at + 1, window=4096) == -1
    finally:
        buf.close()


def test_no_match_is_minus_one_on_bytes_and_maps(tmp_path: Path) -> None:
    data = b"\xff\x00" * 5000
    buf = _map(tmp_path, data)
    try:
        assert mapped.search(SCAN_END, buf, 0, window=4096) == -1
        assert mapped.search(SCAN_END, data, 0) == -1
    finally:
        buf.close()


def test_crc_and_hashes_equal_the_plain_ones_and_the_map_still_reads(tmp_path: Path) -> None:
    data = bytes(range(256)) * 300 + b"tail"
    buf = _map(tmp_path, data)
    try:
        assert mapped.crc32(buf, 3, len(data) - 5, window=4096) == zlib.crc32(data[3:-5])
        md5, sha = hashlib.md5(), hashlib.sha256()
        mapped.update((md5, sha), buf, window=4096)
        assert md5.digest() == hashlib.md5(data).digest()
        assert sha.digest() == hashlib.sha256(data).digest()
        assert buf[:] == data  # released pages come back from the page cache
    finally:
        buf.close()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_walks_and_strips_over_a_map_released_every_page(
    fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a one-page window every pass releases as often as it can, and still reads the
    same bytes: the structure walk and the stripper agree with their runs over ``bytes``."""
    monkeypatch.setattr(mapped, "WINDOW", mmap.PAGESIZE)
    image = Image.effect_noise((300, 200), 60).convert("RGB")
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=95, exif=exif_bytes(), restart_marker_blocks=1)
    else:
        image.save(out, "PNG", exif=exif_bytes(), compress_level=0)
    data = out.getvalue()
    walk = structure.walk_jpeg if fmt == "JPEG" else partial(structure.walk_png, max_frames=1)
    buf = _map(tmp_path, data)
    try:
        assert walk(buf) == walk(data)
        pieces, _ = rewrite(buf, fmt, StripMode.GPS)
        assert pieces is not None
        stripped = b"".join(bytes(p) for p in pieces)
        del pieces
    finally:
        buf.close()
    plain, _ = rewrite(data, fmt, StripMode.GPS)
    assert plain is not None
    assert stripped == b"".join(bytes(p) for p in plain)
