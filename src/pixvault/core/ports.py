"""Ports: what the core needs from the outside world. Adapters implement these Protocols.

Every adapter translates its library's errors at the border: a backend that does not answer is
``core.errors.Unavailable``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from pixvault.core.models import (
    AccessEntry,
    Credentials,
    Image,
    ImageQuery,
    User,
)
from pixvault.core.pipeline.specs import RenderResult, RenderSpec


class ImagePage(NamedTuple):
    """One gallery page from the repo: its images, the total that match, and whether that
    total is the real count (a capped count of a broad filter is not)."""

    images: list[Image]
    total: int
    exact: bool


AccessPage = tuple[list[AccessEntry], int]


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class BlobStore(Protocol):
    """Bytes only. Keys are made by the core; a store never invents or trusts other keys."""

    def put(self, key: str, path: Path, *, size: int, content_type: str) -> None:
        """Store the file at ``path`` (exactly ``size`` bytes, else ``OSError``) atomically:
        readers see all or nothing.

        The store may consume the file (local disk moves it into place rather than copying
        it); the caller must not read ``path`` afterwards and deletes it with
        ``missing_ok=True``.
        """
        ...

    def delete(self, key: str) -> None:
        """Remove the bytes; a missing key is not an error (deletes are retried)."""
        ...

    def exists(self, key: str) -> bool: ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key under ``prefix``: for repair jobs and the 'nothing stored' tests."""
        ...

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
        """A URL that lets anyone holding it GET the bytes until ``expires_at``.

        Must be pure computation (no I/O): a gallery page signs 100 of these. ``public`` marks an
        image its owner made public; a store with a public base URL (a CDN) may return a plain,
        unsigned link to it instead.
        """
        ...

    def local_path(self, key: str) -> Path | None:
        """Where the bytes are on this machine, if they are; None for remote stores."""
        ...

    def download_to(self, key: str, dest: Path) -> None:
        """Copy the bytes to the local file ``dest`` (image workers read files); a missing
        key is ``NotFound``."""
        ...

    def ping(self) -> None:
        """Raise ``Unavailable`` unless the store answers."""
        ...


class UserRepo(Protocol):
    def create(
        self, *, user_id: str, email: str, password_hash: str, quota_limit: int, now: datetime
    ) -> User:
        """Insert a user; the first user ever created becomes admin. Raises Conflict on a
        duplicate email (emails are compared case-insensitively)."""
        ...

    def get(self, user_id: str) -> User | None: ...

    def get_credentials(self, email: str) -> Credentials | None: ...

    def reserve_quota(
        self,
        user_id: str,
        nbytes: int,
        *,
        reservation: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Atomically add ``nbytes`` to used iff ``used + nbytes <= limit``. One conditional
        UPDATE: a read-then-write here would let parallel uploads overrun the quota.

        With ``reservation`` (an id), the same transaction records the bytes as held by an
        upload in flight, so a repair pass can tell a live upload from one that died. That
        commit may be lazy (not yet on disk when this returns): a power cut can lose it only
        together with everything after it that is not durable, i.e. before the rows that end
        it commit, and the repair pass deletes the bytes such an upload left."""
        ...

    def release_quota(self, user_id: str, nbytes: int, *, reservation: str | None = None) -> None:
        """Give back a reservation whose upload failed (nothing, if a repair pass already
        released that ``reservation``)."""
        ...

    def set_quota(self, user_id: str, limit: int) -> None: ...

    def set_admin(self, user_id: str, is_admin: bool) -> None: ...


class TokenRepo(Protocol):
    """Access tokens, stored only as hashes."""

    def add(
        self, *, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None: ...

    def user_for(self, token_hash: str, now: datetime) -> User | None:
        """The token's user if the token exists, is not revoked and has not expired."""
        ...

    def revoke(self, token_hash: str) -> None: ...


@dataclass(frozen=True, slots=True)
class ImagePatch:
    tags: tuple[str, ...] | None = None
    is_public: bool | None = None


class ImageRepo(Protocol):
    def add_many(self, images: Sequence[Image], *, reservation: str | None = None) -> None:
        """Insert all rows in one transaction: all or none. With ``reservation``, the same
        transaction ends it (the rows now charge those bytes); ``Conflict`` if it is gone."""
        ...

    def get(self, owner_id: str, image_id: str) -> Image | None:
        """Only the owner's image; someone else's is None, like a missing one."""
        ...

    def get_by_key(self, storage_key: str) -> Image | None: ...

    def list(self, owner_id: str, query: ImageQuery) -> ImagePage:
        """One page, newest first (by id, which is time-ordered), and the total that match.
        ``query.tags`` matches any tag; ``query.search`` is a literal, case-insensitive
        substring of the original name (``%`` and ``_`` match only themselves).
        ``query.after_id``: only images older than that one (keyset paging; ``page`` is then
        ignored). ``query.peek``: up to ``limit + 1`` rows. Totals of filtered queries are
        counted up to ``paging.COUNT_CAP + 1`` only, unless kept as counters: the unfiltered
        total and a single tag's are exact and cheap (counters kept in the same transactions
        as the rows), so a total past the cap may be exact or a lower bound."""
        ...

    def update(self, owner_id: str, image_id: str, patch: ImagePatch) -> Image | None: ...

    def delete_and_refund(self, owner_id: str, image_id: str) -> Image | None:
        """Delete the row and subtract its size from the owner's used quota, in one
        transaction. Of two concurrent deletes exactly one gets the image (one refund)."""
        ...

    def set_placeholder(self, image_id: str, placeholder: str) -> None:
        """Store the image's ThumbHash (base64); a deleted image is not an error."""
        ...

    def mark_failed(self, image_id: str, reason: str) -> None:
        """Status ``failed`` with the reason its owner sees: its pixels cannot be decoded."""
        ...

    def add_access(self, entry: AccessEntry) -> None: ...

    def list_access(self, image_id: str, page: int, limit: int) -> AccessPage:
        """Newest first."""
        ...

    def ping(self) -> None:
        """Raise ``Unavailable`` unless the database answers."""
        ...


class ImageProcessor(Protocol):
    """The pixel work (decode, orient, colour, resize, encode), kept out of the API process.

    Untrusted pixels: an adapter runs them where a crash or a stall cannot take the API with it.
    """

    def render(
        self,
        source: Path,
        specs: Sequence[RenderSpec],
        out: Sequence[Path],
        *,
        background: bool = False,
    ) -> RenderResult:
        """Decode ``source`` once and write each spec's output to the matching ``out`` path.

        ``background``: nobody waits for this job, so it may run at a lower priority.
        Raises ``Undecodable`` when the pixels cannot be decoded (a fact about the image), and
        ``Unavailable`` when the worker died twice (a fact about the machine: try again).
        """
        ...

    def can_encode(self, fmt: str) -> bool:
        """Whether ``fmt`` ("WEBP", "JPEG", "AVIF") can be written here."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until a slot frees up (the Retry-After value when not allowed)


class RateLimiter(Protocol):
    def hit(self, limit: str, *keys: str) -> RateDecision:
        """Count one request against ``limit`` (``limits`` notation, e.g. ``15/minute``)."""
        ...

    def test(self, limit: str, *keys: str) -> RateDecision:
        """Would a hit be allowed? Counts nothing."""
        ...

    def refund(self, limit: str, *keys: str) -> None:
        """Give back one earlier hit (e.g. a sign-in attempt that turned out to succeed)."""
        ...
