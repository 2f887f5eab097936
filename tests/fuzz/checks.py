"""The properties every fuzz input must satisfy, one function per target.

Each function raises (an assertion, or the unexpected exception itself) when the property
fails, and returns quietly otherwise; the ``@given`` tests and the regression replay call the
same ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from starlette.requests import Request
from starlette.types import Message

from pixvault.core import heif, media, structure
from pixvault.core.errors import InvalidInput, TooLarge, UnsupportedType
from pixvault.core.models import IncomingFile, MediaInfo
from pixvault.core.privacy import StripMode, prepare, rewrite, tiff
from pixvault.web.multipart import FormLimits, ParsedUpload, parse_upload

MAX_PIXELS = 1_000_000
"""Low, so a mutated header claiming a huge canvas is refused before anything allocates it."""
WALKERS = {
    "JPEG": structure.walk_jpeg,
    "PNG": lambda buf: structure.walk_png(buf, max_frames=media.MAX_FRAMES),
    "GIF": lambda buf: structure.walk_gif(buf, max_frames=media.MAX_FRAMES),
    "WEBP": lambda buf: structure.walk_webp(buf, max_frames=media.MAX_FRAMES),
    "AVIF": structure.walk_avif,
    "HEIF": heif.walk_heif,
}
GPS_IFD = 0x8825


# --- structure walkers ----------------------------------------------------------------------


def walkers(data: bytes) -> None:
    """Every walker on every input (not only its own format): a whole-file ``Structure`` or
    ``UnsupportedType`` / ``TooLarge``. The sniffers never raise at all."""
    for walk in WALKERS.values():
        try:
            found = walk(data)
        except (UnsupportedType, TooLarge):
            continue
        assert found.frames >= 1
        assert found.extent[0] >= 0 and found.extent[1] >= 0
    media.sniff(data[:4096])
    heif.brands(data[:4096])
    heif.media_type(data[:4096])
    size = structure.webp_header_size(data[:30])
    assert size is None or (size[0] >= 0 and size[1] >= 0)


# --- the upload check -------------------------------------------------------------------------


def inspected(data: bytes, directory: Path) -> MediaInfo | None:
    """``media.inspect`` on ``data``: a sane ``MediaInfo``, or None when it was refused with
    one of the two errors it documents."""
    path = directory / "upload"
    path.write_bytes(data)
    try:
        info = media.inspect(path, max_pixels=MAX_PIXELS)
    except (UnsupportedType, TooLarge):
        return None
    finally:
        path.unlink()
    assert info.format in media.ALLOWED_FORMATS
    assert info.format == media.sniff(data[:4096])
    assert info.width > 0 and info.height > 0 and info.width * info.height <= MAX_PIXELS
    assert 1 <= info.frames <= media.MAX_FRAMES
    return info


# --- metadata strippers -----------------------------------------------------------------------


def _pillow_gps(data: bytes) -> dict[int, object]:
    """The GPS IFD as Pillow (what most readers are built on) finds it; empty when it cannot
    read the file at all (then it cannot find a position either)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return dict(im.getexif().get_ifd(GPS_IFD))
    except Exception:
        return {}


def stripped(data: bytes, fmt: str, mode: StripMode, directory: Path) -> None:
    """``rewrite``: ``UnsupportedType`` or a result; mode none never edits; otherwise the
    output is read again by the stripper without error and holds no GPS IFD, and when the
    input passed the upload check, so does the output (same format, frames and pixels)."""
    try:
        pieces, _ = rewrite(data, fmt, mode)
    except UnsupportedType:
        return
    if mode is StripMode.NONE:
        assert pieces is None, "mode none changed the file"
        return
    out = data if pieces is None else b"".join(bytes(piece) for piece in pieces)
    _, again = rewrite(out, fmt, mode)  # its own output: any error here is a bug
    if again.exif is not None:
        # A TIFF nobody can walk (BadTiff) holds no position anyone can read.
        with contextlib.suppress(tiff.BadTiff):
            assert not tiff.has_gps(again.exif), "a GPS IFD survived the stripper"
    before = inspected(data, directory)
    if before is None:
        return
    after = inspected(out, directory)
    assert after is not None, "the upload check accepted the file but not its stripped copy"
    assert (after.format, after.frames) == (before.format, before.frames)
    assert sorted((after.width, after.height)) == sorted((before.width, before.height))
    assert _pillow_gps(out) == {}, "Pillow still reads a GPS IFD"


def prepared(data: bytes, fmt: str, mode: StripMode, directory: Path) -> None:
    """``prepare``: the stripped copy is exactly what ``rewrite`` said, hashed right, beside
    the received file, and gone after ``discard``; on ``UnsupportedType`` nothing is left."""
    received = directory / "received"
    received.write_bytes(data)
    incoming = IncomingFile(
        original_name="upload.bin",
        path=received,
        size=len(data),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    try:
        result = prepare(incoming, fmt, mode)
    except UnsupportedType:
        assert sorted(directory.iterdir()) == [received]
        received.unlink()
        return
    try:
        stored = result.stored.path.read_bytes()
        assert result.stored.size == len(stored)
        assert result.stored.sha256 == hashlib.sha256(stored).hexdigest()
        pieces, _ = rewrite(data, fmt, mode)
        expected = data if pieces is None else b"".join(bytes(piece) for piece in pieces)
        assert stored == expected
        assert result.stripped == (pieces is not None)
        if result.photo is not None and mode is not StripMode.NONE:
            assert result.photo.latitude is None and result.photo.longitude is None
        if result.taken_at is not None:
            assert result.taken_at.utcoffset() is not None
    finally:
        result.discard()
    assert sorted(directory.iterdir()) == [received]
    assert received.read_bytes() == data
    received.unlink()


# --- multipart --------------------------------------------------------------------------------

BOUNDARY = "fuzz-boundary-7c1e9a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
LIMITS = FormLimits(
    max_file_size=600, max_files=3, max_request_size=4000, max_field_size=100, max_fields=4
)


@dataclass(frozen=True)
class Parsed:
    fields: dict[str, list[str]]
    files: list[tuple[str, bytes]]


def _request(content_type: bytes, chunks: Sequence[bytes]) -> Request:
    pending = list(chunks)

    async def receive() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(0), "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/images/upload",
        "headers": [(b"content-type", content_type)],
        "query_string": b"",
    }
    return Request(scope, receive)


def split(body: bytes, sizes: Sequence[int]) -> list[bytes]:
    """``body`` cut after each of ``sizes`` bytes (the rest in one last chunk)."""
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(body[pos : pos + size])
        pos += size
    chunks.append(body[pos:])
    return chunks


def multipart(body: bytes, sizes: Sequence[int], spool: Path, content_type: bytes) -> Parsed | None:
    """``parse_upload`` on ``body`` streamed in chunks: the errors it documents (and no spooled
    file left), or a result within the limits whose files hash as reported; None on error."""

    async def run() -> ParsedUpload:
        return await parse_upload(_request(content_type, split(body, sizes)), LIMITS, spool)

    try:
        parsed = asyncio.run(run())
    except (InvalidInput, TooLarge):  # RequestTooLarge and TooManyFiles are TooLarge
        assert list(spool.iterdir()) == [], "a failed parse left spooled files"
        return None
    try:
        assert len(parsed.files) <= LIMITS.max_files
        assert sum(map(len, parsed.fields.values())) <= LIMITS.max_fields
        files = []
        for incoming in parsed.files:
            data = incoming.path.read_bytes()
            assert incoming.size == len(data) <= LIMITS.max_file_size
            assert incoming.sha256 == hashlib.sha256(data).hexdigest()
            assert incoming.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
            files.append((incoming.original_name, data))
        for values in parsed.fields.values():
            assert all(len(value.encode()) <= LIMITS.max_field_size for value in values)
    finally:
        parsed.discard()
    assert list(spool.iterdir()) == [], "discard() left spooled files"
    return Parsed(parsed.fields, files)
