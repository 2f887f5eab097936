"""Serving a blob from a file opened before the answer starts.

Starlette's ``FileResponse`` stats the path, sends the headers, then opens the path: a delete
in between gave a 500 (naming the absolute path in the log) or, worse, a 200 whose body was
shorter than its Content-Length. Here the file is opened first and its size read from the
open descriptor; on Linux an open descriptor keeps reading an unlinked file's bytes, so once
the headers go out the body is whole. A file already gone is a 404.

Range: one ``bytes=`` range is served as 206; a malformed one is a 400 and one past the end
a 416 with ``Content-Range: bytes */size`` (both JSON, through web/errors.py). A request for
several ranges gets the whole file (RFC 9110 lets a server ignore Range), which spares us
multipart/byteranges and its overlapping-range amplification.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from pixvault.core.errors import NotFound

CHUNK_SIZE = 64 * 1024
_MAX_DIGITS = 19  # a 64-bit offset; longer numbers are malformed, not slow to parse


@dataclass
class OpenBlob:
    """A blob's file, open for reading, with the size and mtime of that very file."""

    fd: int
    size: int
    mtime: float

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def open_blob(path: Path) -> OpenBlob:
    """Open ``path`` (blocking: call it in a thread); a missing file is ``NotFound``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound("Image not found") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotFound("Image not found")
    return OpenBlob(fd=fd, size=info.st_size, mtime=info.st_mtime)


def _malformed() -> HTTPException:
    return HTTPException(400, "Malformed Range header")


def requested_range(headers: Headers, method: str, size: int, etag: str) -> tuple[int, int] | None:
    """The one byte range to send as ``(start, end)`` inclusive, or None for the whole file."""
    value = headers.get("range")
    if value is None or method != "GET":  # RFC 9110: Range is defined for GET only
        return None
    if_range = headers.get("if-range")
    if if_range is not None and if_range != etag:
        return None  # the client's copy is another version: send it all
    unit, sep, spec = value.partition("=")
    if not sep:
        raise _malformed()
    if unit.strip().lower() != "bytes":
        return None  # a unit we do not know must be ignored
    if "," in spec:
        return None  # several ranges: the whole file instead
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last):
        raise _malformed()
    for number in (first, last):
        if number and not (number.isascii() and number.isdigit() and len(number) <= _MAX_DIGITS):
            raise _malformed()
    if not first:  # "-N": the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    start = int(first)
    if last and int(last) < start:
        raise _malformed()
    if start >= size:
        raise _unsatisfiable(size)
    return start, min(int(last), size - 1) if last else size - 1


def _unsatisfiable(size: int) -> HTTPException:
    return HTTPException(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{size}"})


class BlobResponse(Response):
    """Streams ``blob`` (whole or one range) and closes it, whatever happens."""

    def __init__(
        self,
        blob: OpenBlob,
        span: tuple[int, int] | None,
        *,
        media_type: str,
        headers: dict[str, str],
    ) -> None:
        super().__init__(status_code=200 if span is None else 206, media_type=media_type)
        self.blob = blob
        self.start, self.end = span if span is not None else (0, blob.size - 1)
        out = MutableHeaders(raw=self.raw_headers)
        out.update(headers)
        out["Accept-Ranges"] = "bytes"
        out["Last-Modified"] = formatdate(blob.mtime, usegmt=True)
        out["Content-Length"] = str(self.end - self.start + 1)
        if span is not None:
            out["Content-Range"] = f"bytes {self.start}-{self.end}/{blob.size}"
        self.raw_headers = out.raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            async with anyio.create_task_group() as group:
                # Stop reading the file as soon as the client goes away.
                group.start_soon(self._cancel_on_disconnect, receive, group.cancel_scope)
                await self._send_body(send)
                group.cancel_scope.cancel()
        finally:
            self.blob.close()

    async def _send_body(self, send: Send) -> None:
        position, remaining = self.start, self.end - self.start + 1
        if remaining == 0:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        while remaining > 0:
            chunk = await anyio.to_thread.run_sync(
                os.pread, self.blob.fd, min(CHUNK_SIZE, remaining), position
            )
            if not chunk:  # the file shrank in place: never pass off a short body as whole
                raise RuntimeError("blob file shorter than when it was opened")
            position += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})

    @staticmethod
    async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()


BLOB_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
}
"""On every stored image we serve: uploads are hostile, so a browser must never sniff one into
HTML or run anything from it (the corpus has a JPEG/HTML polyglot)."""


def one_value_each(request: Request, *names: str) -> bool:
    """No "exp=1&exp=9999999999" games: a signed link's parameters appear once each."""
    return all(len(request.query_params.getlist(name)) <= 1 for name in names)


async def serve_file(
    request: Request, path: Path, *, etag: str | None, media_type: str, headers: dict[str, str]
) -> BlobResponse:
    """Open ``path`` before a byte of the answer is sent (a delete racing this request gives a
    404 or the whole file, never a 500 or a body shorter than its Content-Length), then answer
    the request's Range, if any. ``etag`` None: one made from the open file's size and mtime."""
    blob = await run_in_threadpool(open_blob, path)
    try:
        tag = etag or f'"{blob.size:x}-{int(blob.mtime * 1e6):x}"'
        span = requested_range(request.headers, request.method, blob.size, tag)
    except BaseException:
        blob.close()
        raise
    all_headers = {**headers, **BLOB_HEADERS, "ETag": tag}
    return BlobResponse(blob, span, media_type=media_type, headers=all_headers)
