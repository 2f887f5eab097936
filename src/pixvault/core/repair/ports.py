"""What the repair pass needs from the metadata store, beyond the everyday repos: bounded
batches only, so a pass over millions of rows and keys runs in constant memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pixvault.core.models import ImageStatus


@dataclass(frozen=True, slots=True)
class RowRef:
    """The columns a repair pass reads of an image row."""

    id: str
    owner_id: str
    storage_key: str
    status: ImageStatus


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    user_id: str
    used: int
    """``quota_used`` as found."""
    expected: int
    """What it should be: the sizes of the user's images plus reservations still in flight."""
    stale_reservations: int
    """Reservations older than the cut-off: uploads that died half-way."""
    images: int = 0
    """``image_count`` as found (the gallery's unfiltered total)."""
    images_expected: int = 0
    """How many image rows the user really has."""
    tags_wrong: int = 0
    """Per-tag image counts (a one-tag filter's total) that disagree with the tagged rows."""


class RepairRepo(Protocol):
    def rows_after(self, after_id: str | None, limit: int, owner_id: str | None) -> list[RowRef]:
        """Up to ``limit`` image rows with ids above ``after_id``, in id order."""
        ...

    def keys_of(self, image_ids: Sequence[str]) -> dict[str, str]:
        """The storage key of each of ``image_ids`` that has a row (the others are absent)."""
        ...

    def set_missing(self, image_id: str, missing: bool, reason: str) -> None:
        """Mark a row whose bytes are gone (``missing``), or back to ready once they are
        found again."""
        ...

    def users_after(self, after_id: str | None, limit: int) -> list[str]:
        """Up to ``limit`` user ids above ``after_id``, in order."""
        ...

    def check_quota(self, user_id: str, cutoff: datetime, *, repair: bool) -> QuotaCheck:
        """Compare ``quota_used`` with the truth in one transaction that locks the user's row
        (so an upload cannot slip in between); with ``repair``, drop the reservations older
        than ``cutoff`` and set ``quota_used`` to the expected value, in that transaction."""
        ...

    def check_search_index(self, *, repair: bool) -> int:
        """How many images the name-search index has out of step (0 where the database needs
        no index of its own); with ``repair``, rebuild it."""
        ...

    def take_lease(self, name: str, holder: str, now: datetime, until: datetime) -> bool:
        """Hold the named lease until ``until`` if it is free, expired, or already ours."""
        ...

    def drop_lease(self, name: str, holder: str) -> None: ...
