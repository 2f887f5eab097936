"""Cleaning of user-supplied text that is kept as display metadata: filenames and tags."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from pixvault.core.errors import InvalidInput

MAX_NAME_LENGTH = 255
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
MAX_SEARCH_LENGTH = 255
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (zero-width, bidi override), surrogate, private-use, unassigned, and line
or paragraph separators: characters a person cannot see or type on purpose."""


def has_invisible(text: str) -> bool:
    return any(unicodedata.category(ch) in _INVISIBLE for ch in text)


def _tag_key(raw: str) -> str:
    """How a tag is compared and stored, so "Café" typed in decomposed form (as macOS input
    produces) is the same tag as the composed one."""
    return unicodedata.normalize("NFC", raw).strip().lower()


TAG_SEPARATOR = ","  # tags travel comma-separated (query filter, web app), so none holds one


def display_name(raw: str) -> str:
    """Basename only, control and bidi-override characters removed, at most 255 characters.

    The name is never used to build a path or a header; this keeps the UI and logs honest
    (an RTL override can make ``photo\u202egpj.exe`` look like ``photoexe.jpg``).
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    name = unicodedata.normalize("NFC", name).strip()
    if name in {"", ".", ".."}:
        name = "image"
    return name[:MAX_NAME_LENGTH]


def clean_tags(raw: list[object]) -> tuple[str, ...]:
    """Trimmed, lower-cased, de-duplicated (first occurrence kept), 1–50 chars, at most 20."""
    seen: dict[str, None] = {}
    for item in raw:
        if not isinstance(item, str):
            raise InvalidInput("Each tag must be a string")
        tag = _tag_key(item)
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise InvalidInput(f"Each tag must be 1–{MAX_TAG_LENGTH} characters")
        if has_invisible(tag):
            raise InvalidInput("Tags cannot contain control characters")
        if TAG_SEPARATOR in tag:
            raise InvalidInput("Tags cannot contain commas")
        seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags per image")
    return tuple(seen)


def tag_filter(raw: tuple[str, ...]) -> tuple[str, ...]:
    """Gallery filter tags, normalised exactly like stored tags; empty terms are dropped."""
    seen: dict[str, None] = {}
    for item in raw:
        tag = _tag_key(item)
        if has_invisible(tag):
            raise InvalidInput("Tags cannot contain control characters")
        if tag:
            seen.setdefault(tag, None)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"Filter by at most {MAX_TAGS} tags")
    return tuple(seen)


def search_term(raw: str) -> str:
    """A gallery search term in the form names are stored in (NFC, trimmed)."""
    term = unicodedata.normalize("NFC", raw).strip()
    if has_invisible(term):
        raise InvalidInput("Search cannot contain control characters")
    if len(term) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"Search must be at most {MAX_SEARCH_LENGTH} characters")
    return term


_UNSAFE_IN_HEADER = re.compile(r"[^A-Za-z0-9._ ()+-]")


def content_disposition(disposition: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback plus the exact UTF-8 name; no quote or CR/LF can escape.

    One implementation for the app's own downloads and for S3's response-content-disposition.
    """
    fallback = _UNSAFE_IN_HEADER.sub("_", filename)[:200] or "image"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
