"""S3 uploads against a real SeaweedFS: multipart above the part size, byte-identical reads,
failed multipart uploads aborted, and memory bounded by parts, not by the file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from botocore.exceptions import ConnectionClosedError

from pixvault.core import keys
from pixvault.core.errors import Unavailable
from pixvault.storage.s3 import PART_SIZE, S3BlobStore
from tests.services.seaweed import SeaweedServer

MIB = 1024 * 1024


def _key(ext: str = "jpg") -> str:
    return keys.storage_key(keys.new_id(), keys.new_id(), ext)


def _random_file(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        for offset in range(0, size, MIB):
            fh.write(os.urandom(min(MIB, size - offset)))
    return path


def _get(store: S3BlobStore, key: str) -> bytes:
    from datetime import UTC, datetime, timedelta

    url = store.presign(
        key,
        expires_at=datetime.now(UTC) + timedelta(minutes=5),
        content_type="image/jpeg",
        disposition="inline",
        filename="x.jpg",
    )
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return r.content


def test_large_put_is_multipart_and_round_trips(
    seaweed: SeaweedServer, s3_store: S3BlobStore, tmp_path: Path
) -> None:
    src = _random_file(tmp_path / "upload-big", 20 * MIB + 123)
    data = src.read_bytes()
    key = _key()
    s3_store.put(key, src, size=len(data), content_type="image/jpeg")
    head = seaweed.client().head_object(Bucket=seaweed.bucket, Key=s3_store.prefix + key)
    parts = -(-len(data) // PART_SIZE)
    assert head["ETag"].strip('"').endswith(f"-{parts}")  # multipart ETag: md5-of-md5s-N
    assert head["ContentType"] == "image/jpeg"
    assert hashlib.sha256(_get(s3_store, key)).digest() == hashlib.sha256(data).digest()
    assert src.read_bytes() == data  # the S3 store leaves the caller's file alone


def test_put_replaces_whole_object(s3_store: S3BlobStore, tmp_path: Path) -> None:
    key = _key()
    (tmp_path / "a").write_bytes(b"first version")
    (tmp_path / "b").write_bytes(b"second")
    s3_store.put(key, tmp_path / "a", size=13, content_type="image/jpeg")
    s3_store.put(key, tmp_path / "b", size=6, content_type="image/jpeg")
    assert _get(s3_store, key) == b"second"


def test_failed_multipart_put_is_aborted(seaweed: SeaweedServer, tmp_path: Path) -> None:
    """The connection drops while the second part is sent (raised where botocore would send
    it, on the real client talking to the real server): the put is ``Unavailable`` and the
    multipart upload, which did exist on the server, has been aborted."""
    store = seaweed.store(max_attempts=1)
    src = _random_file(tmp_path / "upload-big", 3 * PART_SIZE)
    key = _key()
    lock = threading.Lock()
    in_flight: list[object] = []

    def drop_second_part(request: Any, **kwargs: Any) -> None:
        if "partNumber=2&" not in f"{urlsplit(request.url).query}&":
            return
        with lock:  # every attempt at part 2 fails (botocore retries it once here)
            if not in_flight:
                uploads = seaweed.client().list_multipart_uploads(
                    Bucket=seaweed.bucket, Prefix=store.prefix
                )
                in_flight.extend(uploads.get("Uploads", []))
        raise ConnectionClosedError(endpoint_url=request.url)

    store._client.meta.events.register("before-send.s3.UploadPart", drop_second_part)
    with pytest.raises(Unavailable) as info:
        store.put(key, src, size=3 * PART_SIZE, content_type="image/jpeg")
    assert isinstance(info.value.__cause__, ConnectionClosedError)
    assert len(in_flight) == 1  # the failure happened inside a real multipart upload
    assert not store.exists(key)
    uploads = seaweed.client().list_multipart_uploads(Bucket=seaweed.bucket, Prefix=store.prefix)
    assert uploads.get("Uploads", []) == []


_RSS_PROBE = """
import os, sys
from pathlib import Path
from pixvault.core import keys
from pixvault.storage.s3 import S3BlobStore

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024  # kB

endpoint, access, secret, bucket, prefix, big = sys.argv[1:]
store = S3BlobStore(bucket, prefix, endpoint, "us-east-1", access, secret)
key = lambda: keys.storage_key(keys.new_id(), keys.new_id(), "jpg")
small = Path(big + ".small")
small.write_bytes(b"warm-up")
store.put(key(), small, size=7, content_type="image/jpeg")  # botocore's models, the pools
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
before = status("VmRSS")
store.put(key(), Path(big), size=os.path.getsize(big), content_type="image/jpeg")
print(before, status("VmHWM"))
"""


@pytest.mark.slow
@pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc to reset the peak"
)
def test_put_peak_rss_grows_by_parts_not_by_file(seaweed: SeaweedServer, tmp_path: Path) -> None:
    """A 50 MiB put in a fresh process: the peak RSS grows by a few parts at most (measured
    ~11 MiB), never by the file size (``upload_fileobj`` with the same config: ~58 MiB)."""
    size = 50 * MIB
    big = _random_file(tmp_path / "upload-big", size)
    prefix = f"rss-{keys.new_id()}"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _RSS_PROBE,
            seaweed.endpoint_url,
            seaweed.access_key,
            seaweed.secret_key,
            seaweed.bucket,
            prefix,
            str(big),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    growth = after - before
    print(f"peak RSS growth of a {size // MIB} MiB put: {growth / MIB:.1f} MiB")
    assert growth < 3 * PART_SIZE, f"peak RSS grew {growth / MIB:.1f} MiB"
