"""The worker pool's hard time limit: a stuck job is killed, a queued one is not."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pixvault.core.errors import Unavailable
from pixvault.core.pipeline.specs import THUMB_SPEC, Undecodable
from pixvault.processing import ProcessImageProcessor
from tests.imagegen import make_image


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "a.png"
    src.write_bytes(make_image("PNG", (500, 300)))
    return src


def test_a_job_past_its_time_limit_is_killed_and_the_pool_carries_on(
    tmp_path: Path, source: Path
) -> None:
    pool = ProcessImageProcessor(1, time_limit=1.0)
    try:
        pool.render(source, (THUMB_SPEC,), [tmp_path / "warm.webp"])  # the worker is up
        (stuck,) = multiprocessing.active_children()
        pool.delay = 30.0  # a decoder that never returns
        start = time.monotonic()
        with pytest.raises(Undecodable, match="took longer than 1 s"):
            pool.render(source, (THUMB_SPEC,), [tmp_path / "slow.webp"])
        assert time.monotonic() - start < 10
        stuck.join(timeout=10)
        assert not stuck.is_alive()  # killed, not left running its 30 s
        pool.delay = 0.0
        made = pool.render(source, (THUMB_SPEC,), [tmp_path / "next.webp"])
        assert made.outputs[0].width == 400
    finally:
        pool.close()


def test_time_waiting_for_a_busy_worker_does_not_count(tmp_path: Path, source: Path) -> None:
    # One worker, three 0.8 s jobs at once: the last waits 1.6 s, past the 1.2 s limit, yet
    # each job's own run is well under it.
    pool = ProcessImageProcessor(1, time_limit=1.2)
    try:
        pool.render(source, (THUMB_SPEC,), [tmp_path / "warm.webp"])
        pool.delay = 0.8
        with ThreadPoolExecutor(3) as threads:
            jobs = [
                threads.submit(pool.render, source, (THUMB_SPEC,), [tmp_path / f"{i}.webp"])
                for i in range(3)
            ]
            widths = [job.result(timeout=60).outputs[0].width for job in jobs]
        assert widths == [400, 400, 400]
    finally:
        pool.close()


def test_the_time_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ProcessImageProcessor(1, time_limit=0)


def test_background_jobs_use_only_idle_cpu_and_urgent_ones_do_not(
    tmp_path: Path, source: Path
) -> None:
    pool = ProcessImageProcessor(1)
    try:
        pool.render(source, (THUMB_SPEC,), [tmp_path / "a.webp"])
        (urgent,) = multiprocessing.active_children()
        pool.render(source, (THUMB_SPEC,), [tmp_path / "b.webp"], background=True)
        (background,) = set(multiprocessing.active_children()) - {urgent}
        assert urgent.pid is not None and background.pid is not None
        assert os.sched_getscheduler(urgent.pid) == os.sched_getscheduler(0)
        assert os.sched_getscheduler(background.pid) == os.SCHED_IDLE
    finally:
        pool.close()


def test_a_background_job_out_of_time_is_unavailable_not_undecodable(
    tmp_path: Path, source: Path
) -> None:
    # At idle priority a job may simply have been starved: it proves nothing about the image.
    pool = ProcessImageProcessor(1, time_limit=0.5)
    try:
        pool.delay = 30.0
        with pytest.raises(Unavailable, match="ran out of time"):
            pool.render(source, (THUMB_SPEC,), [tmp_path / "a.webp"], background=True)
        pool.delay = 0.0
        made = pool.render(source, (THUMB_SPEC,), [tmp_path / "b.webp"], background=True)
        assert made.outputs[0].width == 400
    finally:
        pool.close()
