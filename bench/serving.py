"""Serving a stored derivative vs serving an original of the same size, with ``wrk``.

A real ``pixvault serve`` (uvicorn, SQLite, local disk) runs on a free 127.0.0.1 port with a
temporary data folder. One photo is uploaded and its thumbnail fetched once (so it is made and
stored); the thumbnail's bytes are then uploaded as an original of their own, so both links
send byte-identical bodies of the same size. ``wrk`` (1 thread, 4 connections, 2 s a run, three
runs each in turns, median) measures requests/s through the thumbnail's signed ``/derived``
link and through the original's signed ``/files`` link. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

WRK_SECONDS = 2
ROUNDS = 3
_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


class Skipped(Exception):
    """The serving comparison cannot run here; the message says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wrk(wrk: str, url: str) -> float:
    out = subprocess.run(
        [wrk, "-t1", "-c4", f"-d{WRK_SECONDS}s", "--timeout", "5s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=WRK_SECONDS + 30,
    ).stdout
    bad = _NON_2XX.search(out)
    if bad is not None:
        raise Skipped(f"{bad.group(1)} requests failed under wrk for {url.split('?')[0]}")
    rate = _RATE.search(out)
    if rate is None:
        raise Skipped("wrk printed no Requests/sec")
    return float(rate.group(1))


def measure(photo: Path, work: Path) -> tuple[float, float, int]:
    """(thumbnail req/s, same-size original req/s, body bytes)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise Skipped("wrk is not installed (apt-get install -y wrk)")
    data_dir = work / "serve-data"
    data_dir.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "PIXVAULT_DATA_DIR": str(data_dir),
        "PIXVAULT_SECRET_KEY": "bench-serving-secret-" + "y" * 32,
        "PIXVAULT_RATE_LIMIT": "100000000/hour",
        "PIXVAULT_MAX_FILE_SIZE": str(64 * 1024 * 1024),
    }
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pixvault", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise Skipped(f"pixvault serve exited with {proc.returncode}")
                try:
                    if client.get("/api/config").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise Skipped("pixvault serve did not start within 60 s")
                time.sleep(0.2)
            account = {"email": "bench@example.com", "password": "bench-password-1"}
            client.post("/api/auth/register", json=account).raise_for_status()
            login = client.post("/api/auth/login", json=account)
            login.raise_for_status()
            client.headers["Authorization"] = f"Bearer {login.json()['accessToken']}"

            def upload(name: str, body: bytes, mime: str) -> dict[str, str]:
                r = client.post("/api/images/upload", files=[("files", (name, body, mime))])
                if r.status_code != 200:
                    raise Skipped(f"upload of {name} answered {r.status_code}: {r.text[:120]}")
                image: dict[str, str] = r.json()["images"][0]
                return image

            photo_row = upload(photo.name, photo.read_bytes(), "image/jpeg")
            thumb_url = photo_row.get("thumbnailUrl")
            if not thumb_url:
                raise Skipped("the upload answer has no thumbnailUrl")
            thumb = client.get(thumb_url)  # made now if the background job has not yet
            if thumb.status_code != 200 or thumb.headers.get("content-type") != "image/webp":
                raise Skipped(f"the thumbnail link answered {thumb.status_code}")
            copy_row = upload("thumb-copy.webp", thumb.content, "image/webp")
            original = client.get(copy_row["url"])
            if original.status_code != 200 or len(original.content) != len(thumb.content):
                raise Skipped("the same-size original is not served byte for byte")
        derived: list[float] = []
        plain: list[float] = []
        for _ in range(ROUNDS):  # in turns, so load from elsewhere falls on both alike
            derived.append(_wrk(wrk, thumb_url))
            plain.append(_wrk(wrk, copy_row["url"]))
        return statistics.median(derived), statistics.median(plain), len(thumb.content)
    except (httpx.HTTPError, subprocess.SubprocessError, KeyError) as exc:
        raise Skipped(f"serving comparison failed: {exc}") from None
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
