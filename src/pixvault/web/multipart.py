"""Streaming multipart/form-data parsing for uploads.

Starlette's ``request.form()`` buffers parts and has no per-file limit, so uploads are fed
chunk by chunk from ``request.stream()`` into python-multipart's low-level
``MultipartParser``. File parts go to a :class:`Spool` (size-checked as they arrive); the
request cap and the file, field and part counts fail as soon as they are passed, without
reading the rest of the body. On any failure every spooled file is deleted.

The parser's callbacks run on the event loop and only count and copy; each ~1 MiB block is
hashed and written in a worker thread taken from the caller's limiter, so a big upload
neither stalls other requests nor takes more threads than uploads are allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import aclosing
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value
from pathlib import Path
from typing import TYPE_CHECKING

from anyio import CapacityLimiter, to_thread
from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from pixvault.core.errors import InvalidInput, RequestTooLarge, TooManyFiles
from pixvault.core.models import IncomingFile
from pixvault.core.spool import BLOCK_SIZE, Spool, human_size

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_HEADER_LINE = 8 * 1024
"""Longest part header line (name + value) accepted."""
MAX_HEADERS = 16
"""Most headers accepted in one part."""
MAX_BOUNDARY = 200
"""RFC 2046 allows 70; leave room for odd clients while keeping the parser's scan cheap."""

MALFORMED = "Malformed multipart body"
_IDENTITY_ENCODINGS = {b"7bit", b"8bit", b"binary"}
_RFC5987_CHARSETS = {"utf-8", "iso-8859-1"}
_UNESCAPE = {"%22": '"', "%0D": "\r", "%0A": "\n"}
_ESCAPED = re.compile("%22|%0D|%0A")


@dataclass(frozen=True)
class FormLimits:
    max_file_size: int
    max_files: int
    max_request_size: int  # whole body cap
    max_field_size: int = 64 * 1024  # a non-file field
    max_fields: int = 32  # non-file fields

    @property
    def max_parts(self) -> int:
        """Every part counts, even an empty file input that is then dropped: each one costs
        parsing, so without this a body of tiny parts buys CPU time without limit."""
        return self.max_files + self.max_fields


@dataclass
class ParsedUpload:
    """Form fields plus the spooled files; the caller owns the files once it has this."""

    fields: dict[str, list[str]]
    files: list[IncomingFile]

    discarded: bool = False

    def discard(self) -> None:
        """Delete every spooled file; safe to call more than once (later calls do nothing)."""
        if self.discarded:
            return
        self.discarded = True
        for incoming in self.files:
            incoming.path.unlink(missing_ok=True)


def _label(name: str) -> str:
    """Quote a client-chosen name for an error message, escaped and bounded."""
    return repr(name[:100])


def _param(raw: bytes) -> str:
    """A ``name``/``filename`` parameter as browsers send it (Fetch's form-data name parser).

    Browsers send raw UTF-8 (Latin-1 is the fallback) and escape only ``"``, CR and LF,
    as ``%22``, ``%0D`` and ``%0A``; those three are undone in one pass, nothing else.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return _ESCAPED.sub(lambda m: _UNESCAPE[m.group(0)], text)


def _boundary(content_type: str | None) -> bytes:
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary", b"")
    if (
        mime != b"multipart/form-data"
        or not 0 < len(boundary) <= MAX_BOUNDARY
        or any(not 0x20 <= c < 0x7F for c in boundary)
    ):
        raise InvalidInput("Expected multipart/form-data")
    return boundary


def _check_content_length(value: str | None, cap: int) -> None:
    """Refuse a declared oversize body before reading a byte of it."""
    if value is None:
        return
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        raise InvalidInput("Invalid Content-Length")
    if int(value) > cap:
        raise RequestTooLarge(f"Request too large (max {human_size(cap)})")


def _filename(disposition: bytes, params: dict[bytes, bytes]) -> str | None:
    """``filename*`` (RFC 5987, UTF-8 or Latin-1) if present and valid, else ``filename``.

    python-multipart drops starred parameters (RFC 7578 forbids them in form-data), so
    they are read with the stdlib's RFC 2231 decoder; the ext-value is ASCII by syntax.
    """
    if b"filename*" in disposition.lower():
        msg = Message()
        msg["content-disposition"] = disposition.decode("latin-1")
        for key, value in msg.get_params([], header="content-disposition"):
            if key == "filename" and isinstance(value, tuple):
                charset = (value[0] or "").lower()
                if charset in _RFC5987_CHARSETS:
                    try:
                        return collapse_rfc2231_value(value, errors="strict")
                    except UnicodeDecodeError:
                        break
    raw = params.get(b"filename")
    return None if raw is None else _param(raw)


class _FormBuilder:
    """The parser's callbacks: collect part headers, then route the body of each part."""

    # State of the part being parsed, reset at every part boundary.
    _headers: list[tuple[bytes, bytes]]
    _header_name: bytearray
    _header_value: bytearray
    _kind: str | None  # "field" | "file"; None until the headers are complete
    _name: str
    _filename: str
    _value: bytearray
    _spool: Spool | None

    def __init__(self, limits: FormLimits, spool_dir: Path, file_field: str) -> None:
        self.limits = limits
        self.spool_dir = spool_dir
        self.file_field = file_field
        self.fields: dict[str, list[str]] = {}
        self.files: list[IncomingFile] = []
        self.finished = False
        self._spools: list[Spool] = []  # every spool ever opened, for cleanup
        self._jobs: list[tuple[Spool, bool]] = []  # (spool, part ended): thread work due
        self._part_count = 0
        self._file_count = 0
        self._field_count = 0
        self._reset_part()

    def _reset_part(self) -> None:
        self._headers = []
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._kind = None
        self._name = ""
        self._filename = ""
        self._value = bytearray()
        self._spool = None

    def _on_part_begin(self) -> None:
        self._part_count += 1
        if self._part_count > self.limits.max_parts:
            raise RequestTooLarge(f"Too many parts in the form (max {self.limits.max_parts})")
        self._reset_part()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._on_part_begin,
            "on_header_begin": self._on_header_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._on_header_end,
            "on_headers_finished": self._on_headers_finished,
            "on_part_data": self._on_part_data,
            "on_part_end": self._on_part_end,
            "on_end": self._on_end,
        }

    def discard(self) -> None:
        for spool in self._spools:
            spool.discard()

    def take_jobs(self) -> Iterator[tuple[Spool, bool]]:
        """Spools with a block to flush (False) or a part that ended (True), in body order."""
        jobs, self._jobs = self._jobs, []
        yield from jobs

    # -- part headers ------------------------------------------------------------------

    def _on_header_begin(self) -> None:
        if len(self._headers) >= MAX_HEADERS:
            raise InvalidInput(f"Too many headers in a multipart part (max {MAX_HEADERS})")

    def _check_header_size(self) -> None:
        if len(self._header_name) + len(self._header_value) > MAX_HEADER_LINE:
            raise InvalidInput(
                f"Multipart part header too long (max {human_size(MAX_HEADER_LINE)})"
            )

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]
        self._check_header_size()

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._check_header_size()

    def _on_header_end(self) -> None:
        self._headers.append((bytes(self._header_name).lower(), bytes(self._header_value)))
        self._header_name.clear()
        self._header_value.clear()

    def _header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self._headers if key == name), None)

    def _on_headers_finished(self) -> None:
        """Decide where this part's body goes, before any of it is read."""
        disposition = self._header(b"content-disposition")
        if disposition is None:
            raise InvalidInput("Multipart part without Content-Disposition")
        kind, params = parse_options_header(disposition)
        if kind != b"form-data" or b"name" not in params:
            raise InvalidInput("Multipart part without a form-data field name")
        encoding = self._header(b"content-transfer-encoding")
        if encoding is not None and encoding.strip().lower() not in _IDENTITY_ENCODINGS:
            raise InvalidInput("Unsupported Content-Transfer-Encoding in multipart part")
        self._name = _param(params[b"name"])
        filename = _filename(disposition, params)
        if filename is None:
            self._field_count += 1
            if self._field_count > self.limits.max_fields:
                raise InvalidInput(f"Too many form fields (max {self.limits.max_fields})")
            self._kind = "field"
            return
        if self._name != self.file_field:
            raise InvalidInput(f"Unexpected file field {_label(self._name)}")
        self._kind = "file"
        self._filename = filename
        # An empty filename is what browsers send for an untouched file input: it only
        # becomes a file (and counts against max_files) if it turns out to carry data.
        if filename:
            self._open_spool()

    def _open_spool(self) -> Spool:
        self._file_count += 1
        if self._file_count > self.limits.max_files:
            raise TooManyFiles(f"Too many files (max {self.limits.max_files} per upload)")
        spool = Spool(self.spool_dir, self._filename, self.limits.max_file_size)
        self._spools.append(spool)
        self._spool = spool
        return spool

    # -- part bodies -------------------------------------------------------------------

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._kind == "file":
            spool = self._spool or self._open_spool()
            if spool.feed(memoryview(data)[start:end]) and self._jobs[-1:] != [(spool, False)]:
                self._jobs.append((spool, False))
        elif self._kind == "field":
            if len(self._value) + (end - start) > self.limits.max_field_size:
                raise RequestTooLarge(f"Form field {_label(self._name)} too large")
            self._value += data[start:end]

    def _on_part_end(self) -> None:
        if self._kind == "file" and self._spool is not None:
            self._jobs.append((self._spool, True))
        elif self._kind == "field":
            try:
                text = self._value.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput(f"Form field {_label(self._name)} is not valid UTF-8") from None
            self.fields.setdefault(self._name, []).append(text)
        self._reset_part()

    def _on_end(self) -> None:
        self.finished = True


async def _run_jobs(builder: _FormBuilder, limiter: CapacityLimiter | None) -> None:
    """Hash and write the blocks that are due, then close the files whose part ended."""
    for spool, ended in builder.take_jobs():
        if ended:
            builder.files.append(await to_thread.run_sync(spool.finish, limiter=limiter))
        else:
            await to_thread.run_sync(spool.flush, limiter=limiter)


async def parse_upload(
    request: Request,
    limits: FormLimits,
    spool_dir: Path,
    *,
    file_field: str = "files",
    limiter: CapacityLimiter | None = None,
) -> ParsedUpload:
    """Stream the request body into spooled files and text fields, enforcing ``limits``.

    Raises InvalidInput, RequestTooLarge, TooManyFiles or TooLarge (naming the file); no
    spooled file survives an error. On success the caller must call ``discard()``.
    ``limiter`` bounds the worker threads used for hashing (default: anyio's shared pool).
    """
    boundary = _boundary(request.headers.get("content-type"))
    cap = limits.max_request_size
    _check_content_length(request.headers.get("content-length"), cap)
    builder = _FormBuilder(limits, spool_dir, file_field)
    try:
        try:
            parser = MultipartParser(
                boundary,
                builder.callbacks(),
                # Backstops only: the builder enforces the same limits with clearer errors.
                max_header_count=MAX_HEADERS + 1,
                max_header_size=MAX_HEADER_LINE + 256,
            )
            received = 0
            async with aclosing(request.stream()) as stream:
                async for chunk in stream:
                    received += len(chunk)
                    if received > cap:
                        raise RequestTooLarge(f"Request too large (max {human_size(cap)})")
                    # At most a block per write, so a spool never buffers much more than one.
                    for offset in range(0, len(chunk), BLOCK_SIZE):
                        parser.write(chunk[offset : offset + BLOCK_SIZE])
                        await _run_jobs(builder, limiter)
        except FormParserError as exc:
            raise InvalidInput(MALFORMED) from exc
        if not builder.finished:  # the body ended before the closing boundary
            raise InvalidInput(MALFORMED)
    except BaseException:
        builder.discard()
        raise
    return ParsedUpload(fields=builder.fields, files=builder.files)
