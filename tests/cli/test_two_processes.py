"""Two `pixvault serve` processes over one PostgreSQL + SeaweedFS + Redis behave as one service."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.server import clean_env, race_uploads, serve, sign_up
from tests.imagegen import make_image


@pytest.fixture
def pair(
    tmp_path: Path, postgres_url: str, pg_clean: None, seaweed: Any, redis_url: str
) -> Iterator[tuple[str, str]]:
    prefix = f"pair-{uuid.uuid4().hex[:8]}"
    common = {
        "PIXVAULT_DATABASE_URL": postgres_url,
        "PIXVAULT_STORAGE_URL": f"s3://{seaweed.bucket}/{prefix}",
        "PIXVAULT_S3_ENDPOINT_URL": seaweed.endpoint_url,
        "PIXVAULT_S3_ACCESS_KEY_ID": seaweed.access_key,
        "PIXVAULT_S3_SECRET_ACCESS_KEY": seaweed.secret_key,
        "PIXVAULT_S3_REGION": seaweed.region,
        "PIXVAULT_REDIS_URL": redis_url,
        "PIXVAULT_REDIS_KEY_PREFIX": prefix,
        "PIXVAULT_SECRET_KEY": "shared-secret-for-both-processes-0123456789",
        "PIXVAULT_DEFAULT_QUOTA": "60000",
        "PIXVAULT_RATE_LIMIT": "40/minute",
    }
    with ExitStack() as stack:
        bases = [
            stack.enter_context(
                serve(clean_env(tmp_path / f"data{i}", **common), tmp_path / f"server{i}.log")
            )
            for i in range(2)
        ]
        yield bases[0], bases[1]


def test_image_moves_between_processes(pair: tuple[str, str]) -> None:
    a, b = pair
    h = sign_up(a, "both@example.com")  # registered on A, token used on B
    data = make_image("PNG", (30, 20))
    up = httpx.post(f"{a}/api/images/upload", headers=h, files=[("files", ("x.png", data))])
    assert up.status_code == 200, up.text
    image_id = up.json()["images"][0]["id"]
    listed = httpx.get(f"{b}/api/images/user", headers=h).json()
    assert [i["id"] for i in listed["images"]] == [image_id]
    signed = httpx.post(f"{b}/api/images/presigned-url", headers=h, json={"imageId": image_id})
    assert signed.status_code == 200
    assert httpx.get(signed.json()["url"]).content == data
    assert httpx.delete(f"{b}/api/images/{image_id}", headers=h).status_code == 200
    assert httpx.get(f"{a}/api/images/{image_id}", headers=h).status_code == 404
    assert httpx.get(signed.json()["url"]).status_code == 404


def test_parallel_uploads_through_both_never_exceed_quota(pair: tuple[str, str]) -> None:
    a, b = pair
    h = sign_up(a, "race@example.com")
    race_uploads([a, b], h, quota=60_000)


def test_rate_limit_is_shared(pair: tuple[str, str]) -> None:
    a, b = pair
    h = sign_up(a, "limited@example.com")
    codes = [httpx.get(f"{(a, b)[i % 2]}/api/auth/me", headers=h).status_code for i in range(41)]
    # 40/minute for this user across both processes, not 40 each
    assert codes[:40] == [200] * 40
    assert codes[40] == 429
