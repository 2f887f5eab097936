"""Signed URLs: minting, verification, and how the bytes are served."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from pixvault.core import signing
from tests.conftest import TEST_SECRET, Api
from tests.imagegen import make_image


def _upload_one(api: Api) -> tuple[dict[str, str], dict[str, object], bytes]:
    h = api.signup()
    data = make_image("JPEG", (64, 64))
    r = api.upload(h, ('we"ird\r\nname;.jpg', data))
    assert r.status_code == 200, r.text
    return h, r.json()["images"][0], data


Uploaded = tuple[dict[str, str], dict[str, object], bytes]
"""(auth headers, the uploaded image's JSON, its bytes)"""


@pytest.fixture
def uploaded(api: Api) -> Uploaded:
    """Both stacks: on S3 the URL is a presigned link that SeaweedFS checks."""
    return _upload_one(api)


@pytest.fixture
def local_uploaded(local_api: Api) -> Uploaded:
    """The app's own /files links (local storage): their format and headers are ours."""
    return _upload_one(local_api)


def _parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


def test_presign_returns_working_url(api: Api, uploaded: Uploaded) -> None:
    h, img, data = uploaded
    r = api.client.post(
        "/api/images/presigned-url",
        headers=h,
        json={"imageId": img["id"], "purpose": "view", "expiresIn": 120},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert 100 <= (expires - datetime.now(UTC)).total_seconds() <= 121
    got = api.fetch(body["url"])
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["content-disposition"].startswith("inline;")


def test_local_links_carry_safe_cache_headers(local_api: Api, local_uploaded: Uploaded) -> None:
    api = local_api
    h, img, _ = local_uploaded
    body = api.client.post(
        "/api/images/presigned-url", headers=h, json={"imageId": img["id"], "expiresIn": 120}
    ).json()
    got = api.client.get(body["url"])
    assert got.headers["x-content-type-options"] == "nosniff"
    assert (
        got.headers["content-security-policy"]
        == "default-src 'none'; frame-ancestors 'none'; sandbox"
    )
    cache = got.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert int(cache.split("=")[1]) <= 120
    assert (
        got.headers["etag"].strip('"')
        == api.client.get(f"/api/images/{img['id']}", headers=h).json()["image"]["checksums"][
            "sha256"
        ]
    )
    assert "set-cookie" not in got.headers


def test_download_purpose_is_attachment_with_safe_filename(api: Api, uploaded: Uploaded) -> None:
    h, img, _ = uploaded
    url = api.client.post(
        "/api/images/presigned-url", headers=h, json={"imageId": img["id"], "purpose": "download"}
    ).json()["url"]
    got = api.fetch(url)
    disp = got.headers["content-disposition"]
    assert disp.startswith("attachment;")
    assert "\r" not in disp and "\n" not in disp
    assert 'filename="we_ird' in disp and "filename*=UTF-8''we%22ird" in disp


@pytest.mark.parametrize(
    "body",
    [
        {"imageId": "X", "expiresIn": 0},
        {"expiresIn": 60},
        {"imageId": "X", "expiresIn": 604801},
        {"imageId": "X", "expiresIn": "60"},
        {"imageId": "X", "expiresIn": 1.5},
        {"imageId": "X", "purpose": "edit"},
    ],
)
def test_presign_validation_is_400(api: Api, uploaded: Uploaded, body: dict[str, object]) -> None:
    h, img, _ = uploaded
    payload = {k: (img["id"] if v == "X" else v) for k, v in body.items()}
    r = api.client.post("/api/images/presigned-url", headers=h, json=payload)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str)


def test_presign_max_ttl_is_allowed(api: Api, uploaded: Uploaded) -> None:
    h, img, _ = uploaded
    r = api.client.post(
        "/api/images/presigned-url", headers=h, json={"imageId": img["id"], "expiresIn": 604800}
    )
    assert r.status_code == 200


def _tamper(url: str, **changes: str) -> str:
    path, q = _parts(url)
    if "path" in changes:
        path = changes.pop("path")
    q.update(changes)
    return f"{path}?{urlencode(q)}"


def test_tampering_any_part_is_403(local_api: Api, local_uploaded: Uploaded) -> None:
    api = local_api
    h, img, _ = local_uploaded
    other = api.upload(h, ("other.png", make_image("PNG"))).json()["images"][0]
    url = str(img["url"])
    path, q = _parts(url)
    other_path, _ = _parts(str(other["url"]))
    cases = [
        _tamper(url, exp=str(int(q["exp"]) + 1000)),
        _tamper(url, sig="0" * 64),
        _tamper(url, sig=q["sig"][:-1]),
        _tamper(url, sig=""),
        _tamper(url, disp="attachment"),
        _tamper(url, disp="evil"),
        _tamper(url, path=other_path),
        _tamper(url, exp="abc"),
        path,
        url + "&sig=" + q["sig"],
        url + "&exp=99999999999",
    ]
    bodies = set()
    for bad in cases:
        r = api.client.get(bad)
        assert r.status_code == 403, (bad, r.status_code)
        bodies.add(r.text)
    assert len(bodies) == 1  # expired, tampered and stripped look the same: no oracle


def test_expired_link_is_403(local_api: Api, local_uploaded: Uploaded) -> None:
    api = local_api
    _, img, _ = local_uploaded
    path, _ = _parts(str(img["url"]))
    key = path.removeprefix("/files/")
    exp = int(time.time()) - 1
    sig = signing.sign(TEST_SECRET.encode(), key, exp, "inline")
    r = api.client.get(f"{path}?{urlencode({'exp': exp, 'disp': 'inline', 'sig': sig})}")
    assert r.status_code == 403
    assert r.json()["code"] == "invalid_signature"
    # the same forgery with a future expiry is accepted: the key above is really the app's
    sig = signing.sign(TEST_SECRET.encode(), key, exp + 600, "inline")
    ok = api.client.get(f"{path}?{urlencode({'exp': exp + 600, 'disp': 'inline', 'sig': sig})}")
    assert ok.status_code == 200


def test_deleted_image_link_is_404(api: Api, uploaded: Uploaded) -> None:
    h, img, _ = uploaded
    assert api.client.delete(f"/api/images/{img['id']}", headers=h).status_code == 200
    r = api.fetch(str(img["url"]))
    assert r.status_code == 404


def test_range_requests(api: Api, uploaded: Uploaded) -> None:
    _, img, data = uploaded
    r = api.fetch(str(img["url"]), headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    r = api.fetch(str(img["url"]), headers={"Range": f"bytes={len(data) + 5}-"})
    assert r.status_code == 416


def test_head_has_headers_without_body(local_api: Api, local_uploaded: Uploaded) -> None:
    api = local_api
    _, img, data = local_uploaded
    r = api.client.head(str(img["url"]))
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(data))


def test_gallery_signing_needs_no_io_per_image(local_api: Api) -> None:
    """Signing is pure: listing 30 images costs the same store calls as listing 1."""
    api = local_api
    h = api.signup()
    for i in range(30):
        api.upload(h, (f"{i}.png", make_image("PNG", (4, 4))))
    # Thumbnails are made in the background and read their originals: let that finish, so
    # only the gallery request itself is counted.
    assert api.container.derivatives.wait_idle(timeout=60)
    blobs = api.container.blobs
    calls = 0
    original = blobs.local_path

    def counting(key: str):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(key)

    blobs.local_path = counting  # type: ignore[method-assign]
    r = api.client.get("/api/images/user?limit=30", headers=h)
    assert r.status_code == 200 and len(r.json()["images"]) == 30
    assert calls == 0
