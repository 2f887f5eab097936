"""In-memory metadata adapters with the same semantics as the SQL ones (for tests and demos).

All state lives in one ``MemoryDatabase`` behind one lock, which makes every method atomic the
way a single SQL transaction is: quota checks, all-or-nothing inserts and delete-with-refund
cannot interleave.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pixvault.core.errors import Conflict, NotFound
from pixvault.core.models import AccessEntry, Credentials, Image, ImageQuery, User
from pixvault.core.ports import ImagePatch
from pixvault.metadata import _rules

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pixvault.core.ports import ImageRepo, TokenRepo, UserRepo

# Aliases, because inside the repo class ``list`` names the method, not the builtin.
_ImagePage = tuple[list[Image], int]
_AccessPage = tuple[list[AccessEntry], int]


@dataclass(slots=True)
class _Token:
    user_id: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(slots=True)
class _Access:
    seq: int
    entry: AccessEntry


@dataclass(slots=True)
class _State:
    users: dict[str, User] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    user_by_email: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, _Token] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    image_by_key: dict[str, str] = field(default_factory=dict)
    access: dict[str, list[_Access]] = field(default_factory=dict)
    access_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class MemoryUserRepo:
    def __init__(self, db: MemoryDatabase) -> None:
        self._lock = db.lock
        self._s = db.state

    def create(
        self, *, user_id: str, email: str, password_hash: str, quota_limit: int, now: datetime
    ) -> User:
        email = _rules.normalize_email(email)
        created_at = _rules.utc(now)
        with self._lock:
            if email in self._s.user_by_email:
                raise Conflict(_rules.EMAIL_TAKEN)
            if user_id in self._s.users:
                raise Conflict("User already exists")
            user = User(
                id=user_id,
                email=email,
                is_admin=not self._s.users,
                quota_used=0,
                quota_limit=quota_limit,
                created_at=created_at,
            )
            self._s.users[user_id] = user
            self._s.passwords[user_id] = password_hash
            self._s.user_by_email[email] = user_id
            return user

    def get(self, user_id: str) -> User | None:
        with self._lock:
            return self._s.users.get(user_id)

    def get_credentials(self, email: str) -> Credentials | None:
        with self._lock:
            user_id = self._s.user_by_email.get(_rules.normalize_email(email))
            if user_id is None:
                return None
            return Credentials(
                user=self._s.users[user_id], password_hash=self._s.passwords[user_id]
            )

    def reserve_quota(self, user_id: str, nbytes: int) -> bool:
        _rules.check_amount(nbytes)
        if nbytes == 0:
            return True
        with self._lock:
            user = self._s.users.get(user_id)
            if user is None or user.quota_used + nbytes > user.quota_limit:
                return False
            self._s.users[user_id] = replace(user, quota_used=user.quota_used + nbytes)
            return True

    def release_quota(self, user_id: str, nbytes: int) -> None:
        _rules.check_amount(nbytes)
        with self._lock:
            _release(self._s, user_id, nbytes)

    def set_quota(self, user_id: str, limit: int) -> None:
        with self._lock:
            if (user := self._s.users.get(user_id)) is not None:
                self._s.users[user_id] = replace(user, quota_limit=limit)

    def set_admin(self, user_id: str, is_admin: bool) -> None:
        with self._lock:
            if (user := self._s.users.get(user_id)) is not None:
                self._s.users[user_id] = replace(user, is_admin=is_admin)


def _release(state: _State, user_id: str, nbytes: int) -> None:
    """Give back ``nbytes``, never going below zero. Caller holds the lock."""
    if (user := state.users.get(user_id)) is not None:
        state.users[user_id] = replace(user, quota_used=max(0, user.quota_used - nbytes))


class MemoryTokenRepo:
    def __init__(self, db: MemoryDatabase) -> None:
        self._lock = db.lock
        self._s = db.state

    def add(
        self, *, token_hash: str, user_id: str, created_at: datetime, expires_at: datetime
    ) -> None:
        token = _Token(user_id, _rules.utc(created_at), _rules.utc(expires_at))
        with self._lock:
            if token_hash in self._s.tokens or user_id not in self._s.users:
                raise Conflict("Token already exists or user is missing")
            self._s.tokens[token_hash] = token

    def user_for(self, token_hash: str, now: datetime) -> User | None:
        now = _rules.utc(now)
        with self._lock:
            token = self._s.tokens.get(token_hash)
            if token is None or token.revoked_at is not None or token.expires_at <= now:
                return None
            return self._s.users.get(token.user_id)

    def revoke(self, token_hash: str) -> None:
        with self._lock:
            token = self._s.tokens.get(token_hash)
            if token is not None and token.revoked_at is None:
                token.revoked_at = datetime.now(UTC)


class MemoryImageRepo:
    def __init__(self, db: MemoryDatabase) -> None:
        self._lock = db.lock
        self._s = db.state

    def add_many(self, images: Sequence[Image]) -> None:
        stored = [
            replace(
                image,
                tags=_rules.normalize_tags(image.tags),
                uploaded_at=_rules.utc(image.uploaded_at),
            )
            for image in images
        ]
        with self._lock:
            ids = {image.id for image in stored}
            keys = {image.storage_key for image in stored}
            if (
                len(ids) != len(stored)
                or len(keys) != len(stored)
                or any(i in self._s.images for i in ids)
                or any(k in self._s.image_by_key for k in keys)
                or any(image.owner_id not in self._s.users for image in stored)
            ):
                raise Conflict("Image already exists or owner is missing")
            for image in stored:
                self._s.images[image.id] = image
                self._s.image_by_key[image.storage_key] = image.id

    def get(self, owner_id: str, image_id: str) -> Image | None:
        with self._lock:
            image = self._s.images.get(image_id)
        return image if image is not None and image.owner_id == owner_id else None

    def get_by_key(self, storage_key: str) -> Image | None:
        with self._lock:
            image_id = self._s.image_by_key.get(storage_key)
            return None if image_id is None else self._s.images[image_id]

    def list(self, owner_id: str, query: ImageQuery) -> _ImagePage:
        offset = _rules.check_page(query.page, query.limit)
        wanted = set(query.tags)
        term = _rules.search_key(query.search)
        with self._lock:
            found = [
                image
                for image in self._s.images.values()
                if image.owner_id == owner_id
                and (not wanted or not wanted.isdisjoint(image.tags))
                and term in _rules.search_key(image.original_name)
            ]
        found.sort(key=lambda image: image.id, reverse=True)
        return found[offset : offset + query.limit], len(found)

    def update(self, owner_id: str, image_id: str, patch: ImagePatch) -> Image | None:
        with self._lock:
            image = self._s.images.get(image_id)
            if image is None or image.owner_id != owner_id:
                return None
            if patch.is_public is not None:
                image = replace(image, is_public=patch.is_public)
            if patch.tags is not None:
                image = replace(image, tags=_rules.normalize_tags(patch.tags))
            self._s.images[image_id] = image
            return image

    def delete_and_refund(self, owner_id: str, image_id: str) -> Image | None:
        with self._lock:
            image = self._s.images.get(image_id)
            if image is None or image.owner_id != owner_id:
                return None
            del self._s.images[image_id]
            del self._s.image_by_key[image.storage_key]
            self._s.access.pop(image_id, None)
            _release(self._s, owner_id, image.size)
            return image

    def add_access(self, entry: AccessEntry) -> None:
        entry = replace(entry, accessed_at=_rules.utc(entry.accessed_at))
        with self._lock:
            if entry.image_id not in self._s.images:
                raise NotFound("Image not found")
            log = self._s.access.setdefault(entry.image_id, [])
            log.append(_Access(next(self._s.access_seq), entry))

    def list_access(self, image_id: str, page: int, limit: int) -> _AccessPage:
        offset = _rules.check_page(page, limit)
        with self._lock:
            log = list(self._s.access.get(image_id, ()))
        log.sort(key=lambda access: access.seq, reverse=True)
        return [access.entry for access in log[offset : offset + limit]], len(log)

    def ping(self) -> None:
        """Memory always answers."""


class MemoryDatabase:
    """All in-memory state and its one lock; ``.users``, ``.tokens`` and ``.images`` share it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.state = _State()
        self.users = MemoryUserRepo(self)
        self.tokens = MemoryTokenRepo(self)
        self.images = MemoryImageRepo(self)

    def ping(self) -> None:
        """Memory always answers."""


if TYPE_CHECKING:

    def _conforms(db: MemoryDatabase) -> tuple[UserRepo, TokenRepo, ImageRepo]:
        """Lets mypy prove the repos satisfy the ports."""
        return db.users, db.tokens, db.images
