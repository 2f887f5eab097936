"""Body limits in the app: a 64 KiB cap on every route but the upload, and a body timeout.

The live-server versions (real sockets, memory, closed connections) are in
tests/cli/test_request_limits.py; these drive the ASGI app directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.types import Message

from pixvault.web.bodyguard import MAX_BODY
from tests.conftest import Api, build_api
from tests.imagegen import make_image

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pieces(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def test_json_body_over_the_cap_is_413_and_the_client_still_works(api: Api) -> None:
    body = json.dumps({"email": "a" * MAX_BODY, "password": "x"}).encode()
    for content in (body, _pieces(body)):  # declared length, then chunked
        r = api.client.post(
            "/api/auth/login", content=content, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413, r.text
        assert r.json() == {
            "error": "Request body too large (max 64 KiB)",
            "code": "request_too_large",
        }
        assert r.headers["x-content-type-options"] == "nosniff"
        assert api.client.get("/healthz").status_code == 200


def test_every_other_route_is_capped_too(api: Api) -> None:
    h = api.signup()
    big = b"x" * (MAX_BODY + 1)
    for method, path in [("PATCH", "/api/images/x"), ("GET", "/api/auth/me"), ("POST", "/nope")]:
        r = api.client.request(method, path, content=big, headers=h)
        assert r.status_code == 413, (method, path, r.text)


def test_a_body_at_the_cap_is_read(api: Api) -> None:
    filler = "a" * (MAX_BODY - len(json.dumps({"email": "", "password": "x"})))
    body = json.dumps({"email": filler, "password": "x"}).encode()
    assert len(body) == MAX_BODY
    r = api.client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_input"  # read and validated


def test_uploads_are_not_held_to_the_small_cap(api: Api) -> None:
    h = api.signup()
    data = make_image("PNG", (300, 300), noise=1.0)
    assert len(data) > MAX_BODY
    r = api.upload(h, ("big.png", data))
    assert r.status_code == 200, r.text


async def _call(app: Any, path: str, headers: list[tuple[bytes, bytes]], first: bytes) -> Any:
    """Send ``first`` and then nothing more: the client has gone quiet mid-body."""
    sent: list[Message] = []
    messages = iter([{"type": "http.request", "body": first, "more_body": True}])

    async def receive() -> Message:
        message = next(messages, None)
        if message is None:
            await anyio.sleep(3600)
            raise AssertionError("unreachable")
        return message

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    with anyio.fail_after(30):
        await app(scope, receive, send)
    return sent


async def test_a_stalled_json_body_is_408_and_closes(tmp_path: Path) -> None:
    gen = build_api(tmp_path / "data", body_timeout=0.2)
    api = next(gen)
    try:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"100")]
        sent = await _call(api.client.app, "/api/auth/login", headers, b'{"email": ')
        start, body = sent
        assert start["status"] == 408
        assert (b"connection", b"close") in start["headers"]
        assert (b"x-content-type-options", b"nosniff") in start["headers"]
        assert json.loads(body["body"])["code"] == "request_timeout"
    finally:
        for _ in gen:
            pass


async def test_a_stalled_upload_is_408_and_its_spool_file_is_deleted(tmp_path: Path) -> None:
    gen = build_api(tmp_path / "data", body_timeout=0.2)
    api = next(gen)
    try:
        h = api.signup()
        head = (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n'
            + b"\x89PNG" * 1000
        )
        headers = [
            (b"authorization", h["Authorization"].encode()),
            (b"content-type", b"multipart/form-data; boundary=b"),
            (b"content-length", b"100000"),
        ]
        sent = await _call(api.client.app, "/api/images/upload", headers, head)
        assert sent[0]["status"] == 408
        assert json.loads(sent[1]["body"])["code"] == "request_timeout"
        assert list(api.settings.spool_dir.iterdir()) == []
    finally:
        for _ in gen:
            pass
