"""Adapters and helpers for the metadata contract (``test_metadata.py``).

To add a backend, name it in ``ADAPTERS`` and teach ``open_repos`` to yield its ``Repos``.
The SQL backends get their schema from the migrations, exactly as in production.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from pixvault.core.keys import new_id, storage_key
from pixvault.core.models import Image, ImageQuery, ImageStatus, User
from pixvault.core.ports import ImageRepo, TokenRepo, UserRepo
from pixvault.metadata.engine import make_engine
from pixvault.metadata.migrate import upgrade
from pixvault.metadata.repos import SqlDatabase

T = TypeVar("T")
NOW = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
GB = 1 << 30
ADAPTERS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Repos:
    users: UserRepo
    tokens: TokenRepo
    images: ImageRepo
    ping: Callable[[], None]


@contextmanager
def _sql(url: str) -> Iterator[Repos]:
    upgrade(url)  # a no-op at head; on a new SQLite file it builds the schema
    db = SqlDatabase(make_engine(url))
    try:
        yield Repos(db.user_repo, db.token_repo, db.image_repo, db.ping)
    finally:
        db.close()


@contextmanager
def open_repos(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repos]:
    """Empty repos of one adapter, closed afterwards."""
    if kind == "sqlite":
        with _sql(f"sqlite:///{tmp_path / 'db' / 'pixvault.db'}") as repos:
            yield repos
    elif kind == "postgresql":
        url = request.getfixturevalue("postgres_url")  # skips (CI: fails) without a server
        request.getfixturevalue("pg_clean")
        with _sql(url) as repos:
            yield repos
    else:
        raise ValueError(f"unknown adapter {kind!r}")


def make_user(repos: Repos, email: str | None = None, quota_limit: int = GB) -> User:
    user_id = new_id()
    return repos.users.create(
        user_id=user_id,
        email=email or f"{user_id}@example.com",
        password_hash="hash",
        quota_limit=quota_limit,
        now=NOW,
    )


def make_user_record() -> User:
    """A user that was never stored."""
    return User(new_id(), "ghost@example.com", False, 0, GB, NOW)


def make_image(owner: User, name: str = "cat.png", *, size: int = 100, **kw: Any) -> Image:
    image_id = new_id()
    fields: dict[str, Any] = {
        "id": image_id,
        "owner_id": owner.id,
        "storage_key": storage_key(owner.id, image_id, "png"),
        "original_name": name,
        "content_type": "image/png",
        "size": size,
        "width": 10,
        "height": 20,
        "md5": "0" * 32,
        "sha256": "f" * 64,
        "tags": (),
        "is_public": False,
        "status": ImageStatus.READY,
        "uploaded_at": NOW,
    }
    fields.update(kw)
    return Image(**fields)


def run_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(i)`` in ``count`` threads released together; re-raise any error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def ids(images: list[Image]) -> list[str]:
    return [image.id for image in images]


def used_quota(repos: Repos, user: User) -> int:
    stored = repos.users.get(user.id)
    assert stored is not None
    return stored.quota_used


def page_ids(
    repos: Repos,
    owner: User,
    *,
    page: int = 1,
    limit: int = 20,
    tags: tuple[str, ...] = (),
    search: str = "",
) -> tuple[list[str], int]:
    items, total, _ = repos.images.list(owner.id, ImageQuery(page, limit, tags, search))
    return ids(items), total
