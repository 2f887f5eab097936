"""Shared fixtures: a real SQLite file and local disk behind the real ASGI app."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from pixvault.container import Container, build_container
from pixvault.core.models import ImageQuery
from pixvault.metadata.migrate import upgrade
from pixvault.settings import Settings
from pixvault.web.app import create_app

pytest_plugins = ["tests.services.postgres", "tests.services.seaweed", "tests.services.redis"]

PASSWORD = "correct horse battery"
TEST_SECRET = "test-secret-key-0123456789abcdefghijklmnop"  # >= 32 bytes, as the app requires
_emails = itertools.count(1)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "secret_key": TEST_SECRET,
        "rate_limit": "100000/hour",
        "auth_rate_limit": "100000/minute",
        # An app under TestClient is one process: in-process limits, unless a test asks.
        "workers": 1,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Api:
    """The app under test plus handles to look behind it (for the 'nothing stored' oracle)."""

    client: TestClient
    container: Container
    settings: Settings

    def signup(self, email: str | None = None, password: str = PASSWORD) -> dict[str, str]:
        email = email or f"user{next(_emails)}@example.com"
        r = self.client.post("/api/auth/register", json={"email": email, "password": password})
        assert r.status_code == 201, r.text
        r = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['accessToken']}"}

    def fetch(self, url: str, **kwargs: Any) -> httpx2.Response:
        """GET a signed URL: the app's own links through the test client, store links for real."""
        if url.startswith(str(self.client.base_url)):
            return self.client.get(url, **kwargs)
        return httpx2.get(url, timeout=30, **kwargs)

    def user_id(self, headers: dict[str, str]) -> str:
        return str(self.client.get("/api/auth/me", headers=headers).json()["user"]["id"])

    def upload(self, headers: dict[str, str], *files: tuple[str, bytes], **fields: str) -> Any:
        parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
        return self.client.post(
            "/api/images/upload", headers=headers, files=parts, data=fields or None
        )

    @contextmanager
    def image_rows_cannot_be_written(self) -> Iterator[None]:
        """Make the metadata commit of an upload fail: a fault a real database cannot be made
        to produce on cue, after the bytes are already in the store."""
        repo = self.container.database.image_repo
        original = repo.add_many

        def failing(images: object, *, reservation: str | None = None) -> None:
            raise RuntimeError("database write failed")

        repo.add_many = failing  # type: ignore[method-assign]
        try:
            yield
        finally:
            repo.add_many = original  # type: ignore[method-assign]

    def state(self, headers: dict[str, str]) -> tuple[frozenset[str], int, int, list[str]]:
        """(blob keys, image rows, quota used, spool files) for one user."""
        # Background thumbnails write to the store and the spool: let them finish first.
        assert self.container.derivatives.wait_idle(timeout=60)
        uid = self.user_id(headers)
        repo = self.container.database
        rows = repo.image_repo.list(uid, ImageQuery(page=1, limit=1)).total
        user = repo.user_repo.get(uid)
        assert user is not None
        spool = sorted(p.name for p in self.settings.spool_dir.iterdir())
        return frozenset(self.container.blobs.iter_keys()), rows, user.quota_used, spool


def build_api(data_dir: Path, **overrides: Any) -> Iterator[Api]:
    settings = make_settings(data_dir, **overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    container = build_container(settings)
    app = create_app(settings, container)
    # A real peer address (so trusted-proxy rules apply) and 500s as responses, not exceptions.
    with TestClient(
        app,
        base_url="http://testserver",
        client=("127.0.0.1", 50000),
        raise_server_exceptions=False,
    ) as client:
        yield Api(client, container, settings)


STACKS = ["embedded", "production"]


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    """The API suite runs twice: SQLite + disk + memory, and PostgreSQL + SeaweedFS + Redis."""
    return str(request.param)


def backend_overrides(request: pytest.FixtureRequest, stack: str) -> dict[str, Any]:
    """Settings that point an app at the production stack, isolated for one test."""
    if stack == "embedded":
        return {}
    pg_url = request.getfixturevalue("postgres_url")
    request.getfixturevalue("pg_clean")
    s3 = request.getfixturevalue("seaweed")
    redis_url = request.getfixturevalue("redis_url")
    prefix = f"t{next(_emails)}-{uuid.uuid4().hex[:8]}"
    return {
        "database_url": pg_url,
        "storage_url": f"s3://{s3.bucket}/{prefix}",
        "s3_endpoint_url": s3.endpoint_url,
        "s3_access_key_id": s3.access_key,
        "s3_secret_access_key": s3.secret_key,
        "s3_region": s3.region,
        "redis_url": redis_url,
        "redis_key_prefix": prefix,
    }


@pytest.fixture
def api(request: pytest.FixtureRequest, stack: str, tmp_path: Path) -> Iterator[Api]:
    yield from build_api(tmp_path / "data", **backend_overrides(request, stack))


@pytest.fixture
def local_api(tmp_path: Path) -> Iterator[Api]:
    """Embedded stack only: for behaviour of the app's own /files links and local disk."""
    yield from build_api(tmp_path / "data")


@pytest.fixture
def api_factory(request: pytest.FixtureRequest, stack: str, tmp_path: Path) -> Iterator[Any]:
    """Build an app with non-default settings, e.g. ``api_factory(max_file_size=1000)``."""
    made: list[Iterator[Api]] = []

    def factory(**overrides: Any) -> Api:
        values = {**backend_overrides(request, stack), **overrides}
        gen = build_api(tmp_path / f"app{len(made)}", **values)
        made.append(gen)
        return next(gen)

    yield factory
    for gen in made:
        for _ in gen:
            pass
