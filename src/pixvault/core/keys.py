"""Server-made identifiers and storage keys. Nothing here ever takes a path from user input."""

from __future__ import annotations

import os
import re
import threading
import time

_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_KEY_RE = re.compile(
    r"^(?P<owner>[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})/"
    r"(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})"
    r"\.(?P<ext>jpg|png|gif|webp|avif)$"
)


_lock = threading.Lock()
_last = 0


def new_id() -> str:
    """A UUIDv7 (RFC 9562): 48-bit milliseconds then randomness, so ids sort by creation time.

    Sorting by id is how the gallery lists newest first without a separate timestamp index.
    Within one process ids are also strictly increasing, so files of one batch keep their order.
    """
    global _last
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)
    with _lock:
        if value <= _last:
            # Same millisecond: step past the previous id in the random tail (keeps version and
            # variant bits, which live above bit 61 and at bits 76-79, untouched).
            value = _last + 1
        _last = value
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_id(value: str) -> bool:
    """Ids that are not of our shape cannot exist, so callers answer 'not found' at once."""
    return bool(_ID_RE.fullmatch(value))


def storage_key(owner_id: str, image_id: str, ext: str) -> str:
    key = f"{owner_id}/{image_id}.{ext}"
    if not is_storage_key(key):
        raise ValueError(f"refusing to build a storage key from {owner_id!r}/{image_id!r}.{ext!r}")
    return key


def is_storage_key(key: str) -> bool:
    """Only keys of exactly our shape are ever used: no '..', no absolute paths, no separators."""
    return bool(_KEY_RE.fullmatch(key))
