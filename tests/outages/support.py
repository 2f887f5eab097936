"""What every outage test checks afterwards, and the small tools they share."""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from PIL import Image

from pixvault.web.errors import UNAVAILABLE_RETRY_AFTER
from tests import invariants
from tests.conftest import Api
from tests.services import unavailable

MIB = 1024 * 1024
ANSWER_WITHIN = 2.0
"""Seconds an outage answer may take: "about a second", with room for a loaded CI machine."""


def assert_consistent(api: Api) -> None:
    """No row without bytes, no bytes without a row, each user's quota the sum of the sizes of
    their rows, and an empty spool (the invariants, as after a repair pass)."""
    assert api.container.derivatives.wait_idle(timeout=60)
    invariants.check(api.container, {}, repaired=True)


def assert_outage_answer(r: httpx2.Response, status: int = 503, code: str = "unavailable") -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "code"} and body["code"] == code and body["error"], body
    assert r.headers["content-type"] == "application/json"
    if status == 503:
        assert r.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER)


def timed(call: Callable[[], httpx2.Response]) -> tuple[httpx2.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the service did not recover by itself"
        time.sleep(0.1)


def noise_png(nbytes: int) -> bytes:
    """A valid PNG of about ``nbytes`` that no compressor can shrink (random pixels)."""
    side = max(8, math.isqrt(nbytes // 3))
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=0)
    return out.getvalue()


# --- small filesystems -------------------------------------------------------------------------


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextmanager
def tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A real filesystem of ``size`` bytes at ``path`` (tmpfs; needs root or CAP_SYS_ADMIN).

    Not allowed to mount (an ordinary user, a container without the capability): a skip, even
    under CI, as the machine says no rather than the code. Any other failure: a failure under
    CI, a skip elsewhere.
    """
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        unavailable("tmpfs", "no mount command")
    done = _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if done.returncode != 0:
        why = done.stderr.strip() or f"mount exited {done.returncode}"
        if os.geteuid() != 0 or "permission denied" in why.lower() or "not permitted" in why:
            pytest.skip(f"cannot mount a tmpfs here ({why}): run as root to test a full disk")
        unavailable("tmpfs", why)
    try:
        yield path
    finally:
        gone = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if gone.returncode != 0:  # something still holds a file open: detach it anyway
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def set_read_only(path: Path, read_only: bool) -> None:
    done = _mount("-o", f"remount,{'ro' if read_only else 'rw'}", str(path))
    assert done.returncode == 0, done.stderr


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, relative, temp files included (a torn write shows here)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
