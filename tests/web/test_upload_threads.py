"""Upload work off the event loop, in its own bounded set of threads.

Hashing and spool writes run in worker threads in ~1 MiB blocks, never on the loop; uploads
stuck on a slow store hold at most PIXVAULT_MAX_CONCURRENT_UPLOADS threads, so /healthz (and
everything else) keeps answering, and the uploads past the bound wait instead of failing.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import pytest
from starlette.requests import Request
from starlette.types import Message

from pixvault.core.spool import BLOCK_SIZE, Spool
from pixvault.web.multipart import FormLimits, parse_upload
from tests.conftest import Api
from tests.imagegen import make_image

ApiFactory = Callable[..., Api]


def test_hashing_runs_in_worker_threads_in_big_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushes: list[tuple[int, int]] = []  # (thread id, bytes flushed)
    real_flush = Spool.flush

    def spy(self: Spool) -> None:
        flushes.append((threading.get_ident(), self._pending_size))
        real_flush(self)

    monkeypatch.setattr(Spool, "flush", spy)
    data = bytes(range(256)) * (12 * 1024)  # 3 MiB
    head = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a"\r\n\r\n'
    raw = head + data + b"\r\n--b--\r\n"
    chunks = iter([raw[i : i + 64 * 1024] for i in range(0, len(raw), 64 * 1024)])

    async def receive() -> Message:
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def main() -> tuple[int, Any]:
        scope = {
            "type": "http",
            "method": "POST",
            "headers": [(b"content-type", b"multipart/form-data; boundary=b")],
        }
        limits = FormLimits(max_file_size=10 * 1024**2, max_files=1, max_request_size=20 * 1024**2)
        limiter = anyio.CapacityLimiter(1)
        parsed = await parse_upload(Request(scope, receive), limits, tmp_path, limiter=limiter)
        return threading.get_ident(), parsed

    loop_thread, parsed = anyio.run(main)
    [incoming] = parsed.files
    assert incoming.sha256 == hashlib.sha256(data).hexdigest() and incoming.size == len(data)
    assert flushes, "nothing was flushed"
    assert all(thread != loop_thread for thread, _ in flushes), "hashing ran on the event loop"
    assert len(flushes) <= len(data) // BLOCK_SIZE + 2  # a few big blocks, not 48 small writes
    assert max(size for _, size in flushes) >= BLOCK_SIZE
    parsed.discard()


class BlockingStore:
    """The container's blob store, except that ``put`` waits for ``release`` (a stuck store)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()

    def put(self, key: str, src: BinaryIO, *, size: int, content_type: str) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            assert self.release.wait(120), "never released"
            self.inner.put(key, src, size=size, content_type=content_type)
        finally:
            with self._lock:
                self.active -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_healthz_answers_while_uploads_are_stuck_on_the_store(
    api_factory: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound, uploads = 4, 44  # more uploads than the shared pool's 40 threads
    api = api_factory(max_concurrent_uploads=bound)
    h = api.signup()
    store = BlockingStore(api.container.images._blobs)
    monkeypatch.setattr(api.container.images, "_blobs", store)
    png = make_image("PNG", (8, 8))

    def upload(i: int) -> int:
        status: int = api.upload(h, (f"{i}.png", png)).status_code
        return status

    with ThreadPoolExecutor(uploads) as clients, ThreadPoolExecutor(1) as prober:
        try:
            results = [clients.submit(upload, i) for i in range(uploads)]
            deadline = time.monotonic() + 60
            while store.active < bound:
                assert time.monotonic() < deadline, "uploads never reached the store"
                time.sleep(0.01)
            time.sleep(0.3)  # let the rest pile up behind the bound
            for _ in range(3):
                started = time.monotonic()
                probe = prober.submit(api.client.get, "/healthz")
                assert probe.result(timeout=30).status_code == 200
                assert time.monotonic() - started < 0.5
        finally:
            store.release.set()
        codes = [r.result(timeout=120) for r in results]
    assert codes == [200] * uploads  # past the bound they waited; none failed
    assert store.peak == bound
    listed = api.client.get("/api/images/user?limit=100", headers=h).json()
    assert listed["pagination"]["total"] == uploads
