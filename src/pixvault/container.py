"""The one place that picks adapters from settings and wires them into the core services."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from pixvault.core.auth import AuthPolicy, AuthService
from pixvault.core.clock import SystemClock
from pixvault.core.images import ImageService, UploadLimits
from pixvault.core.pipeline.service import DerivativeService
from pixvault.core.ports import BlobStore, Clock, ImageProcessor, RateLimiter
from pixvault.core.privacy import StripMode
from pixvault.core.repair.ports import RowRef
from pixvault.core.repair.schedule import RepairSchedule
from pixvault.core.repair.service import Options, RepairService
from pixvault.core.spool_sweep import SpoolClaim
from pixvault.metadata.engine import make_engine
from pixvault.metadata.migrate import current_revision, head_revision, upgrade
from pixvault.metadata.repos import SqlDatabase
from pixvault.processing import ProcessImageProcessor
from pixvault.ratelimit.resilient import build_limiters
from pixvault.settings import Settings, SettingsError
from pixvault.storage.local import LocalBlobStore


def _local_store(settings: Settings, secret: bytes) -> BlobStore:
    return LocalBlobStore(settings.blob_root, secret)


def _s3_store(settings: Settings, secret: bytes) -> BlobStore:
    """``s3://bucket[/prefix]`` plus the S3 settings; ``secret`` is unused (S3 signs with its
    own keys). Unset settings are None: the store falls back to us-east-1 and botocore's
    credential chain (the AWS_* variables are already read by the settings' aliases)."""
    from pixvault.storage.s3 import S3BlobStore  # boto3 is only imported when S3 is used

    parsed = urlsplit(settings.storage_url or "")
    return S3BlobStore(
        bucket=parsed.netloc,
        prefix=parsed.path,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=settings.s3_secret_access_key,
        public_base_url=settings.s3_public_base_url,
        timeout=settings.s3_timeout,
    )


# Storage backends by URL scheme: the only place that knows which adapters exist.
STORES: dict[str, Callable[[Settings, bytes], BlobStore]] = {
    "": _local_store,
    "file": _local_store,
    "s3": _s3_store,
}


def _needs_extra(variable: str, url: str, module: str, extra: str) -> None:
    """Stop start-up with one line when ``url`` needs an optional extra that is not installed."""
    try:
        importlib.import_module(module)
    except ImportError:
        # Only the scheme is shown: the rest of the URL may hold a password.
        scheme = url.partition("://")[0]
        raise SettingsError(
            f"{variable}={scheme}://… needs the {extra} extra: pip install 'pixvault[{extra}]'"
        ) from None


def check_extras(settings: Settings) -> None:
    """Raise ``SettingsError`` if a setting needs an extra (s3, postgres, redis) not installed.

    The embedded default needs none, so each client library is imported only when used.
    """
    storage_url = settings.storage_url or ""
    if urlsplit(storage_url).scheme == "s3":
        _needs_extra("PIXVAULT_STORAGE_URL", storage_url, "boto3", "s3")
    database_url = settings.database_url or ""
    backend, _, driver = database_url.partition("://")[0].partition("+")
    if backend in ("postgres", "postgresql") and driver in ("", "psycopg"):
        _needs_extra("PIXVAULT_DATABASE_URL", database_url, "psycopg", "postgres")
    if settings.redis_url:
        _needs_extra("PIXVAULT_REDIS_URL", settings.redis_url, "redis", "redis")


@dataclass
class Container:
    settings: Settings
    database: SqlDatabase
    blobs: BlobStore
    api_limiter: RateLimiter
    auth_limiter: RateLimiter
    images: ImageService
    auth: AuthService
    spool: SpoolClaim
    derivatives: DerivativeService
    processor: ImageProcessor
    repair: RepairService
    repair_schedule: RepairSchedule | None = None

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
        found.update(self.derivatives.stats())
        return found

    def migrate(self) -> None:
        """Apply pending schema migrations (safe to run from several processes at once)."""
        upgrade(self.settings.resolved_database_url)

    def schema_revisions(self) -> tuple[str | None, str]:
        """(the database's schema revision, the newest this code knows)."""
        return current_revision(self.settings.resolved_database_url), head_revision()

    def ping_rate_limits(self) -> str:
        """Raise ``Unavailable`` unless the shared limiter's Redis answers; say where limits
        are kept."""
        if not self.settings.redis_url:
            if self.settings.resolved_workers > 1:
                self.api_limiter.test("1/second", "check-config")  # the file answers
                return f"shared by this host's {self.settings.resolved_workers} workers (SQLite)"
            return "in-process (single API process only)"
        from pixvault.ratelimit.ping import ping_redis  # the redis extra, checked at build

        ping_redis(self.settings.redis_url)
        return "answers"

    def start_background(self) -> None:
        """Start what a serving process runs besides requests (the scheduled repair pass)."""
        if self.repair_schedule is not None:
            self.repair_schedule.start()

    def close(self) -> None:
        if self.repair_schedule is not None:
            self.repair_schedule.stop()
        # Background renders first (they use the workers, the store and the database).
        self.derivatives.close()
        self.processor.close()
        self.spool.close()
        self.database.close()
        for limiter in {id(x): x for x in (self.api_limiter, self.auth_limiter)}.values():
            close = getattr(limiter, "close", None)
            if callable(close):
                close()


def build_container(settings: Settings, *, clock: Clock | None = None) -> Container:
    check_extras(settings)
    clock = clock or SystemClock()
    secret = settings.resolved_secret_key()
    try:
        engine = make_engine(settings.resolved_database_url)
    except ValueError as exc:
        raise SettingsError(f"invalid setting PIXVAULT_DATABASE_URL: {exc}") from None
    database = SqlDatabase(engine)
    blobs = STORES[urlsplit(settings.storage_url or "").scheme](settings, secret)
    api_limiter, auth_limiter = build_limiters(
        settings.redis_url,
        key_prefix=settings.redis_key_prefix,
        # Several serving processes without Redis: one count per client for all of them.
        host_file=settings.rate_limit_file if settings.resolved_workers > 1 else None,
    )
    # Pillow in worker processes, started on first use (a test app that renders nothing
    # starts none).
    processor = ProcessImageProcessor(
        settings.resolved_derivative_workers, settings.render_time_limit
    )
    derivatives = DerivativeService(
        images=database.image_repo,
        blobs=blobs,
        processor=processor,
        clock=clock,
        url_secret=secret,
        work_dir=settings.spool_dir,
        background_workers=settings.resolved_derivative_workers,
        background=settings.background_derivatives,
    )
    images = ImageService(
        images=database.image_repo,
        users=database.user_repo,
        blobs=blobs,
        clock=clock,
        limits=UploadLimits(
            max_file_size=settings.max_file_size,
            max_files=settings.max_files_per_upload,
            max_pixels=settings.max_pixels,
        ),
        url_secret=secret,
        derivatives=derivatives,
        strip=StripMode(settings.strip_metadata),
    )
    auth = AuthService(
        users=database.user_repo,
        tokens=database.token_repo,
        limiter=auth_limiter,
        clock=clock,
        policy=AuthPolicy(
            allow_registration=settings.allow_registration,
            default_quota=settings.default_quota,
            token_ttl=settings.token_ttl,
            auth_rate_limit=settings.auth_rate_limit,
            auth_failure_limit=settings.auth_failure_limit,
        ),
    )

    def remake(refs: Sequence[RowRef]) -> None:
        rows = (database.image_repo.get(ref.owner_id, ref.id) for ref in refs)
        derivatives.remake([row for row in rows if row is not None])

    repair = RepairService(repo=database.repair_repo, blobs=blobs, clock=clock, remake=remake)
    schedule = None
    if settings.repair_interval:
        schedule = RepairSchedule(
            service=repair,
            repo=database.repair_repo,
            clock=clock,
            interval=settings.repair_interval,
            options=Options(
                repair=True,
                grace=timedelta(seconds=settings.repair_grace),
                derivatives=settings.background_derivatives,
            ),
        )
    # Last, once nothing else can fail: what a killed process left in the spool goes now.
    spool = SpoolClaim(settings.spool_dir)
    return Container(
        settings,
        database,
        blobs,
        api_limiter,
        auth_limiter,
        images,
        auth,
        spool,
        derivatives=derivatives,
        processor=processor,
        repair=repair,
        repair_schedule=schedule,
    )
