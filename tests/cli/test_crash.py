"""SIGKILL a live `pixvault serve` at each step of the upload, delete and derivative pipelines,
restart it, run `pixvault fsck --repair --older-than 0s`, and check every invariant
(tests/invariants.py) — on SQLite + local disk and on PostgreSQL + SeaweedFS + Redis."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from pixvault.container import build_container
from pixvault.core import faults
from pixvault.settings import Settings
from tests import invariants
from tests.cli.server import clean_env, run_cli, serve_process

SECRET = "crash-test-secret-key-0123456789abcdef"
ACCOUNT = {"email": "crash@example.com", "password": "crash-password-1"}


def photo(seed: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((320, 240), 40 + seed).convert("RGB").save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture(params=["embedded", "production"])
def stack_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    env = clean_env(
        tmp_path / "data",
        PIXVAULT_SECRET_KEY=SECRET,
        # Redis keeps counts across restarts: the clients here must never be throttled.
        PIXVAULT_RATE_LIMIT="1000000/hour",
        PIXVAULT_AUTH_RATE_LIMIT="100000/minute",
    )
    if request.param == "production":
        s3: Any = request.getfixturevalue("seaweed")
        request.getfixturevalue("pg_clean")
        prefix = f"crash-{uuid.uuid4().hex[:8]}"
        env.update(
            PIXVAULT_DATABASE_URL=request.getfixturevalue("postgres_url"),
            PIXVAULT_STORAGE_URL=f"s3://{s3.bucket}/{prefix}",
            PIXVAULT_S3_ENDPOINT_URL=s3.endpoint_url,
            PIXVAULT_S3_ACCESS_KEY_ID=s3.access_key,
            PIXVAULT_S3_SECRET_ACCESS_KEY=s3.secret_key,
            PIXVAULT_S3_REGION=s3.region,
            PIXVAULT_REDIS_URL=request.getfixturevalue("redis_url"),
            PIXVAULT_REDIS_KEY_PREFIX=prefix,
        )
    return env


def _settings(env: dict[str, str]) -> Settings:
    values = {
        k.removeprefix("PIXVAULT_").lower(): v for k, v in env.items() if k.startswith("PIXVAULT_")
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def _check(env: dict[str, str], acknowledged: dict[str, str], *, repaired: bool) -> None:
    # A container of its own for each look, closed at once: a live one would hold the spool's
    # shared lock, and the next start would not sweep what the kill left there.
    container = build_container(_settings(env))
    try:
        invariants.check(container, acknowledged, repaired=repaired)
    finally:
        container.close()


def _login(client: httpx.Client) -> None:
    client.post("/api/auth/register", json=ACCOUNT)
    r = client.post("/api/auth/login", json=ACCOUNT)
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['accessToken']}"


def _upload(client: httpx.Client, data: bytes, acknowledged: dict[str, str]) -> str | None:
    try:
        r = client.post("/api/images/upload", files=[("files", ("p.jpg", data, "image/jpeg"))])
    except httpx.TransportError:
        return None  # killed before it answered: no promise was made
    assert r.status_code == 200, r.text
    image_id: str = r.json()["images"][0]["id"]
    acknowledged[image_id] = hashlib.sha256(data).hexdigest()
    return image_id


@pytest.mark.parametrize("point", faults.POINTS)
def test_a_kill_at_any_step_is_repaired(
    point: str, stack_env: dict[str, str], tmp_path: Path
) -> None:
    acknowledged: dict[str, str] = {}
    crashing = {**stack_env, faults.ENV: point}
    with serve_process(crashing, tmp_path / "first.log") as (base, proc):
        with httpx.Client(base_url=base, timeout=30) as client:
            _login(client)
            kept = _upload(client, photo(0), acknowledged)  # before any delete point
            if point.startswith("delete."):
                assert kept is not None
                with pytest.raises(httpx.TransportError):
                    client.delete(f"/api/images/{kept}")
                del acknowledged[kept]  # asked to go: either way is fine, never half
            elif point.startswith("upload."):
                assert _upload(client, photo(1), acknowledged) is None
        proc.wait(timeout=60)  # derivative points fire in the background, after the answer
        assert proc.returncode == -9, f"{point} was never reached"
    # No restart needed for the checks: the repair command's own start sweeps the spool (no
    # server holds it now), as the next `pixvault serve` would.
    fsck = run_cli("fsck", "--repair", "--older-than", "0s", env=stack_env)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    _check(stack_env, acknowledged, repaired=True)


KILLS = 10
"""Per stack: 20 kills in all."""


def test_kills_at_random_moments_under_8_uploading_clients(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    """10 times per stack: 8 clients upload at once and the server is SIGKILLed at a random
    moment.
    After each restart (quiet, before new uploads) every acknowledged upload reads back, the
    quotas add up and the spool is empty; after the final repair pass nothing is left without
    a row either."""
    rng = random.Random(20261127)
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    for round_ in range(KILLS + 1):
        with serve_process(stack_env, tmp_path / f"run{round_}.log") as (base, proc):
            if round_:  # restarted after a kill: check before anyone uploads again
                _check(stack_env, acknowledged, repaired=False)
            if round_ == KILLS:
                fsck = run_cli("fsck", "--repair", "--older-than", "0s", env=stack_env)
                assert fsck.returncode == 0, fsck.stdout + fsck.stderr
                _check(stack_env, acknowledged, repaired=True)
                break
            with httpx.Client(base_url=base, timeout=30) as client:
                _login(client)
                token = client.headers["Authorization"]
            stop = threading.Event()

            def uploader(n: int, token: str = token, stop: threading.Event = stop) -> None:
                headers = {"Authorization": token}
                with httpx.Client(base_url=base, timeout=30, headers=headers) as mine:
                    seq = 0
                    while not stop.is_set():
                        seq += 1
                        found: dict[str, str] = {}
                        if _upload(mine, photo(n * 1000 + seq), found) is None:
                            return  # the server is gone
                        with lock:
                            acknowledged.update(found)

            threads = [threading.Thread(target=uploader, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.1, 1.0))
            proc.kill()
            proc.wait(timeout=30)
            stop.set()
            for t in threads:
                t.join(timeout=60)
    assert len(acknowledged) > KILLS  # the clients did get uploads through
