"""Value rules the SQL repos apply on the way in and out: UTC times, lower-cased emails,
search keys, LIKE escaping, tag sets, paging: pure functions, kept apart from the queries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

EMAIL_TAKEN = "Email already registered"


def utc(value: datetime) -> datetime:
    """Reject naive datetimes (their zone is a guess) and normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass a timezone-aware UTC datetime")
    return value.astimezone(UTC)


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively, so they are stored and looked up lower-cased."""
    return email.lower()


def search_key(name: str) -> str:
    """What name search matches against: casefold handles ß/ς etc., not just ASCII case."""
    return name.casefold()


def like_pattern(term: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching ``term`` literally as a substring."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def normalize_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """Tags are a set, returned sorted: duplicates would also break the (image, tag) key."""
    return tuple(sorted(set(tags)))


def check_amount(nbytes: int) -> None:
    if nbytes < 0:
        raise ValueError("byte amounts must not be negative")


def check_page(page: int, limit: int) -> int:
    """Validate paging and return the row offset."""
    if page < 1 or limit < 0:
        raise ValueError("page must be >= 1 and limit >= 0")
    return (page - 1) * limit
