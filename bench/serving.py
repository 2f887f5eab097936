"""Serving a stored derivative vs serving an original of the same size, with ``wrk``.

A real ``pixvault serve`` (uvicorn, SQLite, local disk) runs on a free 127.0.0.1 port with a
temporary data folder. One photo is uploaded and its thumbnail fetched once (so it is made and
stored); the thumbnail's bytes are then uploaded as an original of their own, so both links
send byte-identical bodies of the same size. ``wrk`` (1 thread, 4 connections, 2 s a run, three
runs each in turns, median) measures requests/s through the thumbnail's signed ``/derived``
link and through the original's signed ``/files`` link. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import httpx

from bench import live
from bench.live import Skipped

__all__ = ["Skipped", "measure"]

WRK_SECONDS = 2
ROUNDS = 3


def measure(photo: Path, work: Path) -> tuple[float, float, int]:
    """(thumbnail req/s, same-size original req/s, body bytes); ``work`` is unused (the live
    server keeps its own temporary folder)."""
    live.wrk_path()
    with live.serve() as server:
        client = server.client
        try:

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
        except (httpx.HTTPError, KeyError) as exc:
            raise Skipped(f"serving comparison failed: {exc}") from None
        derived: list[float] = []
        plain: list[float] = []
        for _ in range(ROUNDS):  # in turns, so load from elsewhere falls on both alike
            derived.append(live.wrk(thumb_url, connections=4, seconds=WRK_SECONDS))
            plain.append(live.wrk(copy_row["url"], connections=4, seconds=WRK_SECONDS))
    return statistics.median(derived), statistics.median(plain), len(thumb.content)
