"""The one place that picks adapters from settings and wires them into the core services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pixvault.core.auth import AuthPolicy, AuthService
from pixvault.core.clock import SystemClock
from pixvault.core.images import ImageService, UploadLimits
from pixvault.core.ports import BlobStore, Clock, RateLimiter
from pixvault.metadata.engine import make_engine
from pixvault.metadata.repos import SqlDatabase
from pixvault.ratelimit.resilient import build_limiters
from pixvault.settings import Settings
from pixvault.storage.local import LocalBlobStore


def _local_store(settings: Settings, secret: bytes) -> BlobStore:
    return LocalBlobStore(settings.blob_root, secret)


def _s3_store(settings: Settings, secret: bytes) -> BlobStore:
    from pixvault.storage.s3 import S3BlobStore  # boto3 is only imported when S3 is used

    return S3BlobStore.from_settings(settings, secret)


# Storage backends by URL scheme: the only place that knows which adapters exist.
STORES: dict[str, Callable[[Settings, bytes], BlobStore]] = {
    "": _local_store,
    "file": _local_store,
    "s3": _s3_store,
}


@dataclass
class Container:
    settings: Settings
    database: SqlDatabase
    blobs: BlobStore
    api_limiter: RateLimiter
    auth_limiter: RateLimiter
    images: ImageService
    auth: AuthService

    def check_ready(self) -> None:
        """Raise ``Unavailable`` unless the database and the blob store both answer."""
        self.database.ping()
        self.blobs.ping()

    def metrics(self) -> dict[str, int]:
        """Counters worth alerting on, e.g. requests served without a shared rate limit."""
        found: dict[str, int] = {}
        for limiter in (self.api_limiter, self.auth_limiter):
            stats = getattr(limiter, "stats", None)
            if callable(stats):
                found.update(stats())
        return found

    def close(self) -> None:
        self.database.close()


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    secret = settings.resolved_secret_key()
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    database = SqlDatabase(make_engine(settings.resolved_database_url))
    blobs = STORES[urlsplit(settings.storage_url).scheme](settings, secret)
    api_limiter, auth_limiter = build_limiters(
        settings.redis_url, key_prefix=settings.redis_key_prefix
    )
    images = ImageService(
        images=database.images,
        users=database.users,
        blobs=blobs,
        clock=clock,
        limits=UploadLimits(
            max_file_size=settings.max_file_size,
            max_files=settings.max_files_per_upload,
            max_pixels=settings.max_pixels,
        ),
        url_secret=secret,
    )
    auth = AuthService(
        users=database.users,
        tokens=database.tokens,
        limiter=auth_limiter,
        clock=clock,
        policy=AuthPolicy(
            allow_registration=settings.allow_registration,
            default_quota=settings.default_quota,
            token_ttl=settings.token_ttl,
            auth_rate_limit=settings.auth_rate_limit,
        ),
    )
    return Container(settings, database, blobs, api_limiter, auth_limiter, images, auth)
