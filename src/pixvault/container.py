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
from pixvault.ratelimit.limiter import LimitsRateLimiter
from pixvault.settings import Settings
from pixvault.storage.local import LocalBlobStore


def _local_store(settings: Settings, secret: bytes) -> BlobStore:
    return LocalBlobStore(settings.blob_root, secret)


# Storage backends by URL scheme; S3 joins this table, nothing else changes.
STORES: dict[str, Callable[[Settings, bytes], BlobStore]] = {"file": _local_store, "": _local_store}


@dataclass
class Container:
    settings: Settings
    database: SqlDatabase
    blobs: BlobStore
    limiter: RateLimiter
    images: ImageService
    auth: AuthService

    def check_ready(self) -> None:
        """Raise ``Unavailable`` unless the database and the blob store both answer."""
        self.database.ping()
        self.blobs.ping()

    def close(self) -> None:
        self.database.close()


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    secret = settings.resolved_secret_key()
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    database = SqlDatabase(make_engine(settings.resolved_database_url))
    blobs = STORES[urlsplit(settings.storage_url).scheme](settings, secret)
    limiter = LimitsRateLimiter("memory://")
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
        limiter=limiter,
        clock=clock,
        policy=AuthPolicy(
            allow_registration=settings.allow_registration,
            default_quota=settings.default_quota,
            token_ttl=settings.token_ttl,
            auth_rate_limit=settings.auth_rate_limit,
        ),
    )
    return Container(settings, database, blobs, limiter, images, auth)
