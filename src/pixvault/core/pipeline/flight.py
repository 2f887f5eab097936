"""Single-flight: of many threads asking for the same work at once, one does it, the rest wait
for its outcome. Sixteen browsers opening a gallery at once must not decode one photo 16 times.

Per process only: across processes a duplicate render is harmless (puts are atomic).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


class _Call:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class SingleFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}

    def run(self, keys: Iterable[str], work: Callable[[], None]) -> None:
        """Run ``work`` unless a call holding one of ``keys`` is in flight; then wait for that
        call instead and share its outcome (its exception is raised here too).

        One call may hold several keys (a job that makes the thumbnail and the preview
        together): a request for either joins it.
        """
        wanted = tuple(keys)
        with self._lock:
            call = next((self._calls[k] for k in wanted if k in self._calls), None)
            leader = call is None
            if call is None:
                call = _Call()
                for key in wanted:
                    self._calls[key] = call
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return
        try:
            work()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                for key in wanted:
                    if self._calls.get(key) is call:
                        del self._calls[key]
            call.done.set()

    def in_flight(self) -> int:
        with self._lock:
            return len(set(map(id, self._calls.values())))
