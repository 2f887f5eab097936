"""AuthService: accounts, passwords (argon2id) and bearer tokens (stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pixvault.core import keys
from pixvault.core.errors import (
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    RateLimited,
    Unauthenticated,
)
from pixvault.core.models import Session, User
from pixvault.core.names import has_invisible
from pixvault.core.ports import Clock, RateLimiter, TokenRepo, UserRepo
from pixvault.core.token_cache import TokenCache

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
MAX_EMAIL = 320
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # argon2 is slow on purpose; do not let one request hash a megabyte


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    allow_registration: bool
    default_quota: int
    token_ttl: int
    auth_rate_limit: str
    auth_failure_limit: str = "100/hour"


def normalize_email(raw: str) -> str:
    """NFC, trimmed and lower-cased, so one address typed two ways is one account; invisible
    and control characters (zero-width, bidi overrides, NUL) are refused, not stripped, so
    what the user sees is exactly what is stored."""
    email = unicodedata.normalize("NFC", raw).strip().lower()
    if has_invisible(email) or len(email) > MAX_EMAIL:
        raise InvalidInput("Enter a valid email address")
    return email


def token_hash(token: str) -> str:
    """SHA-256 is enough for 256-bit random tokens; a database dump yields no usable token."""
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(
        self,
        *,
        users: UserRepo,
        tokens: TokenRepo,
        limiter: RateLimiter,
        clock: Clock,
        policy: AuthPolicy,
        hasher: PasswordHasher | None = None,
        token_cache: TokenCache | None = None,
    ) -> None:
        self._cache = token_cache or TokenCache()
        self._users = users
        self._tokens = tokens
        self._limiter = limiter
        self._clock = clock
        self._policy = policy
        self._hasher = hasher or PasswordHasher()
        # Verified against when the email is unknown, so both failures take the same time.
        self._dummy_hash = self._hasher.hash(secrets.token_hex(16))

    def register(self, email: str, password: str, client_ip: str) -> User:
        self._limit("auth-ip", client_ip)
        if not self._policy.allow_registration:
            raise Forbidden("Registration is closed")
        return self.create_user(email, password)

    def create_user(
        self, email: str, password: str, *, quota: int | None = None, admin: bool | None = None
    ) -> User:
        """Shared by sign-up and the CLI, so both apply the same rules."""
        email = normalize_email(email)
        if not _EMAIL_RE.fullmatch(email):
            raise InvalidInput("Enter a valid email address")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(f"Password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")
        user = self._users.create(
            user_id=keys.new_id(),
            email=email,
            password_hash=self._hasher.hash(password),
            quota_limit=self._policy.default_quota if quota is None else quota,
            now=self._clock.now(),
        )
        if admin is not None and admin != user.is_admin:
            self._users.set_admin(user.id, admin)
        return self._users.get(user.id) or user

    def login(self, email: str, password: str, client_ip: str) -> Session:
        self._limit("auth-ip", client_ip)
        email = normalize_email(email)
        # Failed sign-ins count per email too, so many IPs cannot share one account's budget.
        # The attempt is counted before the password is checked, in one atomic hit: testing
        # first and counting after would let parallel guesses all pass the test. A success
        # gives its hit back, so only failures use up the budget.
        self._limit("auth-email", email)
        # And per hour (ASVS V2.2.1: at most 100 failed attempts an hour at one account), so a
        # patient guesser cannot use the per-minute budget sixty times over.
        self._limit("auth-email-hour", email, self._policy.auth_failure_limit)
        creds = self._users.get_credentials(email)
        if not self._password_ok(creds.password_hash if creds else None, password) or not creds:
            raise InvalidCredentials()
        self._limiter.refund(self._policy.auth_rate_limit, "auth-email", email)
        self._limiter.refund(self._policy.auth_failure_limit, "auth-email-hour", email)
        token = secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = (now + timedelta(seconds=self._policy.token_ttl)).replace(microsecond=0)
        self._tokens.add(
            token_hash=token_hash(token),
            user_id=creds.user.id,
            created_at=now,
            expires_at=expires_at,
        )
        return Session(token=token, expires_at=expires_at, user=creds.user)

    def _password_ok(self, stored: str | None, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return self._hasher.verify(stored or self._dummy_hash, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    def authenticate(self, token: str) -> User:
        if not token:
            raise Unauthenticated("Invalid or expired token")
        digest, now = token_hash(token), self._clock.now()
        user = self._cache.get(digest, now)
        if user is None:
            user = self._tokens.user_for(digest, now)
            if user is None:
                raise Unauthenticated("Invalid or expired token")
            self._cache.put(digest, user, now)
        return user

    def account(self, user: User) -> User:
        """The signed-in user as stored now (quota use changes with every upload, and the
        user from ``authenticate`` may be a few seconds old)."""
        fresh = self._users.get(user.id)
        if fresh is None:
            raise Unauthenticated("Invalid or expired token")
        return fresh

    def logout(self, token: str) -> None:
        digest = token_hash(token)
        self._tokens.revoke(digest)
        self._cache.forget(digest)

    def _limit(self, scope: str, key: str, limit: str | None = None) -> None:
        decision = self._limiter.hit(limit or self._policy.auth_rate_limit, scope, key)
        if not decision.allowed:
            raise RateLimited(decision.reset_after)
