"""Shared fixtures: a real SQLite file and local disk behind the real ASGI app."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from pixvault.container import Container, build_container
from pixvault.core.models import ImageQuery
from pixvault.metadata.migrate import upgrade
from pixvault.settings import Settings
from pixvault.web.app import create_app

PASSWORD = "correct horse battery"
_emails = itertools.count(1)


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "secret_key": "test-secret-key",
        "rate_limit": "100000/hour",
        "auth_rate_limit": "100000/minute",
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

    def user_id(self, headers: dict[str, str]) -> str:
        return str(self.client.get("/api/auth/me", headers=headers).json()["user"]["id"])

    def upload(self, headers: dict[str, str], *files: tuple[str, bytes], **fields: str) -> Any:
        parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
        return self.client.post(
            "/api/images/upload", headers=headers, files=parts, data=fields or None
        )

    def state(self, headers: dict[str, str]) -> tuple[frozenset[str], int, int, list[str]]:
        """(blob keys, image rows, quota used, spool files) for one user."""
        uid = self.user_id(headers)
        repo = self.container.database
        _, rows = repo.images.list(uid, ImageQuery(page=1, limit=1))
        user = repo.users.get(uid)
        assert user is not None
        spool = sorted(p.name for p in self.settings.spool_dir.iterdir())
        return frozenset(self.container.blobs.iter_keys()), rows, user.quota_used, spool


def build_api(tmp_path: Path, **overrides: Any) -> Iterator[Api]:
    settings = make_settings(tmp_path / "data", **overrides)
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


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from build_api(tmp_path)


@pytest.fixture
def api_factory(tmp_path: Path) -> Iterator[Any]:
    """Build an app with non-default settings, e.g. ``api_factory(max_file_size=1000)``."""
    made: list[Iterator[Api]] = []

    def factory(**overrides: Any) -> Api:
        gen = build_api(tmp_path / f"app{len(made)}", **overrides)
        made.append(gen)
        return next(gen)

    yield factory
    for gen in made:
        for _ in gen:
            pass
