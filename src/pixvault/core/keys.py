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
    r"\.(?P<ext>jpg|png|gif|webp|avif|heic|heif)$"
)

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
DERIVED_ROOT = "derived"
"""Derivatives live under a prefix of their own, so a repair pass can tell them from originals."""
_DERIVED_RE = re.compile(
    rf"^{DERIVED_ROOT}/(?P<owner>{_UUID})/(?P<id>{_UUID})/"
    r"(?P<name>thumb|thumb2x|preview|w[1-9][0-9]{1,3})\.(?P<ext>webp|jpg|avif)$"
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


def id_time(value: str) -> float:
    """When a UUIDv7 id was made (seconds since the epoch): the age of the upload (or the
    image) a key belongs to, read from the key itself."""
    if not is_id(value):
        raise ValueError(f"not an id: {value!r}")
    return int(value.replace("-", "")[:12], 16) / 1000


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


def derived_key(owner_id: str, image_id: str, name: str, ext: str) -> str:
    """``derived/{owner}/{image}/{name}.{ext}``: thumbnails, previews and width variants."""
    key = f"{DERIVED_ROOT}/{owner_id}/{image_id}/{name}.{ext}"
    if not is_derived_key(key):
        raise ValueError(f"refusing to build a derived key from {owner_id!r}/{image_id!r}/{name!r}")
    return key


def derived_prefix(owner_id: str, image_id: str) -> str:
    """Every derivative of one image, and nothing else, is under this prefix."""
    if not (is_id(owner_id) and is_id(image_id)):
        raise ValueError(f"refusing to build a derived prefix from {owner_id!r}/{image_id!r}")
    return f"{DERIVED_ROOT}/{owner_id}/{image_id}/"


def is_derived_key(key: str) -> bool:
    return bool(_DERIVED_RE.fullmatch(key))


def parse_derived_key(key: str) -> tuple[str, str, str, str] | None:
    """(owner id, image id, name, ext) of a derived key, or None if it is not of our shape."""
    found = _DERIVED_RE.fullmatch(key)
    if found is None:
        return None
    return found["owner"], found["id"], found["name"], found["ext"]


def parse_storage_key(key: str) -> tuple[str, str] | None:
    """(owner id, image id) of an original's key, or None if it is not of our shape."""
    found = _KEY_RE.fullmatch(key)
    return None if found is None else (found["owner"], found["id"])


def is_blob_key(key: str) -> bool:
    """What a blob store accepts: an original's key or a derivative's, nothing else."""
    return is_storage_key(key) or is_derived_key(key)
