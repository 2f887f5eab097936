"""parse_upload through a tiny Starlette app: limits fail early, nothing is left on disk."""

from __future__ import annotations

import hashlib
import stat
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message

from pixvault.core.errors import PixvaultError, TooLarge
from pixvault.web.multipart import FormLimits, ParsedUpload, parse_upload

pytestmark = pytest.mark.anyio

B = "pv-boundary-42"
CT = f"multipart/form-data; boundary={B}"
LIMITS = FormLimits(
    max_file_size=1000, max_files=3, max_request_size=20_000, max_field_size=200, max_fields=4
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- body building ------------------------------------------------------------------------


def part_head(name: str, filename: str | None = None, *extra: str) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    lines = [f"--{B}", f"Content-Disposition: {disposition}", *extra]
    if filename is not None:
        lines.append("Content-Type: application/octet-stream")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def part(name: str, data: bytes, filename: str | None = None, *extra: str) -> bytes:
    return part_head(name, filename, *extra) + data + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{B}--\r\n".encode()


class Pulled:
    """An async request body that records how much of it the app actually pulled."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.count = 0
        self.bytes = 0
        self.exhausted = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.count += 1
            self.bytes += len(chunk)
            yield chunk
        self.exhausted = True


def repeat(chunk: bytes, times: int) -> Iterable[bytes]:
    for _ in range(times):
        yield chunk


# -- the app ------------------------------------------------------------------------------


class Harness:
    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self.limits = LIMITS
        self.file_field = "files"
        self.parsed: list[ParsedUpload] = []
        self.app = Starlette(routes=[Route("/upload", self.upload, methods=["POST"])])

    async def upload(self, request: Request) -> JSONResponse:
        try:
            parsed = await parse_upload(
                request, self.limits, self.spool_dir, file_field=self.file_field
            )
        except PixvaultError as exc:
            status = 413 if isinstance(exc, TooLarge) else 400
            return JSONResponse(
                {"error": type(exc).__name__, "message": exc.message}, status_code=status
            )
        self.parsed.append(parsed)  # the test owns the files now
        return JSONResponse(
            {
                "fields": parsed.fields,
                "files": [
                    {
                        "name": f.original_name,
                        "size": f.size,
                        "md5": f.md5,
                        "sha256": f.sha256,
                        "path": str(f.path),
                    }
                    for f in parsed.files
                ],
            }
        )

    async def post(
        self,
        content: bytes | Pulled | None = None,
        *,
        content_type: str | None = CT,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/upload", content=content, headers=all_headers, **kwargs)

    def spooled(self) -> list[Path]:
        return sorted(self.spool_dir.iterdir())


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    return Harness(spool_dir)


def assert_error(r: httpx.Response, status: int, error: str, message: str | None = None) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error, r.text
    if message is not None:
        assert r.json()["message"] == message


def digest(data: bytes) -> dict[str, object]:
    return {
        "size": len(data),
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# -- success ------------------------------------------------------------------------------


async def test_files_and_fields_with_hashes_sizes_and_content(h: Harness) -> None:
    payloads = [("a.png", b"\x89PNG" + bytes(range(256)) * 3), ("b.jpg", b""), ("c", b"\r\n--x")]
    r = await h.post(
        content_type=None,
        files=[("files", (name, data, "image/png")) for name, data in payloads],
        data={"tags": '["x"]', "isPublic": "true"},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fields"] == {"tags": ['["x"]'], "isPublic": ["true"]}
    assert [{k: f[k] for k in ("name", "size", "md5", "sha256")} for f in got["files"]] == [
        {"name": name, **digest(data)} for name, data in payloads
    ]
    for (_, data), f in zip(payloads, got["files"], strict=True):
        path = Path(f["path"])
        assert path.parent == h.spool_dir and path.name.startswith("upload-")
        assert path.read_bytes() == data
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    h.parsed[0].discard()
    h.parsed[0].discard()
    assert h.spooled() == []


async def test_repeated_fields_keep_every_value_in_order(h: Harness) -> None:
    r = await h.post(body(part("tag", b"a"), part("tag", "é".encode()), part("x", b"")))
    assert r.json()["fields"] == {"tag": ["a", "é"], "x": [""]}


async def test_file_split_across_many_small_chunks(h: Harness) -> None:
    data = bytes(range(256)) * 3 + b"\r\n--pv-bound" + b"tail"  # a near-boundary inside
    raw = body(part("files", data, "split.bin"), part("note", b"hi"))
    r = await h.post(Pulled(raw[i : i + 7] for i in range(0, len(raw), 7)))
    assert r.status_code == 200, r.text
    [f] = r.json()["files"]
    assert {k: f[k] for k in ("size", "md5", "sha256")} == digest(data)
    assert Path(f["path"]).read_bytes() == data
    assert r.json()["fields"] == {"note": ["hi"]}


async def test_utf8_and_rfc5987_filenames(h: Harness) -> None:
    star = (
        f'--{B}\r\nContent-Disposition: form-data; name="files"; filename="fallback.png"; '
        "filename*=UTF-8''%E2%82%AC%20rates.png\r\n\r\nabc\r\n"
    ).encode()
    r = await h.post(body(part("files", b"x", "café.png"), star))
    assert [f["name"] for f in r.json()["files"]] == ["café.png", "€ rates.png"]


async def test_browser_escapes_in_names_are_undone_once(h: Harness) -> None:
    r = await h.post(
        content_type=None,
        files=[("files", ('we"ird\r\nname;.jpg', b"a", "image/jpeg"))],
        data={'say "hi"': "v"},
    )
    assert [f["name"] for f in r.json()["files"]] == ['we"ird\r\nname;.jpg']
    assert r.json()["fields"] == {'say "hi"': ["v"]}
    r = await h.post(body(part("files", b"a", "100%25 %22%0d.png")))
    assert [f["name"] for f in r.json()["files"]] == ['100%25 "%0d.png']


async def test_empty_body_with_only_the_closing_boundary(h: Harness) -> None:
    r = await h.post(body())
    assert r.json() == {"fields": {}, "files": []}


async def test_crlf_preamble_of_megabytes_is_handled_promptly(h: Harness) -> None:
    h.limits = FormLimits(max_file_size=1000, max_files=3, max_request_size=10 * 1024**2)
    raw = b"\r\n" * (3 * 1024**2) + body(part("files", b"abc", "a.png"))
    started = time.perf_counter()
    r = await h.post(Pulled(raw[i : i + 65536] for i in range(0, len(raw), 65536)))
    assert time.perf_counter() - started < 3
    assert r.status_code == 200, r.text
    assert r.json()["files"][0]["size"] == 3


# -- per-file size ------------------------------------------------------------------------


async def test_file_exactly_at_the_limit_is_accepted(h: Harness) -> None:
    r = await h.post(body(part("files", b"x" * 1000, "edge.png")))
    assert r.status_code == 200, r.text
    assert r.json()["files"][0]["size"] == 1000


async def test_one_byte_over_is_too_large_naming_the_file(h: Harness) -> None:
    raw = body(part("files", b"ok", "fine.png"), part("files", b"x" * 1001, "huge.png"))
    r = await h.post(raw)
    assert_error(r, 413, "TooLarge", '"huge.png" is too large (max 1000 B)')
    assert h.spooled() == []  # the first, finished file is gone too


async def test_oversized_file_stops_reading_the_body(h: Harness) -> None:
    h.limits = FormLimits(max_file_size=100_000, max_files=3, max_request_size=10**9)
    chunk = b"x" * 65536
    stream = Pulled([part_head("files", "big.bin"), *repeat(chunk, 1000)])
    r = await h.post(stream)
    assert_error(r, 413, "TooLarge")
    assert not stream.exhausted and stream.count <= 4
    assert h.spooled() == []


# -- file count ---------------------------------------------------------------------------


async def test_max_files_is_accepted(h: Harness) -> None:
    r = await h.post(body(*(part("files", b"d", f"{i}.png") for i in range(3))))
    assert r.status_code == 200 and len(r.json()["files"]) == 3


async def test_one_file_too_many_fails_before_its_body_is_read(h: Harness) -> None:
    head = b"".join(part("files", b"d", f"{i}.png") for i in range(3))
    stream = Pulled([head, part_head("files", "3.png"), *repeat(b"y" * 1000, 50)])
    h.limits = FormLimits(max_file_size=10**6, max_files=3, max_request_size=10**9)
    r = await h.post(stream)
    assert_error(r, 413, "TooManyFiles", "Too many files (max 3 per upload)")
    assert stream.count == 2 and not stream.exhausted
    assert h.spooled() == []


# -- request cap --------------------------------------------------------------------------


async def test_declared_content_length_over_the_cap_is_refused_unread(h: Harness) -> None:
    stream = Pulled(repeat(b"z" * 1000, 100))
    r = await h.post(stream, headers={"Content-Length": "20001"})
    assert_error(r, 413, "RequestTooLarge", "Request too large (max 19.5 KiB)")
    assert stream.count == 0


async def test_chunked_body_passing_the_cap_stops_reading(h: Harness) -> None:
    h.limits = FormLimits(max_file_size=10**9, max_files=3, max_request_size=100_000)
    stream = Pulled([part_head("files", "big.bin"), *repeat(b"z" * 10_000, 1000)])
    r = await h.post(stream)
    assert "content-length" not in r.request.headers
    assert_error(r, 413, "RequestTooLarge")
    assert not stream.exhausted and stream.bytes <= 100_000 + 10_000
    assert h.spooled() == []


async def test_request_exactly_at_the_cap_is_accepted(h: Harness) -> None:
    raw = body(part("files", b"a", "a.png"))
    h.limits = FormLimits(max_file_size=10, max_files=1, max_request_size=len(raw))
    assert (await h.post(raw)).status_code == 200
    h.limits = FormLimits(max_file_size=10, max_files=1, max_request_size=len(raw) - 1)
    assert_error(await h.post(raw), 413, "RequestTooLarge")


# -- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/json", b"{}"),
        ("multipart/form-data", body(part("files", b"a", "a.png"))),
        ('multipart/form-data; boundary=""', b"--\r\n"),
        ("multipart/mixed; boundary=" + B, body(part("files", b"a", "a.png"))),
        (None, body(part("files", b"a", "a.png"))),
    ],
    ids=["json", "no-boundary", "empty-boundary", "mixed", "no-content-type"],
)
async def test_not_multipart_form_data(h: Harness, content_type: str | None, raw: bytes) -> None:
    r = await h.post(raw, content_type=content_type)
    assert_error(r, 400, "InvalidInput", "Expected multipart/form-data")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"garbage, not multipart at all",
        body(part("files", b"a", "a.png")).replace(B.encode(), b"other-boundary"),
        body(part("files", b"abc" * 100, "a.png"))[:-40],  # stream ends mid-file
        body(part("files", b"abc", "a.png"))[: -len(f"--{B}--\r\n")],  # no closing boundary
        part_head("files", "a.png")[:-2],  # ends inside the headers
        f"--{B}\r\nbad header line\r\n\r\nx\r\n--{B}--\r\n".encode(),
    ],
    ids=["empty", "garbage", "wrong-boundary", "truncated", "unclosed", "in-headers", "header"],
)
async def test_malformed_bodies(h: Harness, raw: bytes) -> None:
    r = await h.post(raw)
    assert_error(r, 400, "InvalidInput", "Malformed multipart body")
    assert h.spooled() == []


async def test_part_without_disposition_or_name(h: Harness) -> None:
    raw = f"--{B}\r\nContent-Type: text/plain\r\n\r\nx\r\n--{B}--\r\n".encode()
    assert_error(await h.post(raw), 400, "InvalidInput")
    raw = f"--{B}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{B}--\r\n".encode()
    assert_error(await h.post(raw), 400, "InvalidInput")


async def test_encoded_parts_are_rejected(h: Harness) -> None:
    raw = body(part("files", b"YWJj", "a.png", "Content-Transfer-Encoding: base64"))
    assert_error(await h.post(raw), 400, "InvalidInput")
    assert h.spooled() == []


async def test_header_limits(h: Harness) -> None:
    long_line = body(part("files", b"a", "a.png", "X-Long: " + "v" * 8200))
    r = await h.post(long_line)
    assert_error(r, 400, "InvalidInput", "Multipart part header too long (max 8 KiB)")
    just_fits = body(part("note", b"a", None, "X-Long: " + "v" * 8000))
    assert (await h.post(just_fits)).status_code == 200
    many = body(part("files", b"a", "a.png", *(f"X-H{i}: v" for i in range(15))))
    r = await h.post(many)
    assert_error(r, 400, "InvalidInput", "Too many headers in a multipart part (max 16)")
    sixteen = body(part("note", b"a", None, *(f"X-H{i}: v" for i in range(15))))
    assert (await h.post(sixteen)).status_code == 200


# -- fields -------------------------------------------------------------------------------


async def test_field_at_the_limit_ok_and_over_it_too_large(h: Harness) -> None:
    assert (await h.post(body(part("note", b"n" * 200)))).json()["fields"] == {"note": ["n" * 200]}
    r = await h.post(body(part("files", b"a", "a.png"), part("note", b"n" * 201)))
    assert_error(r, 413, "RequestTooLarge", "Form field 'note' too large")
    assert h.spooled() == []


async def test_too_many_fields(h: Harness) -> None:
    assert (await h.post(body(*(part(f"f{i}", b"v") for i in range(4))))).status_code == 200
    r = await h.post(body(*(part(f"f{i}", b"v") for i in range(5))))
    assert_error(r, 400, "InvalidInput", "Too many form fields (max 4)")


async def test_every_part_counts_even_empty_file_inputs(h: Harness) -> None:
    """An empty file input is dropped, but parsing it cost something: max_files + max_fields
    parts (here 3 + 4) at most, refused at the first one over without reading further."""
    empty = part("files", b"", "")
    ok = await h.post(body(*[empty] * 6, part("files", b"d", "a.png")))
    assert [f["name"] for f in ok.json()["files"]] == ["a.png"]
    h.parsed.pop().discard()
    pulled = Pulled(repeat(empty, 500_000))
    r = await h.post(pulled)
    assert_error(r, 413, "RequestTooLarge", "Too many parts in the form (max 7)")
    assert pulled.count < 20 and not pulled.exhausted
    assert h.spooled() == []


async def test_field_that_is_not_utf8(h: Harness) -> None:
    r = await h.post(body(part("files", b"a", "a.png"), part("note", b"\xff\xfe")))
    assert_error(r, 400, "InvalidInput", "Form field 'note' is not valid UTF-8")
    assert h.spooled() == []


async def test_unexpected_file_field_is_rejected(h: Harness) -> None:
    r = await h.post(body(part("files", b"a", "a.png"), part("avatar", b"a", "b.png")))
    assert_error(r, 400, "InvalidInput", "Unexpected file field 'avatar'")
    assert h.spooled() == []
    h.file_field = "image"
    r = await h.post(body(part("image", b"a", "a.png")))
    assert [f["name"] for f in r.json()["files"]] == ["a.png"]


async def test_empty_file_input_is_ignored(h: Harness) -> None:
    r = await h.post(body(part("files", b"", ""), part("files", b"a", "a.png")))
    assert r.status_code == 200, r.text
    assert [f["name"] for f in r.json()["files"]] == ["a.png"]
    # ...and does not count against max_files
    r = await h.post(body(part("files", b"", ""), *(part("files", b"d", f"{i}") for i in range(3))))
    assert len(r.json()["files"]) == 3


async def test_nameless_file_with_data_is_kept(h: Harness) -> None:
    r = await h.post(body(part("files", b"data", "")))
    assert [(f["name"], f["size"]) for f in r.json()["files"]] == [("", 4)]


async def test_a_failing_body_stream_leaves_no_files(h: Harness) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield part("files", b"done", "a.png") + part_head("files", "b.png") + b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await h.post(broken())  # type: ignore[arg-type]
    assert h.spooled() == []


# -- memory -------------------------------------------------------------------------------


async def test_30_mb_upload_keeps_memory_flat(tmp_path: Path) -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB
    count = 480  # 30 MiB
    md5, sha = hashlib.md5(), hashlib.sha256()
    for _ in range(count):
        md5.update(chunk)
        sha.update(chunk)
    head = part_head("files", "big.raw")
    tail = b"\r\n" + f"--{B}--\r\n".encode()
    messages = iter([head, *repeat(chunk, count), tail])

    async def receive() -> Message:
        data = next(messages, None)
        return {"type": "http.request", "body": data or b"", "more_body": data is not None}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "headers": [(b"content-type", CT.encode())],
    }
    limits = FormLimits(max_file_size=40 * 1024**2, max_files=1, max_request_size=50 * 1024**2)
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        parsed = await parse_upload(Request(scope, receive), limits, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [f] = parsed.files
    assert (f.size, f.md5, f.sha256) == (count * len(chunk), md5.hexdigest(), sha.hexdigest())
    assert f.path.stat().st_size == f.size
    assert peak - baseline < 8 * 1024**2, f"peak grew by {(peak - baseline) / 1024**2:.1f} MiB"
    parsed.discard()
    assert list(tmp_path.iterdir()) == []
