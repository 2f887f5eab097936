"""A TCP forwarder in front of a real server, with the server's failures on a switch.

Tests point the app at ``proxy.port`` instead of the server and then make the server look:

- ``refuse()``: down (connections refused, open ones reset), as after a crash or a stop;
- ``blackhole()``: hung (connections accepted, bytes swallowed, no answer ever), as a frozen
  process or a network path that drops everything while a middlebox still ACKs;
- ``cut_requests(after)``: failing mid-request (a connection is reset once its client has sent
  ``after`` bytes: big uploads break, small requests still pass), as a store that drops the
  connection while an upload streams in;
- ``drop_replies()``: doing the work but never answering (requests reach the server, the
  connection is reset before its reply gets back; an HTTP ``100 Continue`` still passes), as a
  network that fails after the store committed an upload;
- ``forward()``: healthy again, on the same port.

Two threads per connection (one per direction) with blocking sockets: simple, and a handful of
connections is all a test makes.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

_BUFFER = 64 * 1024


def _abort(sock: socket.socket) -> None:
    """Reset the connection (RST, not FIN) and wake any thread blocked on it."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket | None
    sent: int = 0  # client -> server bytes forwarded
    ended: int = 0  # directions that ended in order
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def abort(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        _abort(self.client)
        if self.upstream is not None:
            _abort(self.upstream)


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self._lock = threading.Lock()
        self._mode = "forward"
        self._cut_after = 0
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self._listen()

    # --- switches -----------------------------------------------------------------------------

    def forward(self) -> None:
        """Healthy: connections go through (links left over from a fault are reset)."""
        self._switch("forward")
        if self._listener is None:
            self._listen()

    def refuse(self) -> None:
        self._switch("refuse")
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            # close() alone would leave the thread in accept() listening (Linux).
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def blackhole(self) -> None:
        self._switch("blackhole", reset=False)
        if self._listener is None:
            self._listen()

    def cut_requests(self, after: int) -> None:
        self._cut_after = after
        self._switch("cut")

    def drop_replies(self) -> None:
        self._switch("drop")

    def close(self) -> None:
        self.refuse()

    def _switch(self, mode: str, *, reset: bool = True) -> None:
        with self._lock:
            self._mode = mode
            links = list(self._links) if reset else []
        for link in links:
            link.abort()

    # --- plumbing -----------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse()
            with self._lock:
                mode = self._mode
            upstream = None
            if mode != "blackhole":
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                    upstream.settimeout(None)
                except OSError:
                    _abort(client)
                    continue
            link = _Link(client, upstream)
            with self._lock:
                self._links.add(link)
            threading.Thread(target=self._pump, args=(link, True), daemon=True).start()
            if upstream is not None:
                threading.Thread(target=self._pump, args=(link, False), daemon=True).start()

    def _pump(self, link: _Link, outbound: bool) -> None:
        source = link.client if outbound else link.upstream
        sink = link.upstream if outbound else link.client
        assert source is not None
        try:
            while data := source.recv(_BUFFER):
                with self._lock:
                    mode, cut_after = self._mode, self._cut_after
                if mode == "blackhole" or sink is None:
                    continue  # swallowed: the sender waits for an answer that never comes
                if outbound and mode == "cut" and link.sent + len(data) >= cut_after:
                    sink.sendall(data[: max(0, cut_after - link.sent)])
                    break
                # An interim "100 Continue" passes (else the body would never be sent and the
                # server never do the work); the real answer does not.
                if not outbound and mode == "drop" and not data.startswith(b"HTTP/1.1 100 "):
                    break
                sink.sendall(data)
                if outbound:
                    link.sent += len(data)
            else:
                # Orderly end from this side: pass it on; the last direction to end closes.
                if sink is not None:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                with link.lock:
                    link.ended += 1
                    if link.ended < (2 if link.upstream is not None else 1):
                        return
        except OSError:
            pass
        link.abort()
        with self._lock:
            self._links.discard(link)
