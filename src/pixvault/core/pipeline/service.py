"""DerivativeService: thumbnails, previews and width variants, made off the request path.

After an upload the service renders the thumbnail and the preview in the background (the
upload never waits). A link that finds its derivative missing (not made yet, lost, or a crash
in between) makes it on demand, once per process however many ask at the same time, so
correctness needs no job queue: the worst a crash leaves is a derivative made a little later.
"""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import math
import os
import tempfile
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from PIL import Image as PilImage

from pixvault.core import faults, keys, signing
from pixvault.core.errors import BadSignature, InvalidInput, NotFound, Unavailable
from pixvault.core.models import Image, ImageStatus, SignedUrl, User
from pixvault.core.pipeline import specs
from pixvault.core.pipeline.flight import SingleFlight
from pixvault.core.pipeline.specs import RenderSpec, Undecodable
from pixvault.core.ports import BlobStore, Clock, ImageProcessor, ImageRepo

log = logging.getLogger(__name__)

REDIRECT_TTL = 600
"""Seconds a store link handed out by a redirect lives: short, it is made per request."""
VARIANT_MAX_AGE = 300
MAX_REASON = 500  # the failure_reason column
_LINKED = tuple(
    (spec.name, f"{spec.name}.{spec.ext}")
    for spec in (specs.THUMB_SPEC, specs.THUMB_2X_SPEC, specs.PREVIEW_SPEC)
)
"""(spec name, file name under the image's derived prefix) of the derivatives a page links."""


@cache
def unavailable_webp() -> bytes:
    """The neutral placeholder served for an image whose pixels cannot be decoded."""
    out = io.BytesIO()
    PilImage.new("RGB", (64, 64), (205, 205, 205)).save(out, "WEBP", lossless=True)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Served:
    """How to answer a derivative request: exactly one of ``path`` (a local file to send),
    ``url`` (redirect to the store) or ``data`` (the neutral placeholder) is set."""

    content_type: str
    max_age: int
    path: Path | None = None
    url: str | None = None
    data: bytes | None = None


class DerivativeService:
    def __init__(
        self,
        *,
        images: ImageRepo,
        blobs: BlobStore,
        processor: ImageProcessor,
        clock: Clock,
        url_secret: bytes,
        work_dir: Path,
        background_workers: int,
        background: bool = True,
    ) -> None:
        self._images = images
        self._blobs = blobs
        self._processor = processor
        self._clock = clock
        self._secret = url_secret
        self._signer = signing.Signer(url_secret)
        self._work_dir = work_dir
        self._flights = SingleFlight()
        self._background_on = background
        self._background = ThreadPoolExecutor(background_workers, thread_name_prefix="derive")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.renders: collections.Counter[str] = collections.Counter()
        """Renders per derived key: for metrics, and for tests that a derivative is made once."""
        self._failed = 0

    # --- links --------------------------------------------------------------------------------

    def links(self, row: Image, expires_at: datetime) -> dict[str, SignedUrl]:
        """Thumbnail (1x and 2x) and preview links by spec name, valid from the moment of
        upload (made on first fetch if the background job has not finished): paths on this
        app, whatever the store. The 2x thumbnail is made only when a screen asks for it."""
        exp = int(expires_at.timestamp())
        # One id check per image, not one key check per link: the names are our constants.
        prefix = keys.derived_prefix(row.owner_id, row.id)
        # The same HMAC as the local store's links; a derived key never looks like an
        # original's, so a signature for one cannot open the other.
        return {
            name: SignedUrl(self._signer.derived_link(prefix + file, exp), expires_at)
            for name, file in _LINKED
        }

    @staticmethod
    def _key(row: Image, spec: RenderSpec) -> str:
        return keys.derived_key(row.owner_id, row.id, spec.name, spec.ext)

    # --- background ---------------------------------------------------------------------------

    def schedule(self, rows: Sequence[Image]) -> None:
        """Make each image's thumbnail and preview soon, in the background (never waited for).

        Off (``PIXVAULT_BACKGROUND_DERIVATIVES=false``): each is made on its first fetch only,
        e.g. for a bulk import on a small machine that should spend no CPU on unseen images.
        """
        if not self._background_on:
            return
        for row in rows:
            future = self._background.submit(self._make_both, row)
            with self._lock:
                self._pending.add(future)
            future.add_done_callback(self._finished)

    def _finished(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _make_both(self, row: Image) -> None:
        wanted = (specs.THUMB_SPEC, specs.PREVIEW_SPEC)
        try:
            self._flights.run(
                [self._key(row, s) for s in wanted],
                lambda: self._render(row, wanted, background=True),
            )
        except Undecodable:
            pass  # the row says so now
        except Unavailable as exc:  # e.g. starved at idle priority: the first fetch makes them
            log.info("derivatives of image %s were not made in the background: %s", row.id, exc)
        except Exception:
            # Not fatal: the first fetch of each link makes what is missing.
            log.exception("derivatives of image %s were not made in the background", row.id)

    def remake(self, rows: Sequence[Image]) -> None:
        """Make each image's thumbnail and preview now, on the background lane, and wait for
        them (the repair pass: derivatives lost, or never made before a crash)."""
        wait([self._background.submit(self._make_both, row) for row in rows])

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait for background work queued so far; False if some is still running."""
        with self._lock:
            pending = list(self._pending)
        return not wait(pending, timeout).not_done

    def stats(self) -> dict[str, int]:
        """Counters for ``/metrics``: derivatives stored, images found undecodable."""
        with self._lock:
            return {
                "derivative_renders_total": sum(self.renders.values()),
                "derivative_failures_total": self._failed,
            }

    # --- serving ------------------------------------------------------------------------------

    def open_link(self, key: str, expires: str, signature: str) -> Served:
        """Verify a thumbnail/preview link, make the derivative if missing, say how to serve it."""
        parsed = keys.parse_derived_key(key)
        if parsed is None:
            raise BadSignature()
        now = self._clock.now()
        exp = signing.check(self._secret, key, expires, "inline", signature, now.timestamp())
        owner_id, image_id, name, ext = parsed
        spec = specs.spec_for(name, ext)
        row = self._images.get(owner_id, image_id)
        if row is None or spec is None:
            raise NotFound("Image not found")
        max_age = max(0, math.floor(exp - now.timestamp()))
        return self._serve(row, spec, max_age, min(exp, int(now.timestamp()) + REDIRECT_TTL))

    def variant(
        self, owner: User, image_id: str, width: int, fmt: str | None, accept: str
    ) -> Served:
        """The owner's image ``width`` pixels wide (never enlarged), in ``fmt`` or the best
        format the ``Accept`` header allows."""
        if width not in specs.VARIANT_WIDTHS:
            allowed = ", ".join(map(str, specs.VARIANT_WIDTHS))
            raise InvalidInput(f"w must be one of {allowed}")
        chosen = fmt.upper() if fmt else None
        if chosen is not None and chosen not in specs.FORMATS:
            raise InvalidInput("format must be webp, jpeg or avif")
        if chosen is not None and not self._processor.can_encode(chosen):
            raise InvalidInput(f"{fmt} is not supported by this server")
        if chosen is None:
            chosen = specs.negotiate(accept, avif=self._processor.can_encode("AVIF"))
        row = self._images.get(owner.id, image_id) if keys.is_id(image_id) else None
        if row is None:
            raise NotFound("Image not found")
        expires = int(self._clock.now().timestamp()) + REDIRECT_TTL
        return self._serve(row, specs.variant_spec(width, chosen), VARIANT_MAX_AGE, expires)

    def _serve(self, row: Image, spec: RenderSpec, max_age: int, url_expires: int) -> Served:
        if row.status in (ImageStatus.FAILED, ImageStatus.MISSING):
            return Served("image/webp", max_age, data=unavailable_webp())
        key = self._key(row, spec)
        # On local disk the path is the existence check (one resolve per request, not two).
        path = self._blobs.local_path(key)
        try:
            if path is None and not self._blobs.exists(key):
                self._flights.run([key], lambda: self._render(row, [spec]))
                path = self._blobs.local_path(key)
        except Undecodable:
            return Served("image/webp", max_age, data=unavailable_webp())
        if path is not None:
            return Served(spec.content_type, max_age, path=path)
        url = self._blobs.presign(
            key,
            expires_at=datetime.fromtimestamp(url_expires, UTC),
            content_type=spec.content_type,
            disposition="inline",
            filename=f"{spec.name}.{spec.ext}",
            public=row.is_public,
        )
        # A cached redirect must not outlive the store link it points at.
        left = url_expires - int(self._clock.now().timestamp()) - 60
        return Served(spec.content_type, max(0, min(max_age, left)), url=url)

    # --- rendering ----------------------------------------------------------------------------

    def _render(
        self, row: Image, wanted: Sequence[RenderSpec], *, background: bool = False
    ) -> None:
        """Render, store, record; an undecodable image is marked failed (and re-raised)."""
        with self._temp_files(len(wanted) + 1) as temps:
            source = self._blobs.local_path(row.storage_key)
            if source is None:
                source = temps[-1]
                self._blobs.download_to(row.storage_key, source)
            try:
                result = self._processor.render(
                    source, wanted, temps[: len(wanted)], background=background
                )
            except Undecodable as exc:
                log.warning("image %s cannot be decoded: %s", row.id, exc.reason)
                self._images.mark_failed(row.id, exc.reason[:MAX_REASON])
                with self._lock:
                    self._failed += 1
                raise
            faults.point("derivative.rendered")
            if result.placeholder is not None:
                # Before the thumbnail is stored: a crash in between re-renders it (and this).
                self._images.set_placeholder(row.id, result.placeholder)
            for spec, path, made in zip(wanted, temps, result.outputs, strict=False):
                key = self._key(row, spec)
                with self._lock:
                    self.renders[key] += 1
                self._blobs.put(key, path, size=made.size, content_type=spec.content_type)
                faults.point("derivative.stored")
        # Deleted while we rendered? Its delete may have purged before our puts landed.
        if self._images.get(row.owner_id, row.id) is None:
            self.purge(row)

    @contextlib.contextmanager
    def _temp_files(self, count: int) -> Iterator[list[Path]]:
        """Files in the spool folder (a crash leaves them to the next start's sweep)."""
        self._work_dir.mkdir(parents=True, exist_ok=True)
        made: list[Path] = []
        try:
            for _ in range(count):
                fd, name = tempfile.mkstemp(dir=self._work_dir, prefix="derive-")
                os.close(fd)
                made.append(Path(name))
            yield made
        finally:
            for path in made:
                path.unlink(missing_ok=True)

    # --- delete -------------------------------------------------------------------------------

    def purge(self, row: Image) -> None:
        """Delete every derivative of ``row`` (best effort: after its row is gone)."""
        prefix = keys.derived_prefix(row.owner_id, row.id)
        for key in list(self._blobs.iter_keys(prefix)):
            self._blobs.delete(key)

    def close(self) -> None:
        """Stop background work: queued jobs are dropped (their links make them on demand)."""
        self._background.shutdown(wait=True, cancel_futures=True)
