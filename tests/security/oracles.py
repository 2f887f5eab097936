"""The catalogue's common oracles (section 0) as the security suite applies them.

* N0 "nothing stored": :func:`snapshot` before, the same after (``Api.state`` for every user
  involved, plus what the owner sees of an image and its access log).
* L0 "nothing leaked": :func:`assert_no_leak` on every refused answer.
* "Someone else's looks like nothing": :func:`same_answer` compares two answers byte for byte
  (status, body, and every header but the per-request rate-limit counters).
"""

from __future__ import annotations

from typing import Any

import httpx2

from tests.conftest import TEST_SECRET, Api

MISSING_ID = "01900000-0000-7000-8000-000000000000"
"""A well-formed image id that no test ever creates."""

LEAK_MARKERS = (
    "Traceback",
    'File "',
    "site-packages",
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "botocore",
    "boto3",
    "<Error>",
    "NoSuchKey",
    "SignatureDoesNotMatch",
    "RuntimeError",
    "Exception",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "uvicorn",
    "starlette",
    "/tmp/",
    "/home/",
    "/work/",
)
"""Text no refused answer may carry: stack traces, driver and store errors, SQL, file paths."""

BANNER_HEADERS = ("server", "x-powered-by", "x-aspnet-version", "via")
VOLATILE_HEADERS = frozenset({"ratelimit-remaining", "ratelimit-reset", "date"})


def secrets_of(api: Api) -> list[str]:
    """Configuration that must never reach a client: folders, the signing key, backend URLs."""
    s = api.settings
    found = [str(s.data_dir), str(s.data_dir.resolve()), str(s.spool_dir), TEST_SECRET]
    for value in (
        s.database_url,
        s.redis_url,
        s.s3_secret_access_key,
        s.s3_endpoint_url,
        s.storage_url,
    ):
        if value:
            found.append(str(value))
    return found


def assert_no_leak(r: httpx2.Response, api: Api, *private: str) -> None:
    """L0 for one refused answer; ``private``: strings of another user (e-mail, ids, names)."""
    text = r.content.decode("utf-8", "replace")
    headers = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
    where = f"{r.request.method} {r.request.url.path} -> {r.status_code}"
    for marker in LEAK_MARKERS:
        assert marker not in text, f"{where}: body carries {marker!r}: {text[:300]}"
    for needle in [*secrets_of(api), *private]:
        assert needle not in text, f"{where}: body carries {needle!r}"
        assert needle not in headers, f"{where}: headers carry {needle!r}"
    for name in BANNER_HEADERS:
        assert name not in r.headers, f"{where}: banner header {name}: {r.headers[name]}"


def same_answer(a: httpx2.Response, b: httpx2.Response) -> None:
    """Two answers a client cannot tell apart: status, body bytes, header names and values."""
    assert a.status_code == b.status_code, (a.status_code, b.status_code, a.text, b.text)
    assert a.content == b.content, (a.text, b.text)

    def stable(r: httpx2.Response) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in r.headers.items() if k not in VOLATILE_HEADERS)

    assert stable(a) == stable(b)


def owner_view(api: Api, headers: dict[str, str], image_id: str) -> dict[str, Any]:
    """What the owner sees of an image that must not change: fields and access-log size."""
    r = api.client.get(f"/api/images/{image_id}", headers=headers)
    if r.status_code == 404:
        return {"status": 404}
    assert r.status_code == 200, r.text
    image = r.json()["image"]
    for volatile in ("url", "urlExpiresAt", "thumbnailUrl", "thumbnail2xUrl", "previewUrl"):
        image.pop(volatile, None)
    log = api.client.get(f"/api/images/{image_id}/access-log", headers=headers).json()
    return {"image": image, "accessLog": log["pagination"]["total"]}


def snapshot(
    api: Api, users: list[dict[str, str]], images: list[tuple[dict[str, str], str]]
) -> list[object]:
    """N0 for a scenario: blobs, rows, quota and spool of each user, and each image as its
    owner sees it (read with the owner's token: the scenario's own requests are not counted)."""
    taken: list[object] = [api.state(h) for h in users]
    taken += [owner_view(api, h, image_id) for h, image_id in images]
    return taken
