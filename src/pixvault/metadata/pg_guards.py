"""Outage guards for PostgreSQL engines: no request waits long on a server that is gone.

A server that is down refuses connections and fails fast by itself. One that is hung, or behind
a network path that swallows packets while something still ACKs them, would leave a request
waiting for an answer with no end: libpq has no client-side query timeout, and the server's
``statement_timeout`` needs a live server. So, per engine:

- every round trip of the dialect (execute, commit, rollback) gets a deadline a little past
  ``statement_timeout``, and the pool's pre-ping a short one (``PING_TIMEOUT``). Past it the
  connection's socket is shut down under the waiting driver, which then fails at once; the
  pool sees a disconnect and invalidates itself, and the caller gets ``Unavailable``;
- connects go through a gate: after a failed connect (or a deadline that fired) new connects
  fail at once for ``CONNECT_RETRY_AFTER`` seconds, then one caller at a time tries again while
  the others keep failing at once. During an outage requests answer 503 at once instead of each
  waiting out ``connect_timeout`` (2 s at least) and holding a pool slot meanwhile; once the
  server answers, the next attempt after the pause succeeds and the pool refills.

psycopg only (the installed driver): a connection without a ``pgconn`` gets no deadline.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from typing import Any

from sqlalchemy.engine import Engine

PING_TIMEOUT = 1.0
"""Seconds the pool's pre-ping (an empty query) may take before the connection is dropped."""
DEADLINE_GRACE = 1.0
"""Seconds past ``statement_timeout`` before the client gives up on the server's answer."""
CONNECT_RETRY_AFTER = 1.0
"""Seconds after a failed connect during which new connects fail at once."""


def install(engine: Engine, statement_timeout: float | None) -> None:
    """Deadlines on ``engine``'s round trips and a gate on its connects (see the module doc);
    ``statement_timeout`` is the server's (None: statements get no deadline, pings still do).

    The dialect object belongs to this engine alone, so its methods are wrapped in place.
    """
    dialect = engine.dialect
    gate = _ConnectGate(dialect.connect, dialect.loaded_dbapi.OperationalError)
    setattr(dialect, "connect", gate)  # noqa: B010  (an instance attribute on purpose)

    def guard(name: str, seconds: float | None, conn_of: Callable[[Any], Any]) -> None:
        if seconds is None:
            return
        inner = getattr(dialect, name)

        def guarded(first: Any, *args: Any, **kwargs: Any) -> Any:
            # A call past its deadline means the server is not answering: do not let the
            # reconnect that follows wait out connect_timeout too.
            with DEADLINES.guard(conn_of(first), seconds, gate.failed):
                return inner(first, *args, **kwargs)

        setattr(dialect, name, guarded)

    statement = None if statement_timeout is None else statement_timeout + DEADLINE_GRACE
    for name in ("do_execute", "do_executemany", "do_execute_no_params"):
        guard(name, statement, lambda cursor: cursor.connection)
    for name in ("do_commit", "do_rollback"):
        guard(name, statement, lambda conn: conn)
    guard("do_ping", PING_TIMEOUT, lambda conn: conn)


def _socket_of(dbapi_connection: Any) -> int | None:
    """The connection's socket (psycopg), or None when it has none (closed, not psycopg)."""
    try:
        fd = dbapi_connection.pgconn.socket
    except Exception:
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _shut_down(fd: int) -> None:
    """End the TCP connection under a waiting driver: its read returns EOF, it fails at once."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()  # the duplicate only; the driver closes its own


class _Deadlines:
    """One daemon thread that shuts down the socket of any round trip past its deadline.

    Guards enter and leave under the lock the thread shuts sockets down under, so a socket is
    only ever shut down while its call is still waiting (its descriptor cannot have been reused).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        # token -> (deadline, socket fd, called when the deadline ends the call)
        self._active: dict[int, tuple[float, int, Callable[[str], None]]] = {}
        self._tokens = count()
        self._thread: threading.Thread | None = None
        self.fired = 0  # deadlines that ended a call (for tests and logs)

    @contextmanager
    def guard(
        self, dbapi_connection: Any, seconds: float, on_fire: Callable[[str], None]
    ) -> Iterator[None]:
        fd = _socket_of(dbapi_connection)
        if fd is None:
            yield
            return
        token = next(self._tokens)
        deadline = time.monotonic() + seconds
        with self._cond:
            soonest = min((entry[0] for entry in self._active.values()), default=None)
            self._active[token] = (deadline, fd, on_fire)
            if self._thread is None or not self._thread.is_alive():  # first use, or a fork
                self._thread = threading.Thread(
                    target=self._run, name="pixvault-db-deadlines", daemon=True
                )
                self._thread.start()
            elif soonest is None or deadline < soonest:
                self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._active.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (deadline, fd, on_fire) in list(self._active.items()):
                    if deadline <= now:
                        del self._active[token]
                        self.fired += 1
                        _shut_down(fd)
                        on_fire("no answer from the server in time")
                soonest = min((entry[0] for entry in self._active.values()), default=None)
                self._cond.wait(None if soonest is None else max(0.0, soonest - now))


DEADLINES = _Deadlines()


class _ConnectGate:
    """``dialect.connect`` that, after a failure, fails at once for ``CONNECT_RETRY_AFTER``
    seconds, then lets one caller at a time try again (the others still fail at once)."""

    def __init__(self, connect: Callable[..., Any], error: type[Exception]) -> None:
        self._connect = connect
        self._error = error
        self._lock = threading.Lock()
        self._retry_at = 0.0  # monotonic; 0 while connects succeed
        self._probing = False
        self._reason = ""

    def failed(self, reason: str) -> None:
        """Refuse new connects for a while, as after a failed one."""
        with self._lock:
            self._retry_at = time.monotonic() + CONNECT_RETRY_AFTER
            self._reason = reason

    def __call__(self, *cargs: Any, **cparams: Any) -> Any:
        probe = False
        with self._lock:
            if self._retry_at:
                if time.monotonic() < self._retry_at or self._probing:
                    raise self._error(f"not connecting, the last attempt failed: {self._reason}")
                self._probing = probe = True
        try:
            conn = self._connect(*cargs, **cparams)
        except Exception as error:
            self.failed((str(error).strip().splitlines() or [type(error).__name__])[0])
            if probe:
                with self._lock:
                    self._probing = False
            raise
        with self._lock:
            self._retry_at = 0.0
            if probe:
                self._probing = False
        return conn
