"""A live `pixvault serve` under concurrent work: galleries during uploads, downloads racing
deletes. Bounded in count and time; loopback only."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.cli.server import clean_env, serve
from tests.imagegen import make_image

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("concurrency")
    env = clean_env(
        tmp / "data", PIXVAULT_RATE_LIMIT="1000000/hour", PIXVAULT_AUTH_RATE_LIMIT="1000/minute"
    )
    with serve(env, tmp / "server.log") as base:
        creds = {"email": "busy@example.com", "password": PASSWORD}
        httpx.post(f"{base}/api/auth/register", json=creds)
        token = httpx.post(f"{base}/api/auth/login", json=creds).json()["accessToken"]
        yield base, {"Authorization": f"Bearer {token}"}


def test_gallery_answers_promptly_while_a_20_file_upload_streams_in(
    live: tuple[str, dict[str, str]],
) -> None:
    base, h = live
    files = [make_image("PNG", (700, 700), noise=1.0, color=(i, 9, 9)) for i in range(20)]
    boundary = "gallery-during-upload"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{i}.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + data
        + b"\r\n"
        for i, data in enumerate(files)
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    halfway, resume = threading.Event(), threading.Event()

    def stream() -> Iterator[bytes]:
        step = 256 * 1024
        for offset in range(0, len(body), step):
            if offset >= len(body) // 2 and not halfway.is_set():
                halfway.set()  # half of the files are in: time a gallery request now
                resume.wait(60)
            yield body[offset : offset + step]

    def upload() -> httpx.Response:
        return httpx.post(
            f"{base}/api/images/upload",
            headers={**h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=stream(),
            timeout=120,
        )

    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(upload)
        try:
            assert halfway.wait(60)
            started = time.monotonic()
            gallery = httpx.get(f"{base}/api/images/user", headers=h, timeout=30)
            elapsed = time.monotonic() - started
        finally:
            resume.set()
        uploaded = pending.result()
    assert gallery.status_code == 200
    assert elapsed < 2.0, f"the gallery took {elapsed:.2f}s during an upload"
    assert uploaded.status_code == 200, uploaded.text
    got = uploaded.json()["images"]
    assert [i["originalName"] for i in got] == [f"{i}.png" for i in range(20)]
    assert [i["size"] for i in got] == [len(f) for f in files]


def test_downloads_racing_deletes_are_whole_or_404_never_500_or_torn(
    live: tuple[str, dict[str, str]],
) -> None:
    """Each round: one image, several downloads of it and its delete, all at once."""
    base, h = live
    data = make_image("PNG", (600, 600), noise=1.0)
    digest = hashlib.sha256(data).hexdigest()
    outcomes: dict[str, int] = {"200": 0, "404": 0}
    deadline = time.monotonic() + 60

    def fetch(client: httpx.Client, url: str) -> tuple[int, bytes]:
        with client.stream("GET", url) as r:
            content = b"".join(r.iter_bytes())  # a body shorter than announced raises here
            if r.status_code == 200:
                assert int(r.headers["content-length"]) == len(content)
            return r.status_code, content

    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(6) as pool:
        for _ in range(25):
            if time.monotonic() > deadline:
                break
            r = client.post(
                f"{base}/api/images/upload", headers=h, files=[("files", ("r.png", data))]
            )
            assert r.status_code == 200, r.text
            image = r.json()["images"][0]
            downloads = [pool.submit(fetch, client, image["url"]) for _ in range(5)]
            deleted = pool.submit(client.delete, f"{base}/api/images/{image['id']}", headers=h)
            assert deleted.result().status_code == 200
            for future in downloads:
                status, content = future.result()
                assert status in (200, 404), (status, content[:200])
                if status == 200:
                    assert hashlib.sha256(content).hexdigest() == digest
                else:
                    assert json.loads(content)["code"] == "not_found"
                outcomes[str(status)] += 1
    assert outcomes["200"] + outcomes["404"] >= 25
