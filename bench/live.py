"""A real ``pixvault serve`` for load benchmarks: its own temporary data folder, a free
127.0.0.1 port, a signed-in bench user, and ``wrk`` runs against it.

Benchmarks that compare a server with itself under another setting start one per run, so
leftover background work of one run cannot slow the next.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors:.*")
ACCOUNT = {"email": "bench@example.com", "password": "bench-password-1"}
RATE_LIMIT = "100000000/hour"
"""``PIXVAULT_RATE_LIMIT`` of every bench server: no run comes near it."""
SECRET_KEY = "bench-live-secret-" + "y" * 32
"""``PIXVAULT_SECRET_KEY`` of every bench server (servers sharing a database accept each
other's tokens, and an in-process container with it checks their signed links)."""


class Skipped(Exception):
    """A live measurement cannot run here; the message says why."""


@dataclass(frozen=True, slots=True)
class Live:
    base: str
    client: httpx.Client
    """Signed in as the bench user (Authorization header set)."""
    token: str
    pid: int = 0
    """The server process (its peak memory is ``VmHWM`` in /proc/<pid>/status)."""
    data_dir: Path = Path()
    """``PIXVAULT_DATA_DIR`` of this server (deleted when ``serve`` exits)."""
    log: Path = Path()
    """The server's stdout and stderr (deleted when ``serve`` exits)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wrk_path() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise Skipped("wrk is not installed (apt-get install -y wrk)")
    return wrk


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> float:
    """Requests/s of ``wrk -t1`` against ``url``; any non-2xx answer makes it ``Skipped``."""
    args = [wrk_path(), "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    if script is not None:
        args += ["-s", str(script)]
    try:
        out = subprocess.run(
            [*args, url],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
            env={**os.environ, **(env or {})},
        ).stdout
    except subprocess.SubprocessError as exc:
        raise Skipped(f"wrk failed: {exc}") from None
    bad = _NON_2XX.search(out)
    if bad is not None:
        raise Skipped(f"{bad.group(1)} requests failed under wrk for {url.split('?')[0]}")
    if (errors := _ERRORS.search(out)) is not None:
        raise Skipped(f"wrk: {errors.group(0)}")
    rate = _RATE.search(out)
    if rate is None:
        raise Skipped("wrk printed no Requests/sec")
    return float(rate.group(1))


@contextmanager
def serve(*, register: bool = True, **settings: str) -> Iterator[Live]:
    """``pixvault serve`` with ``PIXVAULT_*`` ``settings`` on top of bench defaults (no rate
    limit worth the name, a quota no run can fill, one process), stopped and its data deleted
    on exit.

    ``register=False``: the bench user already exists (a second server on a shared database)
    and is only signed in."""
    with tempfile.TemporaryDirectory(prefix="pixvault-bench-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "PIXVAULT_DATA_DIR": str(work / "data"),
            "PIXVAULT_SECRET_KEY": SECRET_KEY,
            "PIXVAULT_RATE_LIMIT": RATE_LIMIT,
            "PIXVAULT_DEFAULT_QUOTA": str(1024**4),
            "PIXVAULT_MAX_FILE_SIZE": str(64 * 1024 * 1024),
            # One serving process unless the bench asks (``workers="2"``): one process
            # against one process first, as the baselines run.
            "PIXVAULT_WORKERS": "1",
        }
        env.update({f"PIXVAULT_{k.upper()}": v for k, v in settings.items()})
        port = str(free_port())
        command = [sys.executable, "-m", "pixvault", "serve", "--host", "127.0.0.1"]
        with (work / "serve.log").open("wb") as log:
            proc = subprocess.Popen(
                [*command, "--port", port],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            base = f"http://127.0.0.1:{port}"
            try:
                with httpx.Client(base_url=base, timeout=60) as client:
                    _wait_ready(proc, client)
                    if register:
                        client.post("/api/auth/register", json=ACCOUNT).raise_for_status()
                    login = client.post("/api/auth/login", json=ACCOUNT)
                    login.raise_for_status()
                    token = login.json()["accessToken"]
                    client.headers["Authorization"] = f"Bearer {token}"
                    yield Live(base, client, token, proc.pid, work / "data", work / "serve.log")
            except httpx.HTTPError as exc:
                raise Skipped(f"the live server failed: {exc}") from None
            finally:
                stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], client: httpx.Client) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise Skipped(f"pixvault serve exited with {proc.returncode}")
        try:
            if client.get("/api/config").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise Skipped("pixvault serve did not start within 60 s")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Ask a server to stop, and kill it if it has not within 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
