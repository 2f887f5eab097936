"""A few seconds of memory for "which user holds this token", per process.

Every API request starts with the token lookup; in a gallery under load it was one database
transaction in six. Entries live ``TOKEN_CACHE_SECONDS`` by the service's clock, so a token
revoked by *another* process (or expired) still works here for at most that long; signing out
through this process forgets it at once. What a cached user carries that can change (quota use)
is read fresh where it is shown (``AuthService.account``).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from pixvault.core.models import User

TOKEN_CACHE_SECONDS = 5.0
MAX_ENTRIES = 10_000
"""A bound on memory: past it the cache starts over (a burst of distinct tokens costs lookups,
never memory)."""


class TokenCache:
    def __init__(self, seconds: float = TOKEN_CACHE_SECONDS) -> None:
        self._ttl = timedelta(seconds=seconds)
        self._entries: dict[str, tuple[datetime, User]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str, now: datetime) -> User | None:
        with self._lock:
            found = self._entries.get(digest)
            if found is None:
                return None
            until, user = found
            # A clock that went back (tests, NTP) must not stretch an entry's life either.
            if not now < until or until - now > self._ttl:
                del self._entries[digest]
                return None
            return user

    def put(self, digest: str, user: User, now: datetime) -> None:
        if self._ttl <= timedelta(0):
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[digest] = (now + self._ttl, user)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)
