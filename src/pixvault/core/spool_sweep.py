"""Start-up sweep of the upload spool: what a killed process left behind is deleted.

Every process that uses a spool directory holds a shared ``flock`` on a lock file beside it
(``tmp.lock`` for ``tmp/``, outside, so the spool itself holds only uploads) for as
long as it runs; the kernel drops it when the process dies, even on ``kill -9``. A process that
can take the lock *exclusively* at start-up therefore knows that no other live process is
receiving uploads into the directory, so every file in it is garbage by construction. When a
sibling process is running the sweep is skipped: deleting its in-flight uploads would be worse
than keeping a crashed process's leftovers until the next start with nobody else running.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class SpoolClaim:
    """This process's share of a spool directory; ``close()`` (or exit) gives it up."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        lock = directory.with_name(f"{directory.name}.lock")
        self._fd: int | None = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        self.swept = 0
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process uses %s; its spool is left alone", directory)
        else:
            self.swept = _sweep(directory)
        # Shared from now on, so a process starting later sees that this one is alive.
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def _sweep(directory: Path) -> int:
    removed = 0
    for entry in os.scandir(directory):
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except FileNotFoundError:
            pass
    if removed:
        log.warning("removed %d upload spool file(s) left by an earlier process", removed)
    return removed
