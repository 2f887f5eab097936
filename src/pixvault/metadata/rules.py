"""Value rules the SQL repos apply on the way in and out: UTC times, lower-cased emails,
search keys, LIKE escaping, tag sets, paging: pure functions, kept apart from the queries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from pixvault.core.models import PhotoMetadata

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


def photo_to_json(photo: PhotoMetadata | None) -> str | None:
    """Only the fields a file had, compactly; nothing at all for a file without metadata."""
    if photo is None or photo.is_empty():
        return None
    values = {k: v for k, v in dataclasses.asdict(photo).items() if v is not None}
    return json.dumps(values, separators=(",", ":"), sort_keys=True)


def photo_from_json(text: str | None) -> PhotoMetadata | None:
    """Unknown keys (from a newer version) are ignored rather than failing the whole row."""
    if not text:
        return None
    known = {f.name for f in dataclasses.fields(PhotoMetadata)}
    values = {k: v for k, v in json.loads(text).items() if k in known}
    return PhotoMetadata(**values)
