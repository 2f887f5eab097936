"""Blobs in any S3-compatible store (AWS, R2, MinIO, Ceph, SeaweedFS); links go straight to it.

botocore stays inside this module: its errors leave as ``Unavailable`` (or ``OSError`` for a
source of the wrong length, as with the local store). The container builds the store from plain
arguments; this module knows nothing of the settings.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from pixvault.core import keys
from pixvault.core.errors import NotFound, Unavailable
from pixvault.core.names import content_disposition
from pixvault.storage.sigv4 import (
    MAX_EXPIRES,
    QueryPresigner,
    SigningCredentials,
    bucket_url,
    uri_encode,
    virtual_hostable,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_SIZE = 8 * 1024 * 1024  # above this a put is a multipart upload of parts this big
MAX_CONCURRENCY = 4  # parts in flight per put; with 8 concurrent uploads that is 32 connections
_SIGN_STEP = 60  # links signed within the same minute are identical (browser caches reuse them)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_UNAVAILABLE = "Blob store unavailable"
_encoded_type = functools.lru_cache(maxsize=64)(uri_encode)
"""``response-content-type`` encoded, for presigning: a store sees a handful of MIME types."""
# s3transfer reads each part from the file when it is sent (memory stays near one part per
# thread) and aborts a failed multipart upload itself. "classic": the CRT client, when
# installed, would size its own buffers and concurrency.
_TRANSFER = TransferConfig(
    multipart_threshold=PART_SIZE,
    multipart_chunksize=PART_SIZE,  # raised by s3transfer when a file needs > 10,000 parts
    max_concurrency=MAX_CONCURRENCY,
    use_threads=True,
    preferred_transfer_client="classic",
)


def _translate(exc: Exception) -> Exception:
    """The port's error for a botocore one: callers never see the SDK's exception types."""
    # Refused connections, timeouts, 5xx, throttling, bad credentials, a missing bucket: the
    # store cannot serve us, whatever the detail (kept on the chained exception for the logs).
    return Unavailable(_UNAVAILABLE)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    """The BlobStore port on one bucket, every key under ``prefix``. ``max_attempts`` bounds
    botocore's retries (standard mode, with backoff) per call; tests use 1 to fail fast.
    ``timeout`` bounds each attempt's wait for the store (connecting, and then each read), so
    a store that hangs fails a request in about ``max_attempts × timeout`` seconds.

    Without ``endpoint_url`` this is AWS in ``region``'s partition (``cn-north-1`` is on
    ``amazonaws.com.cn``); unset keys mean botocore's credential chain (env, profile, role).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        public_base_url: str | None = None,
        *,
        max_attempts: int = 3,
        timeout: float = 10.0,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        self.region = region or "us-east-1"
        self._public_base_url = (public_base_url or "").rstrip("/")
        self._session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=self.region,
        )
        # One addressing decision for uploads and links. "virtual" (not "auto", which presigns
        # on the legacy global s3.amazonaws.com host) keeps AWS links on the regional endpoint.
        # Custom endpoints (MinIO, SeaweedFS, Ceph) rarely resolve bucket subdomains: path-style.
        virtual = not endpoint_url and virtual_hostable(bucket)
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "virtual" if virtual else "path"},
            connect_timeout=min(timeout, 5.0),
            read_timeout=timeout,
            retries={"mode": "standard", "max_attempts": max_attempts},
            max_pool_connections=32,
            # botocore >= 1.36 adds CRC checksums to every upload by default, which several
            # S3-compatible stores reject; send them only where the API requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Only our endpoint setting decides where bytes go (not AWS_ENDPOINT_URL_S3 or a
            # profile), so the links below are computed for the host uploads really use.
            ignore_configured_endpoint_urls=True,  # type: ignore[call-arg]  # (not in the stubs)
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
        self._expiry = (0, uri_encode(formatdate(0, usegmt=True)))
        self._origin, self._base_path, self._host = bucket_url(
            self._client.meta.endpoint_url, bucket, virtual=virtual
        )

    def _name(self, key: str) -> str:
        # Keys are made by core.keys; anything else is a bug or tampering (same rule as local).
        if not keys.is_blob_key(key):
            raise ValueError(f"refusing storage key {key!r}")
        return self.prefix + key

    # --- bytes --------------------------------------------------------------------------------

    def put(self, key: str, path: Path, *, size: int, content_type: str) -> None:
        """One PUT, or a multipart upload above ``PART_SIZE``: S3 makes an object visible only
        when the PUT or CompleteMultipartUpload succeeds, so readers never see a torn blob.
        The source file is left in place (the caller deletes it).

        ``upload_file``, not ``upload_fileobj``: given a path, s3transfer reads each part from
        the file as it is sent; given a file object it copies every part into memory.
        """
        name = self._name(key)
        found = os.stat(path).st_size
        if found != size:
            raise OSError(f"expected {size} bytes for {key}, read {found}")
        if size <= PART_SIZE:
            self._put_one(name, path, size, content_type)
            return
        try:
            self._client.upload_file(
                str(path),
                self.bucket,
                name,
                ExtraArgs={"ContentType": content_type},
                Config=_TRANSFER,
            )
        except (BotoCoreError, ClientError, S3UploadFailedError) as exc:
            # boto3 wraps a ClientError of any upload call in S3UploadFailedError.
            raise _translate(exc) from exc

    def _put_one(self, name: str, path: Path, size: int, content_type: str) -> None:
        """One PutObject streamed from the file: ``upload_file`` starts (and stops) a transfer
        manager and its threads for every upload, ~4 ms of CPU per 1.8 MB upload in issue 10's
        measurements. botocore rewinds the file if it retries."""
        try:
            with path.open("rb") as body:
                self._client.put_object(
                    Bucket=self.bucket,
                    Key=name,
                    Body=body,
                    ContentLength=size,
                    ContentType=content_type,
                )
        except (BotoCoreError, ClientError) as exc:
            raise _translate(exc) from exc

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

    def download_to(self, key: str, dest: Path) -> None:
        """Copy the object to ``dest`` (for the image workers, which read local files)."""
        name = self._name(key)
        try:
            self._client.download_file(self.bucket, name, str(dest), Config=_TRANSFER)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                raise NotFound("Image not found") from None
            raise _translate(exc) from exc
        except BotoCoreError as exc:
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

        Pure computation (see ``sigv4``). The store answers with our Content-Type,
        Content-Disposition and caching headers, taken from the signed ``response-*``
        parameters: ``private`` (no shared cache keeps a private image) and an ``Expires`` at
        the link's own expiry, so no cache keeps the bytes past the link (the same rule as the
        app's ``/files`` links). S3 has no override for ``nosniff``; docs/deployment.md says
        how a proxy in front of the store adds it.
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
        query = self._presigner.encoded_query(
            host=self._host,
            path=self._base_path + path,
            params=(
                ("response-cache-control", "private"),
                (
                    "response-content-disposition",
                    uri_encode(content_disposition(disposition, filename)),
                ),
                ("response-content-type", _encoded_type(content_type)),
                ("response-expires", self._encoded_expiry(exp)),
            ),
            credentials=self._signing_credentials(),
            signed_at=signed_at,
            expires_in=exp - signed_at,
        )
        return f"{self._origin}{self._base_path}{path}?{query}"

    def _encoded_expiry(self, exp: int) -> str:
        """``response-expires`` (an HTTP date, encoded) for ``exp``; the last one is kept, as
        the links of one page share their expiry."""
        last_exp, encoded = self._expiry  # one read: another thread may replace the pair
        if last_exp != exp:
            encoded = uri_encode(formatdate(exp, usegmt=True))
            self._expiry = (exp, encoded)
        return encoded

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
