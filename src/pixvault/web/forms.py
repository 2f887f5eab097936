"""Turning form and query strings into domain values, with the contract's exact spellings."""

from __future__ import annotations

import json

from pixvault.core.errors import InvalidInput
from pixvault.core.models import UploadOptions
from pixvault.core.names import TAG_SEPARATOR, clean_tags


def _single(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name, [])
    if len(values) > 1:
        raise InvalidInput(f"'{name}' was sent more than once")
    return values[0] if values else None


def parse_bool(raw: str | None, name: str) -> bool:
    if raw is None or raw == "":
        return False
    if raw not in ("true", "false"):
        raise InvalidInput(f'\'{name}\' must be "true" or "false"')
    return raw == "true"


def upload_options(fields: dict[str, list[str]]) -> UploadOptions:
    """``tags`` is a JSON array string and ``isPublic`` "true"/"false"; ``userId`` is ignored:
    the owner is always the token's user."""
    raw_tags = _single(fields, "tags")
    tags: tuple[str, ...] = ()
    if raw_tags not in (None, ""):
        try:
            parsed = json.loads(raw_tags)
        except (ValueError, RecursionError):
            # RecursionError: a few thousand nested brackets (well under the field cap) are
            # enough to exhaust the JSON decoder's recursion; that is bad input, not a bug.
            raise InvalidInput("'tags' must be a JSON array of strings") from None
        if not isinstance(parsed, list):
            raise InvalidInput("'tags' must be a JSON array of strings")
        tags = clean_tags(parsed)
    return UploadOptions(tags=tags, is_public=parse_bool(_single(fields, "isPublic"), "isPublic"))


def tag_filter(raw: str | None) -> tuple[str, ...]:
    """The comma-separated ``tags`` filter as terms; the core normalises and checks them."""
    return tuple(raw.split(TAG_SEPARATOR)) if raw else ()
