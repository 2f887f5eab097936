"""`pixvault serve --workers N` on the embedded stack: N processes that behave as one service.

No Redis here: the rate limit is shared through a SQLite file on the host, the quota through
the database, the signing key through the data directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.server import clean_env, race_uploads, run_cli, serve_process, sign_up


def _children(pid: int) -> list[int]:
    """The serving processes ``pid`` spawned (from /proc: no psutil needed); not
    multiprocessing's resource tracker, its other child."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = clean_env(
        tmp_path / "data",
        PIXVAULT_WORKERS="2",
        PIXVAULT_RATE_LIMIT="30/minute",
        PIXVAULT_DEFAULT_QUOTA="60000",
    )
    with serve_process(env, tmp_path / "server.log") as (base, proc):
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        yield base, proc


def test_two_workers_share_one_rate_limit(
    two_workers: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """30/minute means 30 for the whole server, not 30 per process: each request on a new
    connection, so the kernel hands them to both workers."""
    base, proc = two_workers
    assert len(_children(proc.pid)) == 2, "two serving processes"
    codes = [httpx.get(f"{base}/api/images/user").status_code for _ in range(36)]
    assert codes[:30] == [401] * 30
    assert codes[30:] == [429] * 6


def test_two_workers_keep_the_quota_and_the_signing_key(
    two_workers: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, _ = two_workers
    h = sign_up(base, "both@example.com")
    race_uploads([base], h, quota=60_000)
    listed = httpx.get(f"{base}/api/images/user?limit=100", headers=h).json()["images"]
    # Links signed by whichever worker answered open through new connections (any worker).
    for item in listed[:4]:
        for _ in range(3):
            assert httpx.get(item["url"]).status_code == 200


def test_a_worker_that_dies_is_replaced(
    two_workers: tuple[str, subprocess.Popen[bytes]],
) -> None:
    base, proc = two_workers
    victim = _children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = _children(proc.pid)
        if victim not in alive and len(alive) == 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the supervisor did not start a new worker")
    assert all(httpx.get(f"{base}/healthz").status_code == 200 for _ in range(6))


def test_workers_must_be_a_sane_count(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    for bad in ("0", "-1", "many", "65"):
        result = run_cli("serve", "--workers", bad, env=env)
        assert result.returncode == 2
        assert "--workers" in result.stderr
    result = run_cli("check-config", env=clean_env(tmp_path / "data", PIXVAULT_WORKERS="0"))
    assert result.returncode == 2
    assert "PIXVAULT_WORKERS" in result.stderr


def test_workers_log_like_the_cli(
    two_workers: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """A spawned worker sets up logging itself: pixvault's INFO lines reach the log, in the
    CLI's format (here: the second worker finding the first using the upload spool)."""
    line = "INFO pixvault.core.spool_sweep: another process uses"
    deadline = time.monotonic() + 30  # the second worker may still be starting
    while line not in (tmp_path / "server.log").read_text():
        assert time.monotonic() < deadline, "no worker logged its spool check"
        time.sleep(0.2)
