"""The repair pass on a timer inside the server (``PIXVAULT_REPAIR_INTERVAL``), run by one
process at a time however many serve: each round goes to whoever takes the lease first."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from datetime import timedelta

from pixvault.core.ports import Clock
from pixvault.core.repair.ports import RepairRepo
from pixvault.core.repair.service import Options, RepairService

log = logging.getLogger(__name__)
LEASE = "repair"


class RepairSchedule:
    def __init__(
        self,
        *,
        service: RepairService,
        repo: RepairRepo,
        clock: Clock,
        interval: float,
        options: Options,
    ) -> None:
        self._service = service
        self._repo = repo
        self._clock = clock
        self._interval = interval
        self._options = options
        # Unique per schedule, readable in the table: which machine and process holds it.
        self._holder = f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="repair", daemon=True)
        self.runs = 0
        """Passes this process ran (for tests and logs)."""

    def start(self) -> None:
        self._thread.start()

    def run_once(self) -> bool:
        """One round: run the pass if this process takes the lease; False if another has it.

        The lease is held for the whole interval and not given back, so processes whose
        timers fire close together still run one pass per interval between them."""
        now = self._clock.now()
        if not self._repo.take_lease(
            LEASE, self._holder, now, now + timedelta(seconds=self._interval)
        ):
            return False
        report = self._service.run(self._options)
        self.runs += 1
        log.info(
            "repair pass: %d keys, %d rows, %d users checked; %d problems left",
            report.keys_seen,
            report.rows_seen,
            report.users_seen,
            report.problems_left,
        )
        for finding in report.findings():
            if finding.found:
                log.warning(
                    "repair pass: %s: %d found, %d repaired",
                    finding.name,
                    finding.found,
                    finding.repaired,
                )
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_once()
            except Exception:  # a store or database outage: try again next round
                log.exception("the scheduled repair pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
