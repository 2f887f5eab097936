"""Requests waiting for a thumbnail do not take the threads the rest of the app runs on.

The shared pool is small on purpose (``PIXVAULT_THREADS``: more threads only fight over the
GIL), so a fetch that waits seconds for a worker process runs on its own bounded set of
threads: with one shared thread and three fetches stuck on renders, the gallery still answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio.to_thread
import pytest

from tests.conftest import Api
from tests.imagegen import make_image

ApiFactory = Callable[..., Api]


def test_gallery_answers_while_thumbnail_fetches_wait_for_renders(
    api_factory: ApiFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_factory(threads=1, background_derivatives=False)
    h = api.signup()
    up = api.upload(h, ("a.png", make_image("PNG", (40, 30))))
    assert up.status_code == 200, up.text
    thumb = up.json()["images"][0]["thumbnailUrl"].removeprefix(str(api.client.base_url))

    release = threading.Event()
    waiting = threading.Semaphore(0)
    real_open = api.container.derivatives.open_link

    def slow_render(*args: Any) -> Any:
        waiting.release()
        assert release.wait(60), "never released"
        return real_open(*args)

    monkeypatch.setattr(api.container.derivatives, "open_link", slow_render)
    with ThreadPoolExecutor(3) as fetches, ThreadPoolExecutor(1) as prober:
        try:
            pending = [
                fetches.submit(api.client.get, thumb, follow_redirects=False) for _ in range(3)
            ]
            for _ in pending:
                assert waiting.acquire(timeout=30), "the fetches never started rendering"
            started = time.monotonic()
            gallery = prober.submit(api.client.get, "/api/images/user", headers=h)
            assert gallery.result(timeout=30).status_code == 200
            assert time.monotonic() - started < 5
        finally:
            release.set()
        # 200 with the file (local disk) or 302 to it (S3)
        assert {f.result(timeout=60).status_code for f in pending} <= {200, 302}


def test_threads_setting_sizes_the_shared_pool(api_factory: ApiFactory) -> None:
    api = api_factory(threads=3)

    async def tokens() -> float:
        return anyio.to_thread.current_default_thread_limiter().total_tokens

    assert api.client.portal is not None
    assert api.client.portal.call(tokens) == 3
