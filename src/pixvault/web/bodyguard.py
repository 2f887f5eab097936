"""Request bodies: a size cap on every route but the upload, an idle timeout on all of them.

Pure ASGI middleware wrapping ``receive``, so nothing downstream (FastAPI's JSON parsing, the
multipart parser) can read more than the cap or wait on a silent client for longer than the
timeout. A declared Content-Length over the cap is refused before a byte is read; a chunked
body is counted as it streams and refused as soon as it passes the cap.

When a limit trips, whatever the app made of the exception it got from ``receive`` (FastAPI
turns it into a 400 "error parsing the body") is replaced by the real answer, 413 or 408,
rendered by web/errors.py. After a 413 the connection stays usable: uvicorn discards the rest
of the body without buffering it. After a 408 it is closed, as the body never ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixvault.core.errors import InvalidInput, PixvaultError, RequestTimeout, RequestTooLarge
from pixvault.core.spool import human_size
from pixvault.web.errors import response_for

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
"""Bytes any request other than an upload may send: JSON bodies here are a few hundred."""
UPLOAD_PATHS = frozenset({"/api/images/upload"})
"""Routes that enforce their own (much larger) cap while they stream: web/multipart.py."""


def _declared_length(scope: Scope) -> int | None:
    headers = scope.get("headers", [])
    if any(name == b"transfer-encoding" for name, _ in headers) and any(
        name == b"content-length" for name, _ in headers
    ):
        # Request smuggling: a proxy that frames the body by Content-Length and this server
        # (h11 goes by Transfer-Encoding) would disagree on where the next request starts.
        raise InvalidInput("Content-Length and Transfer-Encoding cannot be sent together")
    for name, value in headers:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not (text.isascii() and text.isdigit()):
                raise InvalidInput("Invalid Content-Length")
            return int(text)
    return None


@dataclass
class _Exchange:
    """One request's body accounting, and whether the app's answer is being replaced."""

    receive_inner: Receive
    send_inner: Send
    cap: int | None
    timeout: float
    received: int = 0
    body_done: bool = False
    started: bool = False  # the app's response start went out
    failure: PixvaultError | None = None

    async def receive(self) -> Message:
        if self.failure is not None:
            raise self.failure
        if self.body_done:  # only http.disconnect can follow: a wait without a deadline
            return await self.receive_inner()
        try:
            with anyio.fail_after(self.timeout):
                message = await self.receive_inner()
        except TimeoutError:
            log.info("no request body byte for %.0f s: answering 408", self.timeout)
            self.failure = RequestTimeout(
                f"No part of the request body arrived for {self.timeout:g} seconds"
            )
            raise self.failure from None
        if message["type"] != "http.request":
            self.body_done = True
            return message
        self.received += len(message.get("body", b""))
        if self.cap is not None and self.received > self.cap:
            self.failure = RequestTooLarge(f"Request body too large (max {human_size(self.cap)})")
            raise self.failure
        self.body_done = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.failure is not None and not self.started:
            return  # the app is answering the exception we raised: ours replaces it
        if message["type"] == "http.response.start":
            self.started = True
        await self.send_inner(message)


class BodyGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        body_timeout: float,
        max_body: int = MAX_BODY,
        exempt: frozenset[str] = UPLOAD_PATHS,
    ) -> None:
        self.app = app
        self.body_timeout = body_timeout
        self.max_body = max_body
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = None if scope["path"] in self.exempt else self.max_body
        try:
            declared = _declared_length(scope)
            if cap is not None and declared is not None and declared > cap:
                raise RequestTooLarge(f"Request body too large (max {human_size(cap)})")
        except PixvaultError as exc:
            # A body whose framing is in doubt cannot be skipped: the connection must close
            # (RFC 9112 6.1), or its bytes would be read as the next request.
            close = {"Connection": "close"} if isinstance(exc, InvalidInput) else None
            await response_for(exc, close)(scope, receive, send)
            return
        exchange = _Exchange(receive, send, cap, self.body_timeout)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except Exception:
            if exchange.failure is None or exchange.started:
                raise
        if exchange.failure is not None and not exchange.started:
            await response_for(exchange.failure)(scope, receive, send)
