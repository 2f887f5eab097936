"""Gallery paging: opaque keyset cursors and the cap on filtered counts.

A cursor names the last image of a page; the next page is the owner's images older than it
(ids are time-ordered), so inserts and deletes between two requests never shift or repeat
items, and page 5,000 costs what page 1 costs. A cursor only ever narrows a query that is
already scoped to its caller, so a forged one can reveal nothing: it is validated, not signed.
"""

from __future__ import annotations

import base64
import binascii

from pixvault.core import keys
from pixvault.core.errors import InvalidInput

COUNT_CAP = 10_000
"""Filtered totals (tags, search) are counted up to this many: counting every match of a
broad filter over 100,000 images would cost a scan per page. Unfiltered totals are exact
(a per-user counter)."""
_PREFIX = "i1."  # the cursor's version: a later kind (e.g. ordered by date taken) gets its own


def total_is_exact(total: int, *, filtered: bool) -> bool:
    """Whether a page's ``total`` is the real count: unfiltered totals always are (a counter);
    filtered ones only up to ``COUNT_CAP`` (the repo counts at most one past it)."""
    return not filtered or total <= COUNT_CAP


def encode_cursor(image_id: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + image_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The image id a cursor names; ``InvalidInput`` for anything this module did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    image_id = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not keys.is_id(image_id):
        raise InvalidInput("cursor is not one this server gave out")
    return image_id
