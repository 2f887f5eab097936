"""An in-memory BlobStore for fast core tests: same semantics as the real stores, no disk.

Like the local store it consumes the source file on success (the port allows it), so a core
test fails if a caller reads the spooled file again after ``put``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from pixvault.core import keys
from pixvault.core.errors import NotFound


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self.fail_next_put: Exception | None = None  # lets core tests inject a storage fault

    def put(self, key: str, path: Path, *, size: int, content_type: str) -> None:
        if not keys.is_blob_key(key):
            raise ValueError(f"refusing storage key {key!r}")
        if self.fail_next_put is not None:
            exc, self.fail_next_put = self.fail_next_put, None
            raise exc
        data = path.read_bytes()
        if len(data) != size:
            raise OSError(f"expected {size} bytes for {key}, read {len(data)}")
        with self._lock:
            self.blobs[key] = (data, content_type)
        path.unlink()

    def download_to(self, key: str, dest: Path) -> None:
        with self._lock:
            found = self.blobs.get(key)
        if found is None:
            raise NotFound("Image not found")
        dest.write_bytes(found[0])

    def delete(self, key: str) -> None:
        with self._lock:
            self.blobs.pop(key, None)

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        with self._lock:
            found = [k for k in self.blobs if k.startswith(prefix)]
        yield from found

    def presign(
        self,
        key: str,
        *,
        expires_at: datetime,
        content_type: str,
        disposition: str,
        filename: str,
        public: bool = False,
    ) -> str:
        return f"memory://{quote(key)}?exp={int(expires_at.timestamp())}&disp={disposition}"

    def local_path(self, key: str) -> Path | None:
        return None

    def ping(self) -> None:
        return None
