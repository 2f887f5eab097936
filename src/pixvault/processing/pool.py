"""A bounded pool of worker processes doing the pixel work, so untrusted images can neither
block the event loop nor take the API process down with a decoder crash.

Workers come from a ``forkserver`` (``spawn`` where there is none): never ``fork`` from a
threaded server, whose copied locks may be held by threads that do not exist in the child.
A worker that dies breaks its ``ProcessPoolExecutor``; the pool is then replaced and the job
tried once more, and a second death is ``Unavailable`` (the caller may retry later).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pixvault.core.errors import Unavailable
from pixvault.core.pipeline.specs import RenderResult, RenderSpec
from pixvault.processing import render as worker

log = logging.getLogger(__name__)
_ATTEMPTS = 2


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Workers fork from a server that already imported Pillow: a new one starts in ms.
        ctx.set_forkserver_preload([worker.__name__])
        return ctx
    return multiprocessing.get_context("spawn")


class ProcessImageProcessor:
    """The ImageProcessor port on ``workers`` processes, started on first use."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self.workers = workers
        self.delay = 0.0
        """Fault injection for tests: seconds every job sleeps in the worker first."""
        self._context = _context()
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise Unavailable("Image workers are shut down")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers, mp_context=self._context)
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop a broken pool (once, whoever notices first); the next job starts a new one."""
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=True, cancel_futures=True)

    def render(
        self, source: Path, specs: Sequence[RenderSpec], out: Sequence[Path]
    ) -> RenderResult:
        args = (str(source), tuple(specs), [str(p) for p in out])
        for attempt in range(1, _ATTEMPTS + 1):
            pool = self._executor()
            try:
                future = pool.submit(worker.render, *args, self.delay)
            except RuntimeError:  # (BrokenProcessPool is one) a pool broken or closing now
                if self._closed:
                    raise Unavailable("Image workers are shut down") from None
                self._replace(pool)
                continue
            try:
                return future.result()
            except BrokenProcessPool:
                log.warning("an image worker died (attempt %d of %d)", attempt, _ATTEMPTS)
                self._replace(pool)
        raise Unavailable("The image worker stopped; try again")

    def can_encode(self, fmt: str) -> bool:
        return worker.can_encode(fmt)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
