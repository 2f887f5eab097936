"""Run `pixvault serve` as a real process on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without PIXVAULT_* (so a developer's settings cannot leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVAULT_")}
    # One serving process unless a test asks for more: fewer processes to start and stop.
    env.update({"PIXVAULT_DATA_DIR": str(data_dir), "PIXVAULT_WORKERS": "1", **extra})
    return env


def run_cli(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pixvault ARGS`` as a user runs it; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "pixvault", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[str]:
    with serve_process(env, log) as (base, _):
        yield base


@contextmanager
def serve_process(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like ``serve``, also yielding the process (to read its memory use, for instance)."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pixvault", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PASSWORD = "correct horse battery"


def sign_up(base: str, email: str) -> dict[str, str]:
    """Register ``email`` on a live server and sign in: the Authorization header to send."""
    r = httpx.post(f"{base}/api/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


def race_uploads(bases: Sequence[str], headers: dict[str, str], quota: int) -> None:
    """16 uploads (spread over ``bases``) race for ``quota`` bytes: some must be refused, and
    `used` must equal what was stored, never more than the limit."""
    from tests.imagegen import make_image

    files = [make_image("PNG", (60 + i, 60)) for i in range(16)]
    sizes = [len(f) for f in files]
    assert sum(sizes) > quota > max(sizes)

    def send(i: int) -> tuple[int, int]:
        r = httpx.post(
            f"{bases[i % len(bases)]}/api/images/upload",
            headers=headers,
            files=[("files", (f"{i}.png", files[i]))],
            timeout=60,
        )
        return r.status_code, sizes[i]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, range(16)))
    assert {code for code, _ in results} <= {200, 413}
    stored = sum(size for code, size in results if code == 200)
    me = httpx.get(f"{bases[-1]}/api/auth/me", headers=headers).json()["user"]["storageQuota"]
    listed = httpx.get(f"{bases[0]}/api/images/user?limit=100", headers=headers).json()
    assert me["used"] == stored == sum(i["size"] for i in listed["images"])
    assert me["used"] <= me["limit"] == quota
    assert any(code == 413 for code, _ in results)
