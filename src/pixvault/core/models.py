"""Plain, frozen domain records passed between services and adapters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class ImageStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"  # stored, but its pixels could not be decoded: see failure_reason
    MISSING = "missing"  # the row is here, its bytes are not (found by the repair pass)


class Purpose(enum.StrEnum):
    VIEW = "view"
    DOWNLOAD = "download"

    @property
    def disposition(self) -> str:
        return "attachment" if self is Purpose.DOWNLOAD else "inline"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    is_admin: bool
    quota_used: int
    quota_limit: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user with the stored password hash: only the auth service sees this."""

    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class PhotoMetadata:
    """What a camera wrote about a photo (EXIF), as the owner sees it. A position only when the
    server keeps positions in stored files (PIXVAULT_STRIP_METADATA=none): never otherwise."""

    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    exposure: str | None = None  # e.g. "1/250"
    iso: int | None = None
    focal_length: float | None = None  # millimetres
    latitude: float | None = None  # decimal degrees, north positive
    longitude: float | None = None  # decimal degrees, east positive

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    owner_id: str
    storage_key: str
    original_name: str
    content_type: str
    size: int
    width: int
    height: int
    md5: str
    sha256: str
    tags: tuple[str, ...]
    is_public: bool
    status: ImageStatus
    uploaded_at: datetime
    # The pipeline's fields; defaults keep rows made before it (and simple tests) valid.
    upload_md5: str | None = None  # what the client sent, when stripping changed the bytes
    upload_sha256: str | None = None
    taken_at: datetime | None = None
    photo: PhotoMetadata | None = None
    failure_reason: str | None = None
    placeholder: str | None = None


@dataclass(frozen=True, slots=True)
class AccessEntry:
    image_id: str
    accessed_at: datetime
    purpose: Purpose
    ip: str


@dataclass(frozen=True, slots=True)
class ImageQuery:
    """What a gallery page asks for; ``search`` is matched literally, case-insensitively."""

    page: int = 1
    limit: int = 20
    tags: tuple[str, ...] = ()
    search: str = ""
    after_id: str | None = None
    """Keyset paging: only images older than this one (then ``page`` is ignored)."""
    peek: bool = False
    """Fetch one row beyond ``limit``, so the caller knows whether another page follows."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int
    next_cursor: str | None = None
    """Where the next page starts (keyset paging); None on the last page."""
    exact: bool = True
    """False when ``total`` is a lower bound (filtered counts stop at ``paging.COUNT_CAP``)."""

    @property
    def pages(self) -> int:
        return (self.total + self.limit - 1) // self.limit if self.limit else 0


@dataclass(frozen=True, slots=True)
class SignedUrl:
    url: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignedImage:
    image: Image
    url: SignedUrl
    # Links to the app's derivatives, signed with the same expiry as ``url``; None only where
    # no derivative service is wired (core tests).
    thumbnail: SignedUrl | None = None
    thumbnail_2x: SignedUrl | None = None
    preview: SignedUrl | None = None


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the bytes really are, read from headers without decoding pixels."""

    format: str  # "JPEG", "PNG", "GIF", "WEBP", "AVIF"
    mime: str
    ext: str
    width: int  # as displayed: EXIF orientation applied
    height: int
    frames: int = 1


@dataclass(slots=True)
class IncomingFile:
    """An uploaded file part already spooled to disk, hashed and size-checked while streaming."""

    original_name: str
    path: Path
    size: int
    md5: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Download:
    """A verified signed-URL request, ready to be served from local disk."""

    image: Image
    path: Path
    disposition: str
    max_age: int  # seconds the link has left: caches must not keep the bytes longer


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class UploadOptions:
    tags: tuple[str, ...] = ()
    is_public: bool = False
