"""The HTTP/1.1 protocol uvicorn runs for us: its h11 protocol plus a header read timeout.

uvicorn has no such option: a connection that opens and then sends its request line and
headers a byte at a time (or never finishes them) stays open for as long as the client likes,
and enough of them exhaust the process's sockets. Here each request's headers must be
complete within ``header_timeout`` seconds of the connection opening or, on a kept-alive
connection, of the first byte of the next request; otherwise the connection is closed.

Body reads are timed at the ASGI level instead (web/bodyguard.py), where a 408 can be sent.
"""

from __future__ import annotations

import asyncio
import logging

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from pixvault.settings import Settings

log = logging.getLogger(__name__)


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol; subclasses made by :func:`http_protocol` set the timeout."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._header_timer is None:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # h11 has the whole request line and headers

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.debug("request headers not complete after %gs: closing", self.header_timeout)
            self.transport.close()


def http_protocol(header_timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class to pass as uvicorn's ``http=``; uvicorn builds one per connection."""
    return type(
        "HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": header_timeout}
    )


class PixvaultConfig(uvicorn.Config):
    """uvicorn's configuration, carrying pixvault's ``Settings`` into each worker process.

    With ``--workers N`` uvicorn pickles the config into N spawned processes and each loads the
    app from it. Neither a built app nor a class made by :func:`http_protocol` can be pickled,
    so :meth:`load` builds both in the process that serves: its own container (connections,
    render pool, limiters), wired from the same settings.
    """

    def __init__(self, settings: Settings, *, host: str, port: int) -> None:
        self.settings = settings
        # proxy_headers=False: uvicorn would otherwise believe X-Forwarded-For from loopback and
        # let any local client pick its own rate-limit key; PIXVAULT_TRUSTED_PROXIES decides.
        super().__init__(
            "pixvault.web.app:create_app",  # replaced by load(); kept picklable until then
            host=host,
            port=port,
            workers=settings.resolved_workers,
            proxy_headers=False,
            server_header=False,
        )

    def load(self) -> None:
        if not self.loaded:
            from pixvault import logs
            from pixvault.container import build_container
            from pixvault.web.app import create_app

            logs.configure()  # a spawned worker starts with logging unconfigured
            # The app's lifespan closes the container.
            self.app = create_app(self.settings, build_container(self.settings))
            self.http = http_protocol(self.settings.header_timeout)
        super().load()


def run(settings: Settings, *, host: str, port: int) -> None:
    """Serve until stopped: in this process, or in ``settings.resolved_workers`` processes
    sharing one listening socket (uvicorn's supervisor restarts any that dies)."""
    config = PixvaultConfig(settings, host=host, port=port)
    server = uvicorn.Server(config)
    if config.workers <= 1:
        server.run()
        return
    from uvicorn.supervisors import Multiprocess

    Multiprocess(config, sockets=[config.bind_socket()]).run()
