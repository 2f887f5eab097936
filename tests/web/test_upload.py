"""Upload rules: real type from bytes, limits, all-or-nothing, exact quota."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.conftest import Api
from tests.imagegen import (
    HTML_BYTES,
    SVG_BYTES,
    make_image,
    png_with_header_size,
    truncated,
)


def test_upload_several_files_returns_contract_shape(api: Api) -> None:
    h = api.signup()
    png = make_image("PNG", (64, 48))
    jpg = make_image("JPEG", (40, 30))
    r = api.upload(
        h,
        ("a.png", png),
        ("b.jpg", jpg),
        tags='["Vacation", " family ", "vacation"]',
        isPublic="true",
        userId="someone-else",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["totalUploaded"] == 2
    first, second = body["images"]
    assert first["originalName"] == "a.png" and second["originalName"] == "b.jpg"
    assert first["contentType"] == "image/png" and second["contentType"] == "image/jpeg"
    assert first["dimensions"] == {"width": 64, "height": 48}
    assert first["size"] == len(png)
    if (api.settings.storage_url or "").startswith("s3://"):
        # a presigned link straight to the object store: bytes never pass through the app
        assert "X-Amz-Signature=" in first["url"]
    else:
        assert first["url"].startswith("http://testserver/files/")
    assert first["urlExpiresAt"].endswith("Z")
    detail = api.client.get(f"/api/images/{first['id']}", headers=h).json()["image"]
    assert detail["tags"] == ["family", "vacation"]
    assert detail["isPublic"] is True
    assert detail["checksums"] == {
        "md5": hashlib.md5(png).hexdigest(),
        "sha256": hashlib.sha256(png).hexdigest(),
    }
    assert detail["status"] == "ready"
    # the owner is the token's user, whatever userId the form claims
    me = api.client.get("/api/auth/me", headers=h).json()["user"]
    assert me["storageQuota"]["used"] == len(png) + len(jpg)


def test_stored_bytes_are_identical_and_key_is_server_made(api: Api) -> None:
    h = api.signup()
    data = make_image("WEBP", (20, 20))
    r = api.upload(h, ("../../etc/passwd.php", data))
    assert r.status_code == 200, r.text
    img = r.json()["images"][0]
    assert img["originalName"] == "passwd.php"
    assert img["contentType"] == "image/webp"
    uid = api.user_id(h)
    (key,) = api.container.blobs.iter_keys(uid)  # the original (derivatives are elsewhere)
    assert key == f"{uid}/{img['id']}.webp"
    assert api.fetch(img["url"]).content == data


def test_type_comes_from_bytes_not_name_or_content_type(api: Api) -> None:
    h = api.signup()
    png = make_image("PNG")
    r = api.client.post(
        "/api/images/upload", headers=h, files=[("files", ("photo.gif", png, "image/gif"))]
    )
    assert r.status_code == 200
    assert r.json()["images"][0]["contentType"] == "image/png"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("evil.svg", SVG_BYTES),
        ("page.jpg", HTML_BYTES),
        ("notes.png", b"just some text\n"),
        ("empty.png", b""),
        ("cut.jpg", truncated(make_image("JPEG", (120, 90)))),
        ("polyglot.jpg", b"\xff\xd8\xff\xe0" + HTML_BYTES),
    ],
)
def test_bad_type_is_400_naming_the_file_and_stores_nothing(
    api: Api, name: str, data: bytes
) -> None:
    h = api.signup()
    before = api.state(h)
    r = api.upload(h, ("good.png", make_image("PNG")), (name, data))
    assert r.status_code == 400, r.text
    assert name in r.json()["error"] and "type" in r.json()["error"]
    assert r.json()["code"] == "unsupported_type"
    assert api.state(h) == before


def test_file_over_size_limit_is_413(api_factory: object) -> None:
    api: Api = api_factory(max_file_size=5000)  # type: ignore[operator]
    h = api.signup()
    before = api.state(h)
    big = make_image("PNG", (300, 300))
    assert len(big) > 5000
    r = api.upload(h, ("small.png", make_image("PNG", (8, 8))), ("big.png", big))
    assert r.status_code == 413
    assert "too large" in r.json()["error"] and "big.png" in r.json()["error"]
    assert api.state(h) == before


def test_pixel_flood_is_413_too_large(api: Api) -> None:
    h = api.signup()
    before = api.state(h)
    r = api.upload(h, ("bomb.png", png_with_header_size(65535, 65535)))
    assert r.status_code == 413
    assert "too large" in r.json()["error"]
    assert api.state(h) == before


def test_pixel_limit_setting_is_applied(api_factory: object) -> None:
    api: Api = api_factory(max_pixels=100 * 100)  # type: ignore[operator]
    h = api.signup()
    assert api.upload(h, ("ok.png", make_image("PNG", (100, 100)))).status_code == 200
    r = api.upload(h, ("wide.png", make_image("PNG", (101, 100))))
    assert r.status_code == 413 and "too large" in r.json()["error"]


def test_too_many_files_is_413(api_factory: object) -> None:
    api: Api = api_factory(max_files_per_upload=3)  # type: ignore[operator]
    h = api.signup()
    before = api.state(h)
    files = [(f"{i}.png", make_image("PNG", (8, 8))) for i in range(4)]
    r = api.upload(h, *files)
    assert r.status_code == 413 and "too many files" in r.json()["error"].lower()
    assert api.state(h) == before
    assert api.upload(h, *files[:3]).status_code == 200


def test_request_over_cap_is_rejected_before_reading(api_factory: object) -> None:
    api: Api = api_factory(max_file_size=1000, max_files_per_upload=1)  # type: ignore[operator]
    h = api.signup()
    body = b"x" * (api.settings.max_request_size + 10)
    r = api.client.post(
        "/api/images/upload",
        headers={**h, "Content-Type": "multipart/form-data; boundary=abc"},
        content=body,
    )
    assert r.status_code == 413
    assert "too large" in r.json()["error"].lower()


def test_no_files_is_400(api: Api) -> None:
    h = api.signup()
    r = api.client.post("/api/images/upload", headers=h, data={"tags": "[]"}, files={})
    assert r.status_code == 400
    r = api.client.post("/api/images/upload", headers=h, json={"files": []})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"tags": "not json"}, "tags"),
        ({"tags": '{"a": 1}'}, "tags"),
        ({"tags": "[1, 2]"}, "tag"),
        ({"tags": json.dumps(["x" * 51])}, "tag"),
        ({"tags": json.dumps([f"t{i}" for i in range(21)])}, "tags"),
        ({"tags": '["  "]'}, "tag"),
        ({"isPublic": "yes"}, "isPublic"),
        ({"isPublic": "True"}, "isPublic"),
    ],
)
def test_bad_fields_are_400_and_store_nothing(
    api: Api, fields: dict[str, str], fragment: str
) -> None:
    h = api.signup()
    before = api.state(h)
    r = api.upload(h, ("a.png", make_image("PNG")), **fields)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["error"]
    assert api.state(h) == before


def test_twenty_tags_after_dedup_are_fine(api: Api) -> None:
    h = api.signup()
    tags = [f"t{i}" for i in range(20)] + ["T0", " t1 "]
    r = api.upload(h, ("a.png", make_image("PNG")), tags=json.dumps(tags))
    assert r.status_code == 200, r.text
    image_id = r.json()["images"][0]["id"]
    got = api.client.get(f"/api/images/{image_id}", headers=h).json()["image"]["tags"]
    assert sorted(got) == sorted(f"t{i}" for i in range(20))


def test_exif_orientation_gives_displayed_dimensions(api: Api) -> None:
    h = api.signup()
    r = api.upload(h, ("rotated.jpg", make_image("JPEG", (80, 40), exif_orientation=6)))
    assert r.json()["images"][0]["dimensions"] == {"width": 40, "height": 80}


def test_quota_exact_boundary_and_413(api_factory: object) -> None:
    a = make_image("PNG", (30, 30))
    b = make_image("PNG", (31, 31))
    api: Api = api_factory(default_quota=len(a) + len(b))  # type: ignore[operator]
    h = api.signup()
    assert api.upload(h, ("a.png", a), ("b.png", b)).status_code == 200
    before = api.state(h)
    assert before[2] == len(a) + len(b)
    r = api.upload(h, ("c.png", make_image("PNG", (2, 2))))
    assert r.status_code == 413 and "quota" in r.json()["error"].lower()
    assert r.json()["code"] == "quota_exceeded"
    assert api.state(h) == before


def test_batch_over_remaining_quota_stores_nothing(api_factory: object) -> None:
    a = make_image("PNG", (30, 30))
    api: Api = api_factory(default_quota=len(a) * 2 + 10)  # type: ignore[operator]
    h = api.signup()
    before = api.state(h)
    r = api.upload(h, ("1.png", a), ("2.png", a), ("3.png", a))
    assert r.status_code == 413 and "quota" in r.json()["error"].lower()
    assert api.state(h) == before


def test_metadata_failure_after_bytes_stored_cleans_up(api: Api) -> None:
    """pict-rs' guard: if the row cannot be written, the bytes go and the quota comes back."""
    h = api.signup()
    before = api.state(h)
    with api.image_rows_cannot_be_written():
        r = api.upload(h, ("a.png", make_image("PNG")), ("b.png", make_image("GIF")))
    assert r.status_code == 500
    assert r.json() == {"error": "Internal server error", "code": "internal"}
    assert api.state(h) == before


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_each_allowed_format_round_trips(api: Api, fmt: str) -> None:
    h = api.signup()
    data = make_image(fmt, (33, 21))
    r = api.upload(h, (f"x.{fmt.lower()}", data))
    assert r.status_code == 200, r.text
    img = r.json()["images"][0]
    assert img["dimensions"] == {"width": 33, "height": 21}
    got = api.fetch(img["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == img["contentType"]
