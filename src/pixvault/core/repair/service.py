"""The repair pass (``pixvault fsck``): bytes and rows must agree, and quotas must add up.

Why each write order is repairable (see also ``ImageService`` and ``DerivativeService``):

- **Upload**: reserve quota (+ a reservation row, one transaction) → put the bytes → insert the
  image rows and end the reservation (one transaction). A crash after the reserve leaves a
  reservation; after the put, also bytes without a row. Both are older than the grace period
  by the next pass, which deletes the bytes and gives the reservation back.
- **Delete**: delete the row and refund (one transaction) → delete the bytes → delete the
  derivatives. A crash in between leaves bytes without a row: deleted by the pass.
- **Derivative**: render → store the placeholder → put each file. A crash leaves a derivative
  missing (made on its first fetch, or re-made here) or, if the row went meanwhile, files
  without a row (deleted here).
- **Quota change**: every change is one transaction with the rows (or reservations) it
  accounts for, so drift only comes from a bug or a hand edit; recomputed per user under the
  user's row lock.

Memory stays flat however large the store: keys are read as a stream and checked against the
database in batches of ``BATCH`` ids, rows are read in keyset batches, users one at a time.
Ages come from the keys themselves (UUIDv7 ids carry their creation time), so no listing of
object timestamps is needed and every store works the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice

from pixvault.core import keys
from pixvault.core.models import ImageStatus
from pixvault.core.pipeline import specs
from pixvault.core.ports import BlobStore, Clock
from pixvault.core.repair.ports import RepairRepo, RowRef

BATCH = 1000
SAMPLES = 20
"""Keys or ids kept per finding, to show; counts are exact."""
MISSING_REASON = "The stored file is missing; delete this image (and upload it again if you can)"
EXPECTED = (specs.THUMB_SPEC, specs.PREVIEW_SPEC)
"""The derivatives every ready image should have (others are made on first request)."""


@dataclass
class Finding:
    """One kind of problem: how many were found and fixed, and a few examples."""

    name: str
    found: int = 0
    repaired: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, example: str, *, repaired: bool) -> None:
        self.found += 1
        self.repaired += repaired
        if len(self.samples) < SAMPLES:
            self.samples.append(example)

    @property
    def left(self) -> int:
        return self.found - self.repaired


@dataclass
class Report:
    orphan_originals: Finding = field(default_factory=lambda: Finding("orphan originals"))
    orphan_derivatives: Finding = field(default_factory=lambda: Finding("orphan derivatives"))
    missing_bytes: Finding = field(default_factory=lambda: Finding("rows without their bytes"))
    found_again: Finding = field(default_factory=lambda: Finding("missing bytes found again"))
    missing_derivatives: Finding = field(
        default_factory=lambda: Finding("ready images without derivatives")
    )
    quota_drift: Finding = field(default_factory=lambda: Finding("users with quota drift"))
    search_index: Finding = field(default_factory=lambda: Finding("name search index out of step"))
    stale_reservations: Finding = field(
        default_factory=lambda: Finding("uploads that died half-way (reservations)")
    )
    foreign_keys: int = 0
    """Keys in the store that pixvault never makes (left alone, only counted)."""
    too_young: int = 0
    """Unreferenced keys younger than the grace period: perhaps an upload in flight."""
    keys_seen: int = 0
    rows_seen: int = 0
    users_seen: int = 0

    def findings(self) -> list[Finding]:
        return [v for v in vars(self).values() if isinstance(v, Finding)]

    @property
    def problems_left(self) -> int:
        # Bytes found again are good news, not a problem.
        return sum(f.left for f in self.findings() if f is not self.found_again)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            f.name: {"found": f.found, "repaired": f.repaired, "samples": f.samples}
            for f in self.findings()
        }
        out.update(
            foreign_keys=self.foreign_keys,
            too_young=self.too_young,
            keys_seen=self.keys_seen,
            rows_seen=self.rows_seen,
            users_seen=self.users_seen,
            problems_left=self.problems_left,
        )
        return out


@dataclass(frozen=True, slots=True)
class Options:
    repair: bool = False
    grace: timedelta = timedelta(hours=1)
    owner_id: str | None = None
    """Only this user's keys, rows and quota."""
    derivatives: bool = True
    """Whether ready images are expected to have their derivatives (background rendering on)."""


Progress = Callable[[str, int], None]
"""Called now and then with a phase name and how many items it has done."""


class RepairService:
    def __init__(
        self,
        *,
        repo: RepairRepo,
        blobs: BlobStore,
        clock: Clock,
        remake: Callable[[Sequence[RowRef]], None],
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._clock = clock
        self._remake = remake

    def run(self, options: Options, progress: Progress | None = None) -> Report:
        report = Report()
        tick = progress or (lambda phase, done: None)
        cutoff = self._clock.now() - options.grace
        self._orphans(options, cutoff, report, tick)
        self._rows(options, report, tick)
        self._quotas(options, cutoff, report, tick)
        # The index is rebuilt whole (a second or so per 100,000 images), so once per pass.
        if wrong := self._repo.check_search_index(repair=options.repair):
            report.search_index.add(f"{wrong} images", repaired=options.repair)
        return report

    # --- bytes without a row ------------------------------------------------------------------

    def _orphans(self, options: Options, cutoff: datetime, report: Report, tick: Progress) -> None:
        prefixes = [""]
        if options.owner_id is not None:
            prefixes = [f"{options.owner_id}/", f"{keys.DERIVED_ROOT}/{options.owner_id}/"]
        for prefix in prefixes:
            for batch in _batches(self._blobs.iter_keys(prefix), BATCH):
                self._orphan_batch(batch, options, cutoff.timestamp(), report)
                tick("keys", report.keys_seen)

    def _orphan_batch(
        self, batch: list[str], options: Options, cutoff: float, report: Report
    ) -> None:
        parsed: list[tuple[str, str, bool]] = []  # (key, image id, is an original)
        for key in batch:
            report.keys_seen += 1
            original = keys.parse_storage_key(key)
            derived = None if original else keys.parse_derived_key(key)
            if original is None and derived is None:
                report.foreign_keys += 1  # not ours to judge
                continue
            image_id = original[1] if original else derived[1]  # type: ignore[index]
            parsed.append((key, image_id, original is not None))
        rows = self._repo.keys_of(sorted({image_id for _, image_id, _ in parsed}))
        for key, image_id, is_original in parsed:
            stored = rows.get(image_id)
            if stored is not None and (stored == key or not is_original):
                continue  # referenced
            if keys.id_time(image_id) > cutoff:
                report.too_young += 1  # perhaps an upload (or a render) still in flight
                continue
            finding = report.orphan_originals if is_original else report.orphan_derivatives
            if options.repair:
                self._blobs.delete(key)
            finding.add(key, repaired=options.repair)

    # --- rows without bytes, ready images without derivatives ---------------------------------

    def _rows(self, options: Options, report: Report, tick: Progress) -> None:
        after: str | None = None
        while batch := self._repo.rows_after(after, BATCH, options.owner_id):
            after = batch[-1].id
            remake: list[RowRef] = []
            for row in batch:
                report.rows_seen += 1
                present = self._row_bytes(row, options, report)
                if present and options.derivatives and self._lacks_derivatives(row):
                    report.missing_derivatives.add(row.id, repaired=options.repair)
                    remake.append(row)
            if remake and options.repair:
                self._remake(remake)
            tick("rows", report.rows_seen)

    def _row_bytes(self, row: RowRef, options: Options, report: Report) -> bool:
        """Check (and mark) the row's original; True if its bytes are there."""
        present = self._blobs.exists(row.storage_key)
        if row.status is ImageStatus.MISSING:
            if present:  # restored: back to ready (its derivatives are made on first fetch)
                if options.repair:
                    self._repo.set_missing(row.id, False, "")
                report.found_again.add(row.id, repaired=options.repair)
            else:
                report.missing_bytes.add(row.id, repaired=True)  # marked already: reported
            return False
        if not present:
            if options.repair:
                self._repo.set_missing(row.id, True, MISSING_REASON)
            report.missing_bytes.add(row.id, repaired=options.repair)
        return present

    def _lacks_derivatives(self, row: RowRef) -> bool:
        """A ready image without its thumbnail or preview (failed ones have none)."""
        return row.status is ImageStatus.READY and not all(
            self._blobs.exists(keys.derived_key(row.owner_id, row.id, s.name, s.ext))
            for s in EXPECTED
        )

    # --- quota --------------------------------------------------------------------------------

    def _quotas(self, options: Options, cutoff: datetime, report: Report, tick: Progress) -> None:
        for user_id in self._user_ids(options.owner_id):
            check = self._repo.check_quota(user_id, cutoff, repair=options.repair)
            report.users_seen += 1
            for _ in range(check.stale_reservations):
                report.stale_reservations.add(user_id, repaired=options.repair)
            if check.used != check.expected:
                detail = f"{user_id}: used {check.used}, expected {check.expected}"
                report.quota_drift.add(detail, repaired=options.repair)
            if check.images != check.images_expected:
                detail = f"{user_id}: {check.images} images counted, {check.images_expected} found"
                report.quota_drift.add(detail, repaired=options.repair)
            if check.tags_wrong:
                detail = f"{user_id}: {check.tags_wrong} tag counts wrong"
                report.quota_drift.add(detail, repaired=options.repair)
            tick("users", report.users_seen)

    def _user_ids(self, only: str | None) -> Iterator[str]:
        if only is not None:
            yield only
            return
        after: str | None = None
        while batch := self._repo.users_after(after, BATCH):
            yield from batch
            after = batch[-1]


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch
