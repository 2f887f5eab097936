"""Crash points for the crash tests: with ``PIXVAULT_CRASH_AT=<name>`` in its environment, a
process kills itself (SIGKILL: no cleanup, no flush) on reaching that step, so tests can prove
each step of a pipeline leaves something the repair pass fixes. The code path is the same as
production's; unset (always, outside tests) a point costs one environment lookup."""

from __future__ import annotations

import os
import signal

ENV = "PIXVAULT_CRASH_AT"
POINTS = (
    "upload.reserved",  # quota reserved, no byte stored
    "upload.stored",  # bytes stored, no row
    "upload.committed",  # rows in, the answer not sent
    "delete.row",  # row gone and refunded, bytes still there
    "delete.original",  # original gone, derivatives still there
    "derivative.rendered",  # rendered in the worker, nothing stored
    "derivative.stored",  # the first derivative stored, not the second
)


def point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
