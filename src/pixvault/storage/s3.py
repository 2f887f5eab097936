"""Blobs in any S3-compatible store (AWS, R2, MinIO, Ceph, SeaweedFS); links go straight to it.

botocore stays inside this module: its errors leave as ``Unavailable`` (or ``OSError`` for a
source of the wrong length, as with the local store).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pixvault.core import keys
from pixvault.core.errors import Unavailable
from pixvault.core.names import content_disposition
from pixvault.settings import Settings
from pixvault.storage.sigv4 import (
    MAX_EXPIRES,
    QueryPresigner,
    SigningCredentials,
    bucket_url,
    uri_encode,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

PART_SIZE = 8 * 1024 * 1024  # above this a put is a multipart upload of parts this big
_MAX_PARTS = 10_000  # S3's limit; bigger files get bigger parts
_SIGN_STEP = 60  # links signed within the same minute are identical (browser caches reuse them)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_UNAVAILABLE = "Blob store unavailable"


def _translate(exc: BotoCoreError | ClientError) -> Exception:
    """The port's error for a botocore one: callers never see the SDK's exception types.

    (No port method reads bytes back, so a missing key is never ``BlobNotFound`` here:
    ``exists`` answers False and ``delete`` ignores it.)
    """
    # Refused connections, timeouts, 5xx, throttling, bad credentials, a missing bucket: the
    # store cannot serve us, whatever the detail (kept on the chained exception for the logs).
    return Unavailable(_UNAVAILABLE)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """The BlobStore port on one bucket, every key under ``prefix``. ``max_attempts`` bounds
    botocore's retries (standard mode, with backoff) per call; tests use 1 to fail fast."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_base_url: str = "",
        *,
        max_attempts: int = 3,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.region = region or "us-east-1"
        self._public_base_url = public_base_url.rstrip("/")
        self._session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=self.region,
        )
        config = Config(
            signature_version="s3v4",
            # Custom endpoints (MinIO, SeaweedFS, Ceph) rarely resolve bucket subdomains.
            s3={"addressing_style": "path" if endpoint_url else "auto"},
            connect_timeout=5,
            read_timeout=30,
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=32,
            # botocore >= 1.36 adds CRC checksums to every upload by default, which several
            # S3-compatible stores reject; send them only where the API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._client: S3Client = self._session.client(
            "s3", endpoint_url=endpoint_url or None, config=config
        )
        self._static = (
            SigningCredentials(access_key_id, secret_access_key)
            if access_key_id and secret_access_key
            else None
        )
        self._presigner = QueryPresigner(region=self.region)
        self._origin, self._base_path, self._host = bucket_url(endpoint_url, bucket, self.region)

    @classmethod
    def from_settings(cls, settings: Settings, secret: bytes) -> S3BlobStore:
        """``secret`` is unused (S3 signs with its own keys); it matches the store registry."""
        parsed = urlsplit(settings.storage_url)
        access_key, secret_key, region = settings.s3_credentials
        return cls(
            bucket=parsed.netloc,
            prefix=parsed.path,
            endpoint_url=settings.s3_endpoint_url or None,
            region=region or "us-east-1",
            access_key_id=access_key,
            secret_access_key=secret_key,
            public_base_url=settings.s3_public_base_url,
        )

    def _name(self, key: str) -> str:
        # Keys are made by core.keys; anything else is a bug or tampering (same rule as local).
        if not keys.is_storage_key(key):
            raise ValueError(f"refusing storage key {key!r}")
        return self.prefix + key

    # --- bytes --------------------------------------------------------------------------------

    def put(self, key: str, src: BinaryIO, *, size: int, content_type: str) -> None:
        """One PUT, or a multipart upload above ``PART_SIZE``: S3 makes an object visible only
        when the PUT or CompleteMultipartUpload succeeds, so readers never see a torn blob.

        Not ``upload_fileobj``: s3transfer copies every part of an open file into memory
        (8 MiB each, up to ten at a time); here parts are windows on the caller's file.
        """
        name = self._name(key)
        if size < 0:
            raise ValueError("size must not be negative")
        source = _Source(src, size, key)
        try:
            if size <= PART_SIZE:
                self._put_single(name, source, content_type)
            else:
                self._put_multipart(name, source, content_type)
        except (BotoCoreError, ClientError) as exc:
            if source.error is not None:  # our own short read, wrapped by botocore on the way
                raise source.error from exc
            raise _translate(exc) from exc

    def _put_single(self, name: str, source: _Source, content_type: str) -> None:
        ((body, length),) = source.parts(max(source.size, 1))
        if not source.seekable:
            source.check_end()  # already in memory: refuse before anything is stored
        self._client.put_object(
            Bucket=self.bucket,
            Key=name,
            Body=cast("IO[bytes]", body),  # a file-like view; see _Window
            ContentLength=length,
            ContentType=content_type,
        )
        if source.seekable:
            try:
                source.check_end()
            except OSError:
                self._client.delete_object(Bucket=self.bucket, Key=name)  # it grew meanwhile
                raise

    def _put_multipart(self, name: str, source: _Source, content_type: str) -> None:
        part_size = max(PART_SIZE, -(-source.size // _MAX_PARTS))
        upload_id = self._client.create_multipart_upload(
            Bucket=self.bucket, Key=name, ContentType=content_type
        )["UploadId"]
        try:
            done: list[CompletedPartTypeDef] = []
            for number, (body, length) in enumerate(source.parts(part_size), start=1):
                etag = self._client.upload_part(
                    Bucket=self.bucket,
                    Key=name,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=cast("IO[bytes]", body),  # a file-like view; see _Window
                    ContentLength=length,
                )["ETag"]
                done.append({"ETag": etag, "PartNumber": number})
            source.check_end()
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            # Parts of an unfinished upload are invisible but kept (and billed) until aborted;
            # if even the abort fails, the bucket's lifecycle rule for stale uploads cleans up.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=name, UploadId=upload_id
                )
            raise

    def delete(self, key: str) -> None:
        name = self._name(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) not in _NOT_FOUND:
                raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise _translate(exc) from exc

    def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            self._client.head_object(Bucket=self.bucket, Key=name)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return False
            raise _translate(exc) from exc
        except BotoCoreError as exc:
            raise _translate(exc) from exc
        return True

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        strip = len(self.prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][strip:]
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc

    def local_path(self, key: str) -> Path | None:
        self._name(key)
        return None

    def ping(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc

    # --- links --------------------------------------------------------------------------------

    def presign(
        self,
        key: str,
        *,
        expires_at: datetime,
        content_type: str,
        disposition: str,
        filename: str,
        public: bool = False,
    ) -> str:
        """A SigV4 presigned GET on the store itself, so the bytes never pass through the app.

        Pure computation (see ``sigv4``). The store answers with our Content-Type and
        Content-Disposition, taken from the signed ``response-*`` parameters.
        """
        path = uri_encode(self._name(key), keep_slash=True)
        if disposition not in ("inline", "attachment"):
            raise ValueError(f"unknown disposition {disposition!r}")
        if public and self._public_base_url and disposition == "inline":
            return f"{self._public_base_url}/{path}"
        now = int(time.time())
        exp = int(expires_at.timestamp())
        # Sign as of the start of the minute (identical links, cacheable) unless that would cut
        # a 7-day link short: the link must still expire exactly at ``expires_at``.
        signed_at = min(now, max(now - now % _SIGN_STEP, exp - MAX_EXPIRES))
        query = self._presigner.query(
            host=self._host,
            path=self._base_path + path,
            params={
                "response-content-disposition": content_disposition(disposition, filename),
                "response-content-type": content_type,
            },
            credentials=self._signing_credentials(),
            signed_at=signed_at,
            expires_in=exp - signed_at,
        )
        return f"{self._origin}{self._base_path}{path}?{query}"

    def _signing_credentials(self) -> SigningCredentials:
        if self._static is not None:
            return self._static
        # No keys in the settings: botocore's chain (env, profile, instance role). Resolved
        # once and cached by the session; frozen copies refresh only when they near expiry.
        found = self._session.get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise Unavailable("Blob store has no credentials")
        return SigningCredentials(frozen.access_key, frozen.secret_key, frozen.token)


class _Source:
    """Exactly ``size`` bytes of the caller's stream, counted: a short or long source is an
    ``OSError`` (the port's contract), never a truncated or padded object."""

    def __init__(self, src: BinaryIO, size: int, key: str) -> None:
        self.src, self.size, self.key = src, size, key
        self.error: OSError | None = None
        self.start = _position(src)
        self.seekable = self.start is not None
        self._cursor = self.start
        if self.start is not None:
            # Cheap up-front check: a seekable source of the wrong length fails before any I/O.
            end = src.seek(0, os.SEEK_END)
            src.seek(self.start)
            if end - self.start != size:
                raise self.fail(end - self.start)

    def fail(self, got: int | str) -> OSError:
        self.error = OSError(f"expected {self.size} bytes for {self.key}, read {got}")
        return self.error

    def parts(self, part_size: int) -> Iterator[tuple[_Window | io.BytesIO, int]]:
        """Bodies of at most ``part_size`` bytes, in order. Seekable sources give windows on
        the file; others are read one part at a time (memory stays one part)."""
        for offset in range(0, max(self.size, 1), part_size):
            length = min(part_size, self.size - offset)
            if self.seekable:
                yield _Window(self, offset, length), length
            else:
                yield io.BytesIO(self.read_at(offset, length)), length

    def read_at(self, offset: int, n: int) -> bytes:
        if self.start is not None and self._cursor != self.start + offset:
            self.src.seek(self.start + offset)
        chunks, got = [], 0
        while got < n:
            chunk = self.src.read(n - got)
            if not chunk:
                raise self.fail(offset + got)
            chunks.append(chunk)
            got += len(chunk)
        if self.start is not None:
            self._cursor = self.start + offset + n
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def check_end(self) -> None:
        """The source must end right after ``size`` bytes."""
        if self.start is not None:
            self.src.seek(self.start + self.size)
            self._cursor = None
        if self.src.read(1):
            raise self.fail(f"more than {self.size}")


class _Window:
    """A seekable view of ``length`` bytes of the source from ``offset``. botocore reads a
    body twice (payload hash, then send) and rewinds it to retry; a view lets it do so on the
    caller's file instead of an in-memory copy of the part."""

    def __init__(self, source: _Source, offset: int, length: int) -> None:
        self._source, self._offset, self._length = source, offset, length
        self._pos = 0

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._length}[whence]
        self._pos = min(max(base + pos, 0), self._length)
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        left = self._length - self._pos
        want = left if n is None or n < 0 else min(n, left)
        if want <= 0:
            return b""
        data = self._source.read_at(self._offset + self._pos, want)
        self._pos += want
        return data


def _position(src: BinaryIO) -> int | None:
    """Where a seekable stream is now; None for pipes and other one-way streams."""
    try:
        return src.tell() if src.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None
