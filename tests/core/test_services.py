"""Core services over a fresh SQLite file and in-memory bytes: the rules without the web."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pixvault.core import errors, keys
from pixvault.core.auth import AuthPolicy, AuthService, token_hash
from pixvault.core.images import DEFAULT_URL_TTL, VIEW_LINK_STEP, ImageService, UploadLimits
from pixvault.core.models import (
    ImageQuery,
    IncomingFile,
    Purpose,
    SignedUrl,
    UploadOptions,
    User,
)
from pixvault.core.spool import Spool
from pixvault.core.token_cache import TOKEN_CACHE_SECONDS
from pixvault.metadata.engine import make_engine
from pixvault.metadata.repos import SqlDatabase
from pixvault.metadata.schema import metadata
from pixvault.ratelimit.limiter import LimitsRateLimiter
from pixvault.storage.local import LocalBlobStore
from tests.doubles.blobstore import MemoryBlobStore
from tests.imagegen import make_image


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


class World:
    def __init__(self, tmp: Path, quota: int = 10**9, blobs: object | None = None) -> None:
        # A file, not ":memory:": the tests use threads, and each needs its own connection.
        engine = make_engine(f"sqlite:///{tmp / 'pixvault.sqlite3'}")
        metadata.create_all(engine)
        self.db = SqlDatabase(engine)
        self.blobs = blobs or MemoryBlobStore()
        self.clock = FakeClock()
        self.tmp = tmp
        self.auth = AuthService(
            users=self.db.user_repo,
            tokens=self.db.token_repo,
            limiter=LimitsRateLimiter(),
            clock=self.clock,
            policy=AuthPolicy(
                allow_registration=True,
                default_quota=quota,
                token_ttl=3600,
                auth_rate_limit="1000/minute",
            ),
        )
        self.images = ImageService(
            images=self.db.image_repo,
            users=self.db.user_repo,
            blobs=self.blobs,  # type: ignore[arg-type]
            clock=self.clock,
            limits=UploadLimits(max_file_size=10**7, max_files=5, max_pixels=10**7),
            url_secret=b"k",
        )
        self._n = 0

    def user(self) -> User:
        self._n += 1
        return self.auth.create_user(f"u{self._n}@example.com", "password123")

    def incoming(self, data: bytes, name: str = "x.png") -> IncomingFile:
        spool = Spool(self.tmp, name, 10**8)
        spool.write(data)
        return spool.finish()

    def used(self, user: User) -> int:
        found = self.db.user_repo.get(user.id)
        assert found is not None
        return found.quota_used


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_upload_then_list_newest_first(world: World) -> None:
    u = world.user()
    files = [world.incoming(make_image("PNG", (5 + i, 5)), f"{i}.png") for i in range(3)]
    stored = world.images.upload(u, files, UploadOptions(tags=("a",)))
    assert [s.image.width for s in stored] == [5, 6, 7]
    page = world.images.list(u, ImageQuery())
    assert [s.image.id for s in page.items] == [s.image.id for s in reversed(stored)]
    assert world.used(u) == sum(f.size for f in files)


def test_blob_failure_midway_undoes_everything(world: World) -> None:
    u = world.user()
    blobs = world.blobs
    assert isinstance(blobs, MemoryBlobStore)
    files = [world.incoming(make_image("PNG")), world.incoming(make_image("GIF"))]
    original_put = blobs.put
    calls = 0

    def flaky(*args: object, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("disk full")
        original_put(*args, **kwargs)  # type: ignore[arg-type]

    blobs.put = flaky  # type: ignore[method-assign]
    with pytest.raises(OSError, match="disk full"):
        world.images.upload(u, files, UploadOptions())
    assert list(blobs.iter_keys()) == []
    assert world.used(u) == 0
    assert world.images.list(u, ImageQuery()).total == 0


def test_parallel_uploads_never_overrun_quota(tmp_path: Path) -> None:
    data = make_image("PNG", (20, 20))
    world = World(tmp_path, quota=len(data) * 5 + 3)
    u = world.user()
    results: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            world.images.upload(u, [world.incoming(data)], UploadOptions())
            outcome = "ok"
        except errors.QuotaExceeded:
            outcome = "quota"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 5 and results.count("quota") == 11
    assert (
        world.used(u)
        == 5 * len(data)
        == sum(s.image.size for s in world.images.list(u, ImageQuery(limit=100)).items)
    )


def test_signed_link_verification(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs", b"k")
    world = World(tmp_path, blobs=store)
    u = world.user()
    (img,) = world.images.upload(u, [world.incoming(make_image("PNG"))], UploadOptions())
    url = world.images.presign(u, img.image.id, Purpose.DOWNLOAD, 60, "1.2.3.4")
    query = dict(p.split("=") for p in url.url.split("?")[1].split("&"))
    key = img.image.storage_key
    found = world.images.download(key, query["exp"], query["disp"], query["sig"])
    assert found.disposition == "attachment" and found.max_age == 60
    world.clock.current += timedelta(seconds=61)
    with pytest.raises(errors.BadSignature):
        world.images.download(key, query["exp"], query["disp"], query["sig"])
    log = world.images.access_log(u, img.image.id, 1, 10)
    assert [(e.purpose, e.ip) for e in log.items] == [(Purpose.DOWNLOAD, "1.2.3.4")]


def test_tokens_expire_and_revoke(world: World) -> None:
    world.user()
    session = world.auth.login("u1@example.com", "password123", "ip")
    assert world.auth.authenticate(session.token).email == "u1@example.com"
    world.auth.logout(session.token)
    with pytest.raises(errors.Unauthenticated):
        world.auth.authenticate(session.token)
    session = world.auth.login("u1@example.com", "password123", "ip")
    world.clock.current += timedelta(seconds=3601)
    with pytest.raises(errors.Unauthenticated):
        world.auth.authenticate(session.token)


def test_gallery_links_stay_the_same_within_a_step_so_browsers_reuse_them(world: World) -> None:
    """Pages shown within one VIEW_LINK_STEP carry identical links (the browser's cache keys);
    they live at least DEFAULT_URL_TTL and change once the step is over."""
    u = world.user()
    world.images.upload(u, [world.incoming(make_image("PNG", (4, 4)))], UploadOptions())
    world.clock.current = datetime(2026, 1, 1, 12, 0, 1, tzinfo=UTC)

    def link() -> SignedUrl:
        return world.images.list(u, ImageQuery()).items[0].url

    first = link()
    assert first.expires_at == datetime(2026, 1, 1, 13, 5, tzinfo=UTC)  # 3600 s, rounded up
    world.clock.current += timedelta(seconds=VIEW_LINK_STEP - 2)
    assert link() == first
    assert world.images.get(u, world.images.list(u, ImageQuery()).items[0].image.id).url == first
    world.clock.current += timedelta(seconds=2)
    later = link()
    assert later.url != first.url
    assert later.expires_at - world.clock.current >= timedelta(seconds=DEFAULT_URL_TTL)


def test_a_token_revoked_elsewhere_works_here_for_at_most_the_cache_window(world: World) -> None:
    """Lookups are remembered TOKEN_CACHE_SECONDS: a sign-out through another process (here:
    the repo directly) takes effect within that window; one through this process at once."""
    world.user()
    session = world.auth.login("u1@example.com", "password123", "ip")
    user = world.auth.authenticate(session.token)
    world.db.token_repo.revoke(token_hash(session.token))  # as another process would
    world.clock.current += timedelta(seconds=TOKEN_CACHE_SECONDS - 1)
    assert world.auth.authenticate(session.token) == user  # still remembered
    world.clock.current += timedelta(seconds=1)
    with pytest.raises(errors.Unauthenticated):
        world.auth.authenticate(session.token)
    # A clock that goes back does not make an entry live longer.
    session = world.auth.login("u1@example.com", "password123", "ip")
    world.auth.authenticate(session.token)
    world.db.token_repo.revoke(token_hash(session.token))
    world.clock.current -= timedelta(hours=1)
    with pytest.raises(errors.Unauthenticated):
        world.auth.authenticate(session.token)


def test_the_account_is_read_fresh_though_the_token_is_remembered(world: World) -> None:
    u = world.user()
    session = world.auth.login("u1@example.com", "password123", "ip")
    cached = world.auth.authenticate(session.token)
    world.images.upload(u, [world.incoming(make_image("PNG", (4, 4)))], UploadOptions())
    assert world.auth.authenticate(session.token).quota_used == cached.quota_used == 0
    assert world.auth.account(cached).quota_used > 0


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda w, u: w.images.get(u, "not-an-id"), errors.NotFound),
        (lambda w, u: w.images.delete(u, keys.new_id()), errors.NotFound),
        (lambda w, u: w.images.list(u, ImageQuery(limit=101)), errors.InvalidInput),
        (lambda w, u: w.images.upload(u, [], UploadOptions()), errors.InvalidInput),
    ],
)
def test_error_paths(world: World, call: Callable[[World, User], object], exc: type) -> None:
    with pytest.raises(exc):
        call(world, world.user())
