"""Each metadata rewriter on Pillow-made and hand-built files: the position goes, the pixels and
everything else stay, and broken metadata is a clean ``UnsupportedType`` or left alone."""

from __future__ import annotations

import hashlib
import io
import mmap
import random
import struct
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from pixvault.core.errors import UnsupportedType
from pixvault.core.models import IncomingFile, PhotoMetadata
from pixvault.core.privacy import StripMode, exif, prepare, rewrite, tiff
from pixvault.core.spool import Spool
from tests.imagegen import AVIF_SUPPORTED, make_image
from tests.metagen import (
    FORMATS,
    HEIF_WRITABLE,
    LATITUDE,
    LONGITUDE,
    XMP_WITH_GPS,
    XMP_WITHOUT_GPS,
    decoded,
    exif_bytes,
    iptc_segment,
    jpeg_insert,
    jpeg_segment,
    photo,
    png_insert,
    srgb_icc,
)

needs_heif = pytest.mark.skipif(
    not HEIF_WRITABLE, reason="pillow-heif with an HEVC encoder is not installed"
)
ALL_FORMATS = [*FORMATS, pytest.param("HEIF", marks=needs_heif)]


def strip(data: bytes, fmt: str, mode: StripMode = StripMode.GPS) -> bytes:
    pieces, _ = rewrite(data, fmt, mode)
    return data if pieces is None else b"".join(bytes(p) for p in pieces)


def gps_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as im:
        return dict(im.getexif().get_ifd(0x8825))


def exif_tags(data: bytes) -> set[int]:
    with Image.open(io.BytesIO(data)) as im:
        return set(im.getexif())


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_gps_mode_removes_the_position_and_keeps_pixels_and_camera(fmt: str) -> None:
    xmp = None if fmt == "PNG" else XMP_WITH_GPS
    sent = photo(fmt, exif=exif_bytes(), xmp=xmp)
    assert gps_of(sent)  # the oracle sees a position before
    stored = strip(sent, fmt)
    assert gps_of(stored) == {}
    assert b"GPSLatitude" not in stored
    assert decoded(stored) == decoded(sent)
    assert {0x010F, 0x0110, 0x8769} <= exif_tags(stored)  # the camera stays in mode gps
    if fmt in ("AVIF", "HEIF"):  # items are edited in place: no offset moves
        assert len(stored) == len(sent)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_none_mode_and_files_without_metadata_stay_byte_identical(fmt: str) -> None:
    with_gps = photo(fmt, exif=exif_bytes())
    assert rewrite(with_gps, fmt, StripMode.NONE)[0] is None
    bare = photo(fmt, exif=exif_bytes(gps=False), xmp=None if fmt == "PNG" else XMP_WITHOUT_GPS)
    assert rewrite(bare, fmt, StripMode.GPS)[0] is None
    plain = photo(fmt)
    for mode in StripMode:
        assert rewrite(plain, fmt, mode)[0] is None


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_all_mode_keeps_only_the_orientation_and_icc(fmt: str) -> None:
    icc = srgb_icc()
    sent = photo(fmt, exif=exif_bytes(orientation=6), xmp=XMP_WITHOUT_GPS, icc=icc)
    stored = strip(sent, fmt, StripMode.ALL)
    assert decoded(stored) == decoded(sent)
    assert b"Canon" not in stored and b"purl.org/dc" not in stored
    with Image.open(io.BytesIO(stored)) as im:
        assert im.info.get("icc_profile") == icc
        if fmt != "HEIF":  # libheif turns EXIF orientation into an irot property on write
            assert dict(im.getexif()) == {0x0112: 6}
            assert ImageOps.exif_transpose(im).size == (48, 64)


def test_all_mode_drops_upright_exif_entirely() -> None:
    sent = photo("JPEG", exif=exif_bytes(orientation=1))
    stored = strip(sent, "JPEG", StripMode.ALL)
    assert b"Exif\x00" not in stored
    assert exif_tags(stored) == set()


def test_jpeg_all_mode_drops_iptc_comments_and_keeps_jfif_and_adobe() -> None:
    adobe = jpeg_segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
    sent = jpeg_insert(
        photo("JPEG", exif=exif_bytes()),
        iptc_segment(),
        jpeg_segment(0xFE, b"shot at home"),
        adobe,
    )
    stored = strip(sent, "JPEG", StripMode.ALL)
    assert b"Photoshop 3.0" not in stored and b"shot at home" not in stored
    assert adobe in stored and b"JFIF\x00" in stored
    assert decoded(stored) == decoded(sent)
    # Mode gps keeps comments, but a place name is a location: the IPTC record held only the
    # city, so the APP13 segment goes whole.
    gps_only = strip(sent, "JPEG")
    assert b"Photoshop 3.0" not in gps_only and b"Paris" not in gps_only
    assert b"shot at home" in gps_only and adobe in gps_only


def test_jpeg_gps_xmp_split_over_extended_packet_is_dropped_whole() -> None:
    guid = b"0" * 32
    ext_id = b"http://ns.adobe.com/xmp/extension/\x00" + guid + struct.pack(">II", 20, 0)
    main = jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP_WITHOUT_GPS)
    sent = jpeg_insert(
        make_image("JPEG"),
        main,
        jpeg_segment(0xE1, ext_id + b"<x exif:GP"),  # the property straddles two segments
        jpeg_segment(0xE1, ext_id + b"SLatitude='1'/>"),
    )
    stored = strip(sent, "JPEG")
    assert b"ns.adobe.com/xap" not in stored and b"xmp/extension" not in stored
    assert decoded(stored) == decoded(sent)


def test_jpeg_trailing_image_with_exif_is_dropped_with_its_mpf_index() -> None:
    second = photo("JPEG", exif=exif_bytes())
    mpf = jpeg_segment(0xE2, b"MPF\x00" + b"II*\x00" + b"\x08\x00\x00\x00" + b"\x00" * 6)
    sent = jpeg_insert(photo("JPEG"), mpf) + second
    stored = strip(sent, "JPEG")
    assert stored == jpeg_insert(photo("JPEG"), b"")
    plain_tail = jpeg_insert(photo("JPEG"), mpf) + make_image("JPEG")
    assert rewrite(plain_tail, "JPEG", StripMode.GPS)[0] is None


def test_png_location_text_goes_and_other_text_stays() -> None:
    xmp = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_WITH_GPS
    base = make_image("PNG")
    sent = png_insert(
        base,
        (b"tEXt", b"Location\x00Paris, Champ de Mars"),
        (b"zTXt", b"GPSLatitude\x00\x00" + zlib.compress(b"48.858")),
        (b"iTXt", xmp),
        (b"tEXt", b"Comment\x00a red square"),
    )
    stored = strip(sent, "PNG")
    assert b"Champ de Mars" not in stored and b"GPSLatitude" not in stored
    assert b"adobe.xmp" not in stored
    with Image.open(io.BytesIO(stored)) as im:
        assert im.info == {"Comment": "a red square"}
    assert decoded(stored) == decoded(sent)
    assert strip(sent, "PNG", StripMode.ALL) == base


def test_png_raw_exif_profile_with_gps_is_dropped() -> None:
    blob = exif_bytes().hex().encode()
    raw = b"Raw profile type exif\x00\nexif\n" + str(len(blob) // 2).encode() + b"\n" + blob
    sent = png_insert(make_image("PNG"), (b"tEXt", raw))
    assert gps_of(sent)
    assert gps_of(strip(sent, "PNG")) == {}


def test_webp_dropped_xmp_clears_its_flag_and_fixes_the_riff_size() -> None:
    sent = photo("WEBP", exif=exif_bytes(gps=False), xmp=XMP_WITH_GPS)
    stored = strip(sent, "WEBP")
    assert struct.unpack_from("<I", stored, 4)[0] + 8 == len(stored)
    assert stored[20] & 0x04 == 0 and stored[20] & 0x08  # XMP flag off, EXIF flag on
    with Image.open(io.BytesIO(stored)) as im:
        assert "xmp" not in im.info
        assert im.getexif()[0x010F] == "Canon"
    assert decoded(stored) == decoded(sent)


def test_camera_metadata_and_position_are_read() -> None:
    taken, found = exif.read(exif_bytes()[6:], with_location=True)  # the TIFF after Exif\0\0
    assert taken == datetime(2024, 5, 6, 5, 8, 9, tzinfo=UTC)  # 07:08:09 at +02:00
    assert (found.camera_make, found.camera_model, found.lens) == (
        "Canon",
        "Canon EOS R5",
        "RF50mm F1.8 STM",
    )
    assert (found.exposure, found.iso, found.focal_length) == ("1/250", 400, 50.0)
    assert found.latitude == pytest.approx(LATITUDE)
    assert found.longitude == pytest.approx(LONGITUDE)
    _, private = exif.read(exif_bytes()[6:], with_location=False)
    assert private.latitude is None and private.longitude is None


def test_naive_date_taken_is_read_as_utc() -> None:
    data = Image.Exif()
    data.get_ifd(0x8769)[0x9003] = "2020:01:02 03:04:05"
    assert exif.read(data.tobytes()[6:], with_location=False)[0] == datetime(
        2020, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    data.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    assert exif.read(data.tobytes()[6:], with_location=False)[0] is None


# --- hostile metadata ---------------------------------------------------------------------------


def _with_bad_gps_pointer(offset: int) -> bytes:
    """A TIFF whose IFD0 holds only a GPSInfo entry pointing at ``offset``."""
    return b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x8825, 4, 1, offset) + b"\x00" * 4


def test_gps_pointer_outside_the_block_is_removed() -> None:
    data = bytearray(_with_bad_gps_pointer(10_000))
    assert tiff.remove_gps(data)
    assert not tiff.has_gps(data)


def test_gps_ifd_overlapping_its_parent_replaces_the_whole_exif() -> None:
    tiff_bytes = _with_bad_gps_pointer(8)  # the GPS IFD "is" IFD0
    sent = jpeg_insert(make_image("JPEG"), jpeg_segment(0xE1, b"Exif\x00\x00" + tiff_bytes))
    stored = strip(sent, "JPEG")
    assert b"Exif\x00" not in stored
    assert decoded(stored) == decoded(sent)


def test_ifd_with_a_lying_entry_count_drops_the_exif_block() -> None:
    lying = b"II*\x00" + struct.pack("<IH", 8, 500) + b"\x00" * 20
    sent = jpeg_insert(make_image("JPEG"), jpeg_segment(0xE1, b"Exif\x00\x00" + lying))
    stored = strip(sent, "JPEG")
    assert b"Exif\x00" not in stored
    assert exif.read(lying, with_location=True) == (None, PhotoMetadata())


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a_metadata_length_past_the_end_is_unsupported(fmt: str) -> None:
    sent = photo(fmt, exif=exif_bytes())
    at = sent.index(b"Exif\x00") - 2 if fmt == "JPEG" else sent.index(b"EXIF") + 4
    pack = ">H" if fmt == "JPEG" else "<I"
    lying = sent[:at] + struct.pack(pack, 0xFFF0) + sent[at + struct.calcsize(pack) :]
    with pytest.raises(UnsupportedType):
        rewrite(lying, fmt, StripMode.GPS)


@pytest.mark.skipif(not AVIF_SUPPORTED, reason="this Pillow has no AVIF support")
def test_avif_exif_item_pointing_past_the_end_is_unsupported() -> None:
    sent = photo("AVIF", exif=exif_bytes())
    at = sent.index(b"iloc")
    # iloc v0, 4-byte sizes: the last item's extent length is the iloc box's last 4 bytes
    (size,) = struct.unpack_from(">I", sent, at - 4)
    end = at - 4 + size
    lying = sent[: end - 4] + struct.pack(">I", 1 << 30) + sent[end:]
    with pytest.raises(UnsupportedType):
        rewrite(lying, "AVIF", StripMode.GPS)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_random_damage_to_metadata_is_refused_or_handled_never_a_crash(fmt: str) -> None:
    sent = photo(fmt, exif=exif_bytes(), xmp=None if fmt == "PNG" else XMP_WITH_GPS)
    start = sent.index(b"MM\x00*")  # Pillow writes big-endian EXIF
    rng = random.Random(fmt)
    for _ in range(120):
        damaged = bytearray(sent)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(max(0, start - 64), min(len(sent), start + 400))
            damaged[pos] = rng.randrange(256)
        for mode in StripMode:
            try:
                stored = strip(bytes(damaged), fmt, mode)
            except UnsupportedType:
                continue
            if mode is StripMode.NONE:
                continue
            assert b"GPSLatitude" not in stored
            try:
                position = gps_of(stored)
            except Exception:  # damaged past what Pillow reads: no position is readable either
                continue
            assert position == {}


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_a_read_only_mmap_is_rewritten_like_bytes(fmt: str, tmp_path: Path) -> None:
    """``prepare`` hands the rewriters the spool file mapped, not read into memory: a 50 MB
    upload must not cost 50 MB of heap (issue 10)."""
    xmp = None if fmt == "PNG" else XMP_WITH_GPS
    sent = photo(fmt, exif=exif_bytes(), xmp=xmp)
    path = tmp_path / "sent"
    path.write_bytes(sent)
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        pieces, edits = rewrite(mapped, fmt, StripMode.GPS)
        assert pieces is not None
        joined = b"".join(bytes(p) for p in pieces)
        del pieces  # the views must go before the map can close
    assert joined == strip(sent, fmt)
    assert edits.exif is not None


def test_a_same_length_strip_patches_the_spool_in_place(tmp_path: Path) -> None:
    """Cutting the GPS IFD keeps the EXIF block's length, so with ``in_place`` (the upload
    service) the received spool file is edited where it lies and becomes the stored file: its
    bytes are written to disk once (issue 10). The upload checksums stay those of what was
    received. Without ``in_place`` the received file is never touched (tests/fuzz/checks.py)."""
    sent = photo("JPEG", exif=exif_bytes())
    received = _spooled(tmp_path, sent)
    prepared = prepare(received, "JPEG", StripMode.GPS, in_place=True)
    assert prepared.stripped
    assert prepared.stored.path == received.path
    assert list(tmp_path.iterdir()) == [received.path]
    kept = received.path.read_bytes()
    assert kept == strip(sent, "JPEG")
    assert prepared.stored.size == len(kept) == len(sent)
    assert prepared.stored.md5 == hashlib.md5(kept).hexdigest()
    assert prepared.stored.sha256 == hashlib.sha256(kept).hexdigest()
    assert prepared.received.sha256 == hashlib.sha256(sent).hexdigest()
    assert gps_of(kept) == {}
    prepared.discard()  # the received file is its spooler's to delete
    assert received.path.exists()


def test_a_strip_that_changes_the_length_writes_a_new_spool(tmp_path: Path) -> None:
    sent = photo("JPEG", exif=exif_bytes(), xmp=XMP_WITH_GPS)  # the XMP segment goes whole
    received = _spooled(tmp_path, sent)
    prepared = prepare(received, "JPEG", StripMode.GPS, in_place=True)
    assert prepared.stored.path != received.path
    assert received.path.read_bytes() == sent
    assert prepared.stored.path.read_bytes() == strip(sent, "JPEG")
    prepared.discard()
    assert list(tmp_path.iterdir()) == [received.path]


def _spooled(folder: Path, data: bytes) -> IncomingFile:
    spool = Spool(folder, "photo.jpg", len(data))
    spool.write(data)
    return spool.finish()
