"""The real-world corpus (tests/corpus): each file is what its note says, and gets its verdict.

The committed bytes are checked against the manifest's checksums everywhere; the script is
checked to rebuild them byte for byte only under the Pillow and pillow-heif that made them
(other encoder releases write other, equally valid, bytes).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path
from typing import Any

import PIL
import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms

from pixvault.core import media
from pixvault.core.errors import TooLarge, UnsupportedType
from tests.corpus import make_corpus

LIMIT = 50_000_000  # the default PIXVAULT_MAX_PIXELS
MANIFEST: dict[str, Any] = json.loads(make_corpus.MANIFEST.read_text())
FILES: dict[str, dict[str, Any]] = MANIFEST["files"]
REFUSALS: dict[str, type[Exception]] = {
    "unsupported_type": UnsupportedType,
    "too_large": TooLarge,
}


def data(name: str) -> bytes:
    return (make_corpus.CORPUS_DIR / name).read_bytes()


def expected(name: str) -> dict[str, Any]:
    """The manifest entry, except that AVIF is refused by a Pillow built without it."""
    entry = dict(FILES[name])
    if entry["format"] not in media.ALLOWED_FORMATS:
        entry["verdict"] = "unsupported_type"
    return entry


# --- the corpus itself ----------------------------------------------------------------


def test_manifest_lists_exactly_the_committed_files() -> None:
    on_disk = sorted(p.name for p in make_corpus.CORPUS_DIR.iterdir())
    assert on_disk == sorted(FILES)


@pytest.mark.parametrize("name", sorted(FILES))
def test_committed_file_matches_its_manifest_checksum(name: str) -> None:
    assert hashlib.sha256(data(name)).hexdigest() == FILES[name]["sha256"]


def test_corpus_stays_small() -> None:
    assert sum(len(data(name)) for name in FILES) < 2_000_000


def test_every_verdict_and_the_required_cases_are_present() -> None:
    assert {e["verdict"] for e in FILES.values()} == {"accept", "unsupported_type", "too_large"}
    assert {f"orientation-{o}.jpg" for o in range(1, 9)} <= set(FILES)
    assert {"truncated.jpg", "truncated.png", "truncated.heic", "gps.heic", "bomb.png"} <= set(
        FILES
    )


def test_script_rebuilds_the_committed_bytes(tmp_path: Path) -> None:
    made_with = MANIFEST["generator"]
    here = {"pillow": PIL.__version__, "pillow_heif": pillow_heif.__version__}
    if here != made_with:
        pytest.skip(f"corpus made with {made_with}, this is {here}: encoders differ")
    rebuilt = make_corpus.build(tmp_path)
    assert rebuilt == FILES
    for name in FILES:
        assert (tmp_path / name).read_bytes() == data(name), name


# --- each file is the tricky case its note claims ------------------------------------------


def _open(name: str) -> Image.Image:
    return Image.open(make_corpus.CORPUS_DIR / name)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_files_carry_their_exif_tag(orientation: int) -> None:
    with _open(f"orientation-{orientation}.jpg") as im:
        assert im.size == make_corpus.SIZE  # stored landscape; shown turned for 5–8
        assert im.getexif()[ExifTags.Base.Orientation] == orientation


@pytest.mark.parametrize("name", ["gps.heic", "gps-xmp.jpg"])
def test_gps_files_carry_a_real_position(name: str) -> None:
    with _open(name) as im:
        gps = im.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert gps[ExifTags.GPS.GPSLatitudeRef] == "N"
    assert [float(v) for v in gps[ExifTags.GPS.GPSLatitude]] == [48.0, 51.0, 29.52]
    assert [float(v) for v in gps[ExifTags.GPS.GPSLongitude]] == [2.0, 17.0, 40.2]


def test_gps_jpeg_also_carries_xmp() -> None:
    with _open("gps-xmp.jpg") as im:
        xmp = im.info["xmp"]
    assert b'exif:GPSLatitude="48,51.492N"' in xmp


def test_rotated_heic_is_turned_by_irot_not_exif() -> None:
    raw = data("rotated-6.heic")
    assert b"irot" in raw
    with _open("rotated-6.heic") as im:
        assert im.size == (make_corpus.SIZE[1], make_corpus.SIZE[0])
        assert im.info["original_orientation"] == 6


def test_brands_of_the_heif_files() -> None:
    assert data("gps.heic")[8:12] == b"heic"
    assert data("mif1.heif")[8:12] == b"mif1"
    assert b"heic" in data("mif1.heif")[12:28]  # still lists the HEVC brand


def test_cmyk_and_icc_and_progressive_jpegs() -> None:
    with _open("cmyk.jpg") as im:
        assert im.mode == "CMYK"
    with _open("adobe-rgb-icc.jpg") as im:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"])).profile
    assert profile.profile_description == make_corpus.ADOBE_RGB_DESCRIPTION
    assert profile.red_colorant is not None
    assert round(profile.red_colorant[0][1], 3) == 0.311  # Adobe RGB's red primary Y
    with _open("progressive.jpg") as im:
        assert im.info.get("progressive") == 1
    assert data("progressive.jpg").count(b"\xff\xda") > 1


def test_png_bit_depth_and_transparency() -> None:
    assert data("rgb48.png")[24:26] == b"\x10\x02"  # IHDR: 16 bits, truecolour
    with _open("palette-trns.png") as im:
        assert im.mode == "P"
        assert im.info["transparency"] == 0
    assert b"tRNS" in data("palette-trns.png")


def test_bomb_is_small_on_disk_and_huge_in_pixels() -> None:
    raw = data("bomb.png")
    assert len(raw) < 100_000
    width, height = struct.unpack_from(">II", raw, 16)  # IHDR (Pillow would refuse to open it)
    assert (width, height) == (make_corpus.BOMB_SIDE, make_corpus.BOMB_SIDE)
    assert width * height > 2 * (Image.MAX_IMAGE_PIXELS or 0) and width * height > LIMIT


def test_polyglot_hides_html_in_a_jpeg_comment() -> None:
    raw = data("polyglot.jpg")
    com = raw.index(b"\xff\xfe")
    assert raw.index(b"<html>") > com
    assert raw.index(b"<script>") < raw.index(b"\xff\xda")  # before the image data starts


def test_truncated_files_lost_their_ends() -> None:
    assert not data("truncated.jpg").endswith(b"\xff\xd9")
    assert b"IEND" not in data("truncated.png")
    # The cut HEIC opens (its boxes still tile the file): only decoding would notice, which is
    # why the upload path walks iloc itself instead of trusting the header parse.
    with _open("item-past-end.heic") as im:
        assert im.size == make_corpus.SIZE
        with pytest.raises(ValueError, match="iloc"):
            im.load()


# --- pixvault's verdicts --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILES))
def test_inspect_gives_each_file_its_verdict(name: str) -> None:
    entry = expected(name)
    path = make_corpus.CORPUS_DIR / name
    if entry["verdict"] == "accept":
        info = media.inspect(path, max_pixels=LIMIT)
        got = (info.format, info.mime, info.width, info.height, info.frames)
        want = (entry["format"], entry["mime"], entry["width"], entry["height"], entry["frames"])
        assert got == want
    else:
        with pytest.raises(REFUSALS[entry["verdict"]]):
            media.inspect(path, max_pixels=LIMIT)
