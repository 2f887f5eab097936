"""Catalogue section A (request framing and multipart) through the whole app.

The streaming parser's own tests (tests/web/test_multipart.py) drive ``parse_upload`` behind a
bare Starlette app with its own error mapping. Here the same hostile bodies go through the real
app (body guard, auth, routes, web/errors.py) and each refusal is checked with the section 0
oracles: N0 (nothing stored) and L0 (nothing leaked), plus how much of the body the app read.
Request smuggling needs a real HTTP server: a live `pixvault serve` gets the raw bytes.

The body is fed through a hand-made ASGI ``receive`` rather than the test client, which reads a
whole generator into memory before the app sees a byte and so cannot show a refusal that stops
reading (or a 100 MB part that is never buffered).
"""

from __future__ import annotations

import hashlib
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from starlette.types import ASGIApp, Message

from tests.cli.server import clean_env, serve_process
from tests.conftest import PASSWORD, Api, build_api
from tests.imagegen import make_image
from tests.security.oracles import MISSING_ID, assert_no_leak

MIB = 1024 * 1024
CHUNK = 64 * 1024
B = "pv-framing-7f3a"
CT = f"multipart/form-data; boundary={B}"
UPLOAD = "/api/images/upload"
PNG = make_image("PNG", (40, 30))


# -- bodies -------------------------------------------------------------------------------


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{B}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: application/octet-stream\r\n"
    return (head + "\r\n").encode() + data + b"\r\n"


CLOSE = f"--{B}--\r\n".encode()


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + CLOSE


def repeat(chunk: bytes, times: int | None = None) -> Iterator[bytes]:
    """``chunk`` ``times`` times, or for ever: made as it is read, never held whole."""
    count = 0
    while times is None or count < times:
        count += 1
        yield chunk


def sized(total: int) -> Iterator[bytes]:
    """Exactly ``total`` bytes, lazily."""
    while total > 0:
        yield b"x" * min(CHUNK, total)
        total -= CHUNK


# -- driving the app ----------------------------------------------------------------------


@dataclass
class Stream:
    """A request body produced as the app reads it: how much it read, and the longest time
    it kept the event loop between two reads (parsing one chunk)."""

    chunks: Iterator[bytes]
    read: int = 0
    longest_hold: float = 0.0


async def _exchange(app: ASGIApp, headers: list[tuple[bytes, bytes]], stream: Stream) -> Message:
    sent: list[Message] = []
    answered = anyio.Event()
    body_done = False
    returned_at: float | None = None

    async def receive() -> Message:
        nonlocal body_done, returned_at
        if returned_at is not None:
            stream.longest_hold = max(stream.longest_hold, time.perf_counter() - returned_at)
        if body_done:  # only a disconnect can follow, once the answer is out
            await answered.wait()
            return {"type": "http.disconnect"}
        chunk = next(stream.chunks, None)
        body_done = chunk is None
        stream.read += len(chunk or b"")
        returned_at = time.perf_counter()
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            answered.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": UPLOAD,
        "raw_path": UPLOAD.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    with anyio.fail_after(60):
        await app(scope, receive, send)
    start, *rest = sent
    return {**start, "body": b"".join(m.get("body", b"") for m in rest)}


def post(
    api: Api,
    auth: dict[str, str],
    stream: Stream,
    *,
    content_type: str = CT,
    content_length: int | None = None,
) -> httpx2.Response:
    """One upload request through the whole app, as an httpx2 answer (for the L0 oracle)."""
    headers = [
        (b"authorization", auth["Authorization"].encode()),
        (b"content-type", content_type.encode("latin-1")),
    ]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    answer = anyio.run(_exchange, api.client.app, headers, stream)
    return httpx2.Response(
        answer["status"],
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer["headers"]],
        content=answer["body"],
        request=httpx2.Request("POST", f"http://testserver{UPLOAD}"),
    )


@dataclass
class Small:
    api: Api
    auth: dict[str, str]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Small]:
    """Limits a test can cross cheaply: 8 files of at most 1 MiB, so a 9 MiB request cap.
    One app and one account for the module: each case takes its own N0 snapshot."""
    for api in build_api(
        tmp_path_factory.mktemp("framing") / "data", max_file_size=MIB, max_files_per_upload=8
    ):
        yield Small(api, api.signup())


# -- the hostile forms --------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    item: int
    body: Callable[[int], Iterator[bytes]]  # given the request cap
    status: int
    code: str
    content_type: str = CT
    declared: Callable[[int], int] | None = None  # an honest Content-Length, given the cap
    max_read: Callable[[int], int] | None = None  # bytes the app may read before refusing


CASES: dict[str, Case] = {
    "one-byte-over-the-cap-declared": Case(
        1,
        lambda cap: sized(cap + 1),
        413,
        "request_too_large",
        declared=lambda cap: cap + 1,
        max_read=lambda cap: 0,
    ),
    "chunked-past-the-cap": Case(  # a preamble of CR/LF that never ends: no part limit applies
        2,
        lambda cap: repeat(b"\r\n" * (CHUNK // 2)),
        413,
        "request_too_large",
        max_read=lambda cap: cap + CHUNK,
    ),
    "1001-untouched-file-inputs": Case(
        4,
        lambda cap: repeat(part("files", b"", ""), 1001),
        413,
        "request_too_large",
        max_read=lambda cap: 8 * 1024,
    ),
    "1001-empty-fields": Case(
        4,
        lambda cap: (part(f"f{i}", b"") for i in range(1001)),
        400,
        "invalid_input",
        max_read=lambda cap: 8 * 1024,
    ),
    "1001-empty-files": Case(
        11,
        lambda cap: (part("files", b"", f"{i}.png") for i in range(1001)),
        413,
        "too_many_files",
        max_read=lambda cap: 8 * 1024,
    ),
    "100-mb-text-field": Case(
        5,
        lambda cap: iter([part("note", b"")[:-2], *repeat(b"a" * CHUNK, 1600)]),
        413,
        "request_too_large",
        max_read=lambda cap: 64 * 1024 + 2 * CHUNK + 200,
    ),
    "no-boundary": Case(
        8,
        lambda cap: iter([form(part("files", PNG, "a.png"))]),
        400,
        "invalid_input",
        content_type="multipart/form-data",
    ),
    "empty-boundary": Case(
        8,
        lambda cap: iter([form(part("files", PNG, "a.png"))]),
        400,
        "invalid_input",
        content_type='multipart/form-data; boundary=""',
    ),
    "truncated-mid-file": Case(
        8, lambda cap: iter([form(part("files", PNG, "a.png"))[:200]]), 400, "invalid_input"
    ),
    "unterminated-last-part": Case(
        8, lambda cap: iter([part("files", PNG, "a.png")]), 400, "invalid_input"
    ),
    "zero-files": Case(10, lambda cap: iter([form(part("tags", b"[]"))]), 400, "invalid_input"),
    "only-an-untouched-file-input": Case(
        10, lambda cap: iter([form(part("files", b"", ""))]), 400, "invalid_input"
    ),
    "zero-byte-file": Case(
        10, lambda cap: iter([form(part("files", b"", "empty.png"))]), 400, "unsupported_type"
    ),
    "file-under-another-field-name": Case(
        12, lambda cap: iter([form(part("avatar", PNG, "a.png"))]), 400, "invalid_input"
    ),
}
# Item 7: Content-Type values that were ReDoS or parser-confusion bugs in multipart libraries
# (python-multipart CVE-2024-24762 and kin); the body is a good form with boundary B.
_P = "multipart/form-data; "
REDOS = {
    "semicolons": _P + "boundary=x" + ";" * 8000,
    "unclosed-quote": _P + 'x="' + ";" * 8000,
    "quote-semicolon-pairs": _P + '";' * 4000,
    "escaped-quotes": _P + 'x="' + '\\";' * 2700,
    "backslashes": _P + 'boundary="' + "\\" * 8000,
    "thousands-of-params": _P + "a=b; " * 1600 + "boundary=" + "x" * 201,
    "control-characters": _P + "boundary=\x01\x02\x7f",
    "non-ascii": _P + "boundary=pv-främing",
}
for _name, _value in REDOS.items():
    CASES[f"content-type-{_name}"] = Case(
        7,
        lambda cap: iter([form(part("files", PNG, "a.png"))]),
        400,
        "invalid_input",
        content_type=_value,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_forms_are_refused_early_with_nothing_stored_or_leaked(
    small: Small, name: str
) -> None:
    case = CASES[name]
    api, h = small.api, small.auth
    before = api.state(h)
    cap = api.settings.max_request_size
    stream = Stream(case.body(cap))
    length = case.declared(cap) if case.declared is not None else None
    started = time.monotonic()
    r = post(api, h, stream, content_type=case.content_type, content_length=length)
    elapsed = time.monotonic() - started
    assert r.status_code == case.status, f"item {case.item}: {r.text}"
    assert r.json() == {"error": r.json()["error"], "code": case.code}
    assert "location" not in r.headers
    assert_no_leak(r, api)
    assert api.state(h) == before, f"item {case.item}: something was stored"
    assert elapsed < 5, f"item {case.item}: {elapsed:.1f} s"
    if case.max_read is not None:
        assert stream.read <= case.max_read(cap), f"item {case.item}: read {stream.read} B"


def test_megabytes_of_preamble_and_epilogue_never_hold_the_event_loop(small: Small) -> None:
    """Item 6: RFC 2046 lets a form carry text before its first boundary and after its last;
    pixvault ignores both (they count against the request cap). Each 1 MiB block of them is
    parsed in well under the bound, so a concurrent request is never stalled behind it."""
    api, h = small.api, small.auth
    preamble = [b"\r\n" * (MIB // 2)] * 4
    epilogue = [b"\r\n--" + B.encode() + b"--\r\n" + b"x" * (MIB - 40)] * 4
    chunks = [*preamble, form(part("files", PNG, "a.png")), *epilogue]
    stream = Stream(iter(chunks))
    r = post(api, h, stream)
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    assert api.fetch(image["url"]).content == PNG
    assert stream.read == sum(map(len, chunks)) > 8 * MIB - 1024
    assert stream.longest_hold < 0.5, f"one block held the event loop {stream.longest_hold} s"


def test_a_part_with_two_file_names_is_stored_by_its_bytes_under_a_server_key(
    small: Small,
) -> None:
    """Item 8, accepted deviation: two ``filename`` parameters are not refused (the last one
    is the display name). No name ever picks a type, a key or a path, so a proxy that checked
    the other name cannot be led into letting an executable through."""
    api, h = small.api, small.auth
    head = f'--{B}\r\nContent-Disposition: form-data; name="files"; filename="a.png"; '
    head += 'filename="a.php"\r\nContent-Type: image/png\r\n\r\n'
    r = post(api, h, Stream(iter([head.encode() + PNG + b"\r\n" + CLOSE])))
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    assert image["originalName"] in ("a.png", "a.php") and image["contentType"] == "image/png"
    uid = api.user_id(h)
    assert f"{uid}/{image['id']}.png" in set(api.container.blobs.iter_keys(uid))
    served = api.fetch(image["url"])
    assert served.headers["content-type"] == "image/png" and served.content == PNG


def test_form_fields_cannot_choose_owner_size_key_or_visibility(small: Small) -> None:
    """Item 12: extra fields a client might hope the server trusts are ignored; the image
    belongs to the token's user, its size, type and checksums are measured, its key made."""
    api, owner = small.api, small.auth
    other = api.signup()
    other_id = api.user_id(other)
    _, rows_before, used_before, _ = api.state(other)
    forged = {
        "userId": other_id,
        "user_id": other_id,
        "ownerId": other_id,
        "owner_id": other_id,
        "id": MISSING_ID,
        "size": "1",
        "width": "1",
        "height": "1",
        "contentType": "text/html",
        "sha256": "0" * 64,
        "storage_key": f"{other_id}/stolen.png",
        "storageKey": "../../public/x.php",
        "key": "x",
        "is_public": "true",
        "public": "true",
        "status": "ready",
    }
    r = api.upload(owner, ("a.png", PNG), **forged)
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    assert image["id"] != MISSING_ID
    assert image["size"] == len(PNG) and image["contentType"] == "image/png"
    assert image["dimensions"] == {"width": 40, "height": 30}
    detail = api.client.get(f"/api/images/{image['id']}", headers=owner).json()["image"]
    assert detail["isPublic"] is False
    assert detail["checksums"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    uid = api.user_id(owner)
    assert f"{uid}/{image['id']}.png" in set(api.container.blobs.iter_keys(uid))
    assert not [k for k in api.container.blobs.iter_keys() if image["id"] in k and uid not in k]
    assert api.client.get(f"/api/images/{image['id']}", headers=other).status_code == 404
    assert list(api.container.blobs.iter_keys(other_id)) == []
    assert api.state(other)[1:3] == (rows_before, used_before)  # no row, no quota


# -- a live server: request smuggling -----------------------------------------------------

WAIT = 15.0
"""Seconds to wait for what the server does within about a second (a loaded CI box)."""


def _answers(port: int, raw: bytes) -> bytes:
    """Everything the server sends back on one connection until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        sock.sendall(raw)
        received = b""
        deadline = time.monotonic() + WAIT
        try:
            while chunk := sock.recv(65536):
                received += chunk
                assert time.monotonic() < deadline, f"still open: {received[:300]!r}"
        except TimeoutError:
            pytest.fail(f"the connection stayed open: {received[:300]!r}")
    return received


def test_ambiguous_framing_is_400_and_the_connection_closes(tmp_path: Path) -> None:
    """Item 3: with both Content-Length and Transfer-Encoding, a proxy that frames by one and
    this server by the other would disagree on where the next request starts. The server
    refuses such a request and closes the connection (RFC 9112 6.1), so the request hidden
    after the body is never answered and nothing is stored. A Content-Length shorter than the
    body is a truncated form: 400, and its leftover bytes never make a request that succeeds."""
    env = clean_env(tmp_path / "data", PIXVAULT_HEADER_TIMEOUT="1", PIXVAULT_BODY_TIMEOUT="1")
    with serve_process(env, tmp_path / "server.log") as (base, _):
        creds = {"email": "framing@example.com", "password": PASSWORD}
        assert httpx.post(f"{base}/api/auth/register", json=creds).status_code == 201
        token = httpx.post(f"{base}/api/auth/login", json=creds).json()["accessToken"]
        port = int(base.rsplit(":", 1)[1])
        payload = form(part("files", PNG, "a.png"))
        chunked = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
        hidden = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        head = (
            f"POST {UPLOAD} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: {CT}\r\n"
        ).encode()
        framings = [
            b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        ]
        for framing in framings:
            got = _answers(port, head + framing + chunked + hidden)
            assert got.startswith(b"HTTP/1.1 400 "), got[:300]
            assert got.count(b"HTTP/1.1 ") == 1, f"the hidden request was answered: {got!r}"
            answer_head, _, answer_body = got.partition(b"\r\n\r\n")
            assert b"\r\nconnection: close" in answer_head.lower()
            assert b'"code":"invalid_input"' in answer_body
            assert b"Traceback" not in got and b"uvicorn" not in got.lower()
        # The 10 bytes past the declared length (and a blank line) arrive as the next request.
        short = f"Content-Length: {len(payload) - 10}\r\n\r\n".encode()
        got = _answers(port, head + short + payload + b"\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400 "), got[:300]
        assert b'"code":"invalid_input"' in got
        statuses = re.findall(rb"HTTP/1\.1 (\d)\d\d ", got)
        assert statuses and set(statuses) == {b"4"}, got  # never a 2xx, for any of it
        h = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{base}/api/images/user", headers=h).json()["pagination"]["total"] == 0
        me = httpx.get(f"{base}/api/auth/me", headers=h).json()["user"]
        assert me["storageQuota"]["used"] == 0
        assert list((tmp_path / "data" / "tmp").iterdir()) == []
