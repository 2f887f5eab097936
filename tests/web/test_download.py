"""The app's own /files links: Range answers, JSON errors, and a blob gone under the link."""

from __future__ import annotations

import re
from typing import Any

import httpx
import httpx2
import pytest

from tests.conftest import Api
from tests.imagegen import make_image

Uploaded = tuple[dict[str, str], dict[str, Any], bytes]


@pytest.fixture
def uploaded(local_api: Api) -> Uploaded:
    h = local_api.signup()
    data = make_image("PNG", (80, 60), noise=1.0)
    r = local_api.upload(h, ("pic.png", data))
    assert r.status_code == 200, r.text
    return h, r.json()["images"][0], data


def _path(img: dict[str, Any]) -> str:
    url = httpx.URL(str(img["url"]))
    return f"{url.path}?{url.query.decode()}"


def _json_error(r: httpx2.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"error": r.json()["error"], "code": code} and r.json()["error"]
    assert r.headers["x-content-type-options"] == "nosniff"


def _safe_file_headers(r: httpx2.Response) -> None:
    assert re.fullmatch(r'"[0-9a-f]{64}"', r.headers["etag"])  # the sha256 of the bytes
    assert r.headers["cache-control"].startswith("private, max-age=")
    assert r.headers["content-disposition"].startswith("inline;")
    assert (
        r.headers["content-security-policy"]
        == "default-src 'none'; frame-ancestors 'none'; sandbox"
    )
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("bytes=10-19", 10, 19), ("bytes=5-", 5, None), ("bytes=-7", -7, None), ("bytes=0-0", 0, 0)],
)
def test_single_ranges_are_206(
    local_api: Api, uploaded: Uploaded, spec: str, start: int, end: int | None
) -> None:
    _, img, data = uploaded
    r = local_api.client.get(_path(img), headers={"Range": spec})
    want = data[start:] if end is None else data[start : end + 1]
    first = start % len(data)
    assert r.status_code == 206 and r.content == want
    assert r.headers["content-range"] == f"bytes {first}-{first + len(want) - 1}/{len(data)}"
    assert r.headers["content-length"] == str(len(want))
    _safe_file_headers(r)


def test_range_end_past_the_file_is_clamped(local_api: Api, uploaded: Uploaded) -> None:
    _, img, data = uploaded
    r = local_api.client.get(_path(img), headers={"Range": f"bytes=3-{len(data) * 2}"})
    assert r.status_code == 206 and r.content == data[3:]


@pytest.mark.parametrize("spec", ["bytes=1-0", "bytes=x-3", "bytes=-", "bytes", "bytes=1-2-3"])
def test_malformed_range_is_json_400(local_api: Api, uploaded: Uploaded, spec: str) -> None:
    _, img, _ = uploaded
    _json_error(local_api.client.get(_path(img), headers={"Range": spec}), 400, "invalid_input")


@pytest.mark.parametrize("offset", [0, 5])
def test_range_past_the_end_is_json_416_with_content_range(
    local_api: Api, uploaded: Uploaded, offset: int
) -> None:
    _, img, data = uploaded
    r = local_api.client.get(_path(img), headers={"Range": f"bytes={len(data) + offset}-"})
    _json_error(r, 416, "range_not_satisfiable")
    assert r.headers["content-range"] == f"bytes */{len(data)}"
    r = local_api.client.get(_path(img), headers={"Range": "bytes=-0"})
    _json_error(r, 416, "range_not_satisfiable")


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        ({"Range": "bytes=0-1,5-9"}, "several ranges: the whole file"),
        ({"Range": "items=0-1"}, "an unknown unit is ignored"),
        ({"Range": "bytes=0-1", "If-Range": '"another-version"'}, "If-Range does not match"),
    ],
)
def test_ranges_that_are_ignored_give_the_whole_file(
    local_api: Api, uploaded: Uploaded, headers: dict[str, str], why: str
) -> None:
    _, img, data = uploaded
    r = local_api.client.get(_path(img), headers=headers)
    assert r.status_code == 200 and r.content == data, why
    assert "content-range" not in r.headers


def test_if_range_matching_the_etag_gives_the_range(local_api: Api, uploaded: Uploaded) -> None:
    _, img, data = uploaded
    etag = local_api.client.get(_path(img)).headers["etag"]
    r = local_api.client.get(_path(img), headers={"Range": "bytes=0-3", "If-Range": etag})
    assert r.status_code == 206 and r.content == data[:4]


def test_head_ignores_range_and_sends_no_body(local_api: Api, uploaded: Uploaded) -> None:
    _, img, data = uploaded
    r = local_api.client.head(_path(img), headers={"Range": "bytes=0-3"})
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(data))
    _safe_file_headers(r)


def test_a_blob_missing_from_disk_is_json_404_not_500(local_api: Api, uploaded: Uploaded) -> None:
    """A delete that lands between the link check and the read: the row is still there."""
    _, img, _ = uploaded
    root = local_api.container.blobs.root  # type: ignore[attr-defined]
    [blob] = [p for p in root.rglob("*") if p.is_file()]
    blob.unlink()
    r = local_api.client.get(_path(img))
    _json_error(r, 404, "not_found")
    assert str(root) not in r.text
