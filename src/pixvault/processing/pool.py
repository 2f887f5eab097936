"""Bounded pools of worker processes doing the pixel work, so untrusted images can neither
block the event loop nor take the API process down with a decoder crash.

Workers come from a ``forkserver`` (``spawn`` where there is none): never ``fork`` from a
threaded server, whose copied locks may be held by threads that do not exist in the child.
A worker that dies breaks its ``ProcessPoolExecutor``; the pool is then replaced and the job
tried once more, and a second death is ``Unavailable`` (the caller may retry later).

Two lanes of ``workers`` processes each, started on first use. A request that waits for its
derivative runs in the *urgent* lane at normal priority. An upload's background renders run in
the *background* lane at the lowest CPU priority (``SCHED_IDLE`` on Linux, nice 19 elsewhere):
they use only CPU time that uploads and gallery requests leave over, so a burst of uploads is
not slowed down by its own thumbnails.

Every job has a hard time limit: a decoder stuck in C cannot be interrupted from Python, so a
job past its limit has its lane's workers killed (jobs that shared them are retried, as after
any worker death). Jobs wait for a free worker *before* they are submitted, so the limit counts
the job's own run, not a queue. In the urgent lane that makes the image ``Undecodable`` (its
owner sees why); in the background lane it is ``Unavailable``, because an idle-priority job may
just have been starved of CPU: the first fetch then renders it urgently, and decides.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from pixvault.core.errors import Unavailable
from pixvault.core.pipeline.specs import RenderResult, RenderSpec, Undecodable
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


def _idle_priority() -> None:
    """Run in each background worker: take only CPU time nobody else wants."""
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is not None:
        try:
            os.sched_setscheduler(0, idle, os.sched_param(0))
            return
        except OSError:
            pass
    os.nice(19)


class _Lane:
    """``workers`` processes at one priority, with the time limit and the dead-worker retry."""

    def __init__(
        self,
        owner: ProcessImageProcessor,
        context: multiprocessing.context.BaseContext,
        *,
        background: bool,
    ) -> None:
        self._owner = owner
        self._context = context
        self.background = background
        self._free = threading.BoundedSemaphore(owner.workers)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise Unavailable("Image workers are shut down")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self._owner.workers,
                    mp_context=self._context,
                    initializer=_idle_priority if self.background else None,
                )
            return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop a broken pool (once, whoever notices first); the next job starts a new one."""
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=True, cancel_futures=True)

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        """Kill ``pool``'s workers (the stuck one among them): the pool breaks, its other
        jobs see ``BrokenProcessPool`` and are retried on a new pool."""
        # Python 3.14 has ProcessPoolExecutor.kill_workers(); before it, only this mapping.
        processes = dict(getattr(pool, "_processes", None) or {})
        for process in processes.values():
            process.kill()
        self._replace(pool)

    def render(self, args: tuple[str, tuple[RenderSpec, ...], list[str]]) -> RenderResult:
        limit = self._owner.time_limit
        with self._free:  # a worker is idle now: the time limit measures this job alone
            for attempt in range(1, _ATTEMPTS + 1):
                pool = self._executor()
                try:
                    future = pool.submit(worker.render, *args, self._owner.delay)
                except RuntimeError:  # (BrokenProcessPool is one) a pool broken or closing
                    if self._closed:
                        raise Unavailable("Image workers are shut down") from None
                    self._replace(pool)
                    continue
                try:
                    return future.result(timeout=limit)
                except FutureTimeout:
                    log.warning("an image job ran past %.0f s; its workers are killed", limit)
                    self._kill(pool)
                    if self.background:
                        raise Unavailable("A background render ran out of time") from None
                    raise Undecodable(
                        f"Processing the image took longer than {limit:g} s"
                    ) from None
                except BrokenProcessPool:
                    log.warning("an image worker died (attempt %d of %d)", attempt, _ATTEMPTS)
                    self._replace(pool)
        raise Unavailable("The image worker stopped; try again")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class ProcessImageProcessor:
    """The ImageProcessor port on two lanes of ``workers`` processes (see the module doc)."""

    def __init__(self, workers: int, time_limit: float = 60.0) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        if time_limit <= 0:
            raise ValueError("the time limit must be positive")
        self.workers = workers
        self.time_limit = time_limit
        self.delay = 0.0
        """Fault injection for tests: seconds every job sleeps in the worker first."""
        context = _context()
        self._urgent = _Lane(self, context, background=False)
        self._background = _Lane(self, context, background=True)

    def render(
        self,
        source: Path,
        specs: Sequence[RenderSpec],
        out: Sequence[Path],
        *,
        background: bool = False,
    ) -> RenderResult:
        lane = self._background if background else self._urgent
        return lane.render((str(source), tuple(specs), [str(p) for p in out]))

    def can_encode(self, fmt: str) -> bool:
        return worker.can_encode(fmt)

    def close(self) -> None:
        self._urgent.close()
        self._background.close()
