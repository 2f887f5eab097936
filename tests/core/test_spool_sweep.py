"""What a killed process left in the upload spool is removed at the next start, unless another
live process is using the same spool."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pixvault.core.spool_sweep import SpoolClaim
from tests.cli.server import clean_env, free_port


def test_start_up_removes_leftovers(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    (spool / "upload-abc").write_bytes(b"x" * 100)
    claim = SpoolClaim(spool)
    try:
        assert list(spool.iterdir()) == []
        assert claim.swept == 1
    finally:
        claim.close()


def test_a_live_sibling_keeps_its_uploads(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    first = SpoolClaim(spool)
    (spool / "upload-in-flight").write_bytes(b"x")
    second = SpoolClaim(spool)  # a second process starting while the first one runs
    try:
        assert [p.name for p in spool.iterdir()] == ["upload-in-flight"]
    finally:
        second.close()
        first.close()
    third = SpoolClaim(spool)  # both gone: the file has no owner any more
    third.close()
    assert list(spool.iterdir()) == []


_HOLD = """
import sys, time
from pathlib import Path
import httpx

from pixvault.core.spool_sweep import SpoolClaim
claim = SpoolClaim(Path(sys.argv[1]))
print("ready", flush=True)
time.sleep(60)
"""


def test_a_killed_process_releases_its_claim(tmp_path: Path) -> None:
    spool = tmp_path / "tmp"
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(spool)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        (spool / "upload-of-the-dead").write_bytes(b"x")
        SpoolClaim(spool).close()
        assert [p.name for p in spool.iterdir()] == ["upload-of-the-dead"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    SpoolClaim(spool).close()
    assert list(spool.iterdir()) == []


def test_spool_file_of_a_server_killed_mid_upload_is_gone_after_restart(tmp_path: Path) -> None:
    """kill -9 while an upload body is arriving, start again: the spool is empty."""
    data = tmp_path / "data"
    env = clean_env(data)
    port = free_port()

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pixvault", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc
            except OSError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError("server did not start")

    proc = start()
    try:
        base = f"http://127.0.0.1:{port}"
        creds = {"email": "k@example.com", "password": "correct horse battery"}
        assert httpx.post(f"{base}/api/auth/register", json=creds).status_code == 201
        token = httpx.post(f"{base}/api/auth/login", json=creds).json()["accessToken"]
        head = (
            (
                b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n"
            )
            + b"\x89PNG"
            + b"\0" * 300_000
        )
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /api/images/upload HTTP/1.1\r\nHost: x\r\n"
                + f"Authorization: Bearer {token}\r\n".encode()
                + b"Content-Type: multipart/form-data; boundary=b\r\n"
                + f"Content-Length: {len(head) + 1_000_000}\r\n\r\n".encode()
                + head
            )
            deadline = time.monotonic() + 20
            while not any((data / "tmp").iterdir()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert any((data / "tmp").iterdir()), "the upload never reached the spool"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        assert any((data / "tmp").iterdir())  # the leftover the old code kept forever
        proc = start()
        assert list((data / "tmp").iterdir()) == []
    finally:
        proc.kill()
        proc.wait()
