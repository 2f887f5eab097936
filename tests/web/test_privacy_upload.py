"""Privacy by default, through the API on both stacks: what the signed URL serves has no
position, the same pixels, and checksums, size and quota that describe exactly those bytes."""

from __future__ import annotations

import hashlib
import io
import struct
from typing import Any

import pytest
from PIL import Image, ImageOps

from pixvault.core import media
from pixvault.core.privacy import StripMode, rewrite
from tests.conftest import Api
from tests.imagegen import make_image
from tests.metagen import (
    FORMATS,
    HEIF_WRITABLE,
    LATITUDE,
    LONGITUDE,
    XMP_WITH_GPS,
    decoded,
    exif_bytes,
    iptc_segment,
    jpeg_insert,
    jpeg_segment,
    photo,
    png_insert,
    srgb_icc,
)

HEIF_ACCEPTED = "HEIF" in media.ALLOWED_FORMATS
needs_heif = pytest.mark.skipif(
    not (HEIF_WRITABLE and HEIF_ACCEPTED),
    reason="HEIC uploads need pillow-heif with an HEVC encoder and HEIF in core.media "
    "(being added in parallel)",
)


def sums(data: bytes) -> dict[str, str]:
    return {"md5": hashlib.md5(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


def with_position(fmt: str) -> bytes:
    """A photo whose position a viewer could read: EXIF GPS, and XMP GPS or PNG text."""
    if fmt == "PNG":
        return png_insert(
            photo("PNG", exif=exif_bytes()), (b"tEXt", b"Location\x00Champ de Mars, Paris")
        )
    return photo(fmt, exif=exif_bytes(), xmp=XMP_WITH_GPS)


def upload_one(api: Api, h: dict[str, str], name: str, data: bytes) -> dict[str, Any]:
    r = api.upload(h, (name, data))
    assert r.status_code == 200, r.text
    image: dict[str, Any] = r.json()["images"][0]
    return image


def stored_bytes(api: Api, image: dict[str, Any]) -> bytes:
    got = api.fetch(image["url"])
    assert got.status_code == 200
    return got.content


def quota_used(api: Api, h: dict[str, str]) -> int:
    me = api.client.get("/api/auth/me", headers=h).json()["user"]
    return int(me["storageQuota"]["used"])


def detail(api: Api, h: dict[str, str], image_id: str) -> dict[str, Any]:
    r = api.client.get(f"/api/images/{image_id}", headers=h)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()["image"]
    return found


@pytest.mark.parametrize("fmt", [*FORMATS, pytest.param("HEIF", marks=needs_heif)])
def test_position_never_reaches_the_store(api: Api, fmt: str) -> None:
    h = api.signup()
    sent = with_position(fmt)
    image = upload_one(api, h, f"holiday.{fmt.lower()}", sent)
    stored = stored_bytes(api, image)
    with Image.open(io.BytesIO(stored)) as im:
        assert dict(im.getexif().get_ifd(0x8825)) == {}
        assert "GPS" not in str(im.info.get("xmp", ""))
    assert b"GPSLatitude" not in stored and b"Champ de Mars" not in stored
    assert decoded(stored) == decoded(sent)
    found = detail(api, h, image["id"])
    assert found["checksums"] == sums(stored) != sums(sent)
    assert found["uploadChecksums"] == image["uploadChecksums"] == sums(sent)
    assert found["size"] == image["size"] == len(stored) == quota_used(api, h)
    assert found["metadata"] == {
        "cameraMake": "Canon",
        "cameraModel": "Canon EOS R5",
        "takenAt": "2024-05-06T05:08:09.000Z",
        "lens": "RF50mm F1.8 STM",
        "exposure": "1/250",
        "iso": 400,
        "focalLength": 50.0,
        "location": None,
    }
    gallery = api.client.get("/api/images/user", headers=h).json()["images"]
    assert gallery[0]["takenAt"] == "2024-05-06T05:08:09.000Z"


def test_files_without_metadata_are_stored_byte_identical(api: Api) -> None:
    h = api.signup()
    sent = [make_image(fmt, (30, 20)) for fmt in ("JPEG", "PNG", "GIF", "WEBP")]
    r = api.upload(h, *((f"plain{i}", data) for i, data in enumerate(sent)))
    assert r.status_code == 200, r.text
    for image, data in zip(r.json()["images"], sent, strict=True):
        assert stored_bytes(api, image) == data
        found = detail(api, h, image["id"])
        assert found["checksums"] == found["uploadChecksums"] == sums(data)
        assert found["metadata"] == dict.fromkeys(
            ["cameraMake", "cameraModel", "takenAt", "lens", "exposure", "iso", "focalLength"]
        ) | {"location": None}
    assert quota_used(api, h) == sum(map(len, sent))


def test_mode_all_keeps_only_icc_and_orientation(api_factory: Any) -> None:
    api: Api = api_factory(strip_metadata="all")
    h = api.signup()
    icc = srgb_icc()
    sent = jpeg_insert(
        photo("JPEG", size=(80, 40), exif=exif_bytes(orientation=6), xmp=XMP_WITH_GPS, icc=icc),
        iptc_segment(),
        jpeg_segment(0xFE, b"a comment"),
    )
    image = upload_one(api, h, "rotated.jpg", sent)
    assert image["dimensions"] == {"width": 40, "height": 80}
    stored = stored_bytes(api, image)
    with Image.open(io.BytesIO(stored)) as im, Image.open(io.BytesIO(sent)) as original:
        assert dict(im.getexif()) == {0x0112: 6}
        assert im.info["icc_profile"] == icc
        assert "xmp" not in im.info and "comment" not in im.info
        upright = ImageOps.exif_transpose(im)
        assert upright.size == (40, 80)
        assert upright.tobytes() == ImageOps.exif_transpose(original).tobytes()
    assert b"Photoshop 3.0" not in stored and b"Canon" not in stored
    found = detail(api, h, image["id"])
    assert found["metadata"]["cameraModel"] == "Canon EOS R5"  # read before stripping
    assert found["metadata"]["location"] is None
    assert found["checksums"] == sums(stored) and found["uploadChecksums"] == sums(sent)
    assert quota_used(api, h) == len(stored) < len(sent)


def test_mode_none_keeps_everything_and_shows_the_location(api_factory: Any) -> None:
    api: Api = api_factory(strip_metadata="none")
    h = api.signup()
    sent = with_position("JPEG")
    image = upload_one(api, h, "where.jpg", sent)
    assert stored_bytes(api, image) == sent
    found = detail(api, h, image["id"])
    assert found["checksums"] == found["uploadChecksums"] == sums(sent)
    location = found["metadata"]["location"]
    assert location["latitude"] == pytest.approx(LATITUDE)
    assert location["longitude"] == pytest.approx(LONGITUDE)


def test_broken_metadata_length_is_400_and_stores_nothing(api: Api) -> None:
    h = api.signup()
    sent = photo("JPEG", exif=exif_bytes())
    at = sent.index(b"Exif\x00") - 2
    lying = sent[:at] + struct.pack(">H", 0xFFF0) + sent[at + 2 :]
    before = api.state(h)
    r = api.upload(h, ("ok.png", make_image("PNG")), ("lying.jpg", lying))
    assert r.status_code == 400 and r.json()["code"] == "unsupported_type"
    assert "lying.jpg" in r.json()["error"]
    assert api.state(h) == before


def test_broken_gps_ifd_is_dropped_not_stored(api: Api) -> None:
    """A GPS IFD that overlaps IFD0 cannot be cut out in place: the EXIF goes whole."""
    h = api.signup()
    tiff = b"II*\x00" + struct.pack("<IHHHII", 8, 1, 0x8825, 4, 1, 8) + b"\x00" * 4
    sent = jpeg_insert(make_image("JPEG"), jpeg_segment(0xE1, b"Exif\x00\x00" + tiff))
    image = upload_one(api, h, "odd.jpg", sent)
    stored = stored_bytes(api, image)
    assert b"Exif\x00" not in stored and decoded(stored) == decoded(sent)


def test_quota_counts_stored_bytes_exactly(api_factory: Any) -> None:
    sent = with_position("WEBP")
    pieces, _ = rewrite(sent, "WEBP", StripMode.GPS)
    assert pieces is not None
    stored_size = sum(len(p) for p in pieces)
    assert stored_size < len(sent)
    api: Api = api_factory(default_quota=stored_size)
    h = api.signup()
    image = upload_one(api, h, "fits.webp", sent)  # fits exactly, though more was received
    assert image["size"] == stored_size == quota_used(api, h)
    before = api.state(h)
    r = api.upload(h, ("more.webp", sent))
    assert r.status_code == 413 and r.json()["code"] == "quota_exceeded"
    assert api.state(h) == before  # no blob, no row, no spool file (stripped copy included)


def test_failure_after_stripping_leaves_no_blob_row_quota_or_spool(api: Api) -> None:
    h = api.signup()
    before = api.state(h)
    with api.image_rows_cannot_be_written():
        r = api.upload(h, ("a.jpg", with_position("JPEG")), ("b.png", with_position("PNG")))
    assert r.status_code == 500
    assert api.state(h) == before
