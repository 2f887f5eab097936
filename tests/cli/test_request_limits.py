"""Slow and oversized requests against a live `pixvault serve` (1 s header and body timeouts).

Raw sockets on 127.0.0.1, so the test controls exactly which bytes are sent and when.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.cli.server import clean_env, serve_process
from tests.imagegen import make_image

PASSWORD = "correct horse battery"
MIB = 1024 * 1024
WAIT = 15.0
"""Seconds a test waits for something the server does within about 1 s (a loaded CI box)."""


@dataclass
class Live:
    base: str
    port: int
    proc: subprocess.Popen[bytes]
    spool: Path
    headers: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("limits")
    env = clean_env(tmp / "data", PIXVAULT_HEADER_TIMEOUT="1", PIXVAULT_BODY_TIMEOUT="1")
    with serve_process(env, tmp / "server.log") as (base, proc):
        creds = {"email": "slow@example.com", "password": PASSWORD}
        httpx.post(f"{base}/api/auth/register", json=creds)
        token = httpx.post(f"{base}/api/auth/login", json=creds).json()["accessToken"]
        port = int(base.rsplit(":", 1)[1])
        headers = {"Authorization": f"Bearer {token}"}
        yield Live(base, port, proc, tmp / "data" / "tmp", headers, tmp / "server.log")


def _connect(live: Live) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=WAIT)
    return sock


def _response(sock: socket.socket) -> tuple[http.client.HTTPResponse, bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response, response.read()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """True once the server closes (EOF or reset); False if it is still open after ``seconds``."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _assert_json_error(response: http.client.HTTPResponse, body: bytes, status: int) -> str:
    assert response.status == status, body
    assert response.getheader("content-type") == "application/json"
    assert response.getheader("x-content-type-options") == "nosniff"
    payload = json.loads(body)
    assert set(payload) == {"error", "code"} and payload["error"]
    return str(payload["code"])


# -- 1. bodies over the cap ---------------------------------------------------------------


def test_50_mib_chunked_login_body_is_413_early_without_memory_growth(live: Live) -> None:
    before = _peak_rss_kib(live.proc.pid)
    head = (
        b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    block = b"a" * MIB
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    with _connect(live) as sock:
        sock.sendall(head + b'b\r\n{"email": "\r\n' + chunk)
        started = time.monotonic()
        # Only 1 MiB of 50 is sent: the answer must not wait for the rest.
        response, body = _response(sock)
        assert _assert_json_error(response, body, 413) == "request_too_large"
        assert time.monotonic() - started < WAIT
        for _ in range(49):
            sock.sendall(chunk)
        sock.sendall(b"0\r\n\r\n")
        # The same connection serves the next request: the rest was discarded, not parsed.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        response, body = _response(sock)
        assert response.status == 200 and json.loads(body) == {"status": "ok"}
    grown_mib = (_peak_rss_kib(live.proc.pid) - before) / 1024
    assert grown_mib < 20, f"peak RSS grew by {grown_mib:.0f} MiB"


def test_declared_oversized_body_is_413_before_a_byte_is_sent(live: Live) -> None:
    with _connect(live) as sock:
        sock.sendall(
            b"POST /api/auth/register HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {50 * MIB}\r\n\r\n".encode()
        )
        response, body = _response(sock)
        assert _assert_json_error(response, body, 413) == "request_too_large"


# -- 2. read timeouts ---------------------------------------------------------------------


def test_connections_with_unfinished_headers_are_closed(live: Live) -> None:
    socks = [_connect(live) for _ in range(40)]
    try:
        for i, sock in enumerate(socks):
            if i % 4:  # a quarter send nothing at all
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Half: ")
        deadline = time.monotonic() + WAIT
        for sock in socks:
            assert _closed_within(sock, max(0.1, deadline - time.monotonic()))
    finally:
        for sock in socks:
            sock.close()
    assert httpx.get(f"{live.base}/healthz").status_code == 200


def test_headers_trickled_a_byte_at_a_time_are_cut_off(live: Live) -> None:
    """Every byte resets no clock: the whole header block has 1 s, however it arrives."""
    request = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-Pad: " + b"p" * 200 + b"\r\n\r\n"
    with _connect(live) as sock:
        started = time.monotonic()
        sent = 0
        try:
            for byte in request:
                sock.sendall(bytes([byte]))
                sent += 1
                time.sleep(0.05)
                if time.monotonic() - started > WAIT:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert sent < len(request), "the server waited for the whole trickle"
        assert _closed_within(sock, WAIT)


def test_upload_that_stalls_mid_body_is_408_and_leaves_no_spool_file(live: Live) -> None:
    png = make_image("PNG", (400, 400), noise=1.0)
    boundary = "stall-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    total = len(head) + len(png) + 100
    request = (
        "POST /api/images/upload HTTP/1.1\r\nHost: t\r\n"
        f"Authorization: {live.headers['Authorization']}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {total}\r\n\r\n"
    ).encode()
    with _connect(live) as sock:
        sock.sendall(request + head + png[: len(png) // 2])
        deadline = time.monotonic() + WAIT
        while not any(live.spool.iterdir()):  # the part is being spooled...
            assert time.monotonic() < deadline, "no spool file appeared"
            time.sleep(0.02)
        response, body = _response(sock)  # ...and then the client goes quiet
        assert _assert_json_error(response, body, 408) == "request_timeout"
        assert response.getheader("connection") == "close"
        assert _closed_within(sock, WAIT)
    assert list(live.spool.iterdir()) == []


def test_json_body_that_stalls_is_408(live: Live) -> None:
    with _connect(live) as sock:
        sock.sendall(
            b"POST /api/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": '
        )
        response, body = _response(sock)
        assert _assert_json_error(response, body, 408) == "request_timeout"


def test_a_client_that_hangs_up_mid_upload_is_not_a_server_error(live: Live) -> None:
    """A phone losing its signal mid-upload: nothing stored, and no 500 or traceback logged
    (it is the client's doing, not the server's)."""
    body = make_image("PNG", (400, 400))
    boundary = "hangup-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    declared = len(head) + len(body) + 64
    before = live.log.read_text()
    sock = _connect(live)
    sock.sendall(
        (
            f"POST /api/images/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {live.headers['Authorization']}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()
        + head
        + body[: len(body) // 2]
    )
    sock.close()  # gone, half-way through the file
    deadline = time.monotonic() + WAIT
    while list(live.spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(live.spool.iterdir()) == []
    assert httpx.get(f"{live.base}/healthz").status_code == 200
    time.sleep(0.3)  # let the server finish logging whatever it logs about it
    logged = live.log.read_text()[len(before) :]
    assert "Traceback" not in logged and "ERROR" not in logged, logged
