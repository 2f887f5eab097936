"""Per-client limit on every /api/ request (401 answers included), as pure ASGI middleware."""

from __future__ import annotations

import json
import logging

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixvault.container import Container
from pixvault.core.errors import PixvaultError, RateLimited, Unauthenticated, Unavailable
from pixvault.core.models import User
from pixvault.core.ports import RateDecision
from pixvault.web.clientip import client_ip
from pixvault.web.deps import USER_STATE, parse_bearer

log = logging.getLogger(__name__)


def _token(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return parse_bearer(value.decode("latin-1"))
    return ""


def _headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(decision.reset_after).encode()),
    ]


async def _send_error(
    send: Send, status: int, exc: PixvaultError, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"error": exc.message, "code": exc.code}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, container: Container) -> None:
        self.app = app
        self.container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        try:
            user = await run_in_threadpool(self._user, _token(scope))
        except Unavailable as exc:
            log.warning("cannot check a token: %s", exc.__cause__ or exc)
            await _send_error(send, 503, exc, [(b"retry-after", b"5")])
            return
        scope.setdefault("state", {})[USER_STATE] = user
        # Keyed by account when signed in (many devices share one budget), else by client IP.
        settings = self.container.settings
        key = f"user:{user.id}" if user else f"ip:{client_ip(scope, settings.trusted_proxies)}"
        decision = await run_in_threadpool(
            self.container.api_limiter.hit, settings.rate_limit, "api", key
        )
        extra = _headers(decision)
        if not decision.allowed:
            retry = [(b"retry-after", str(decision.reset_after).encode())]
            await _send_error(send, 429, RateLimited(decision.reset_after), retry + extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra:
                    headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _user(self, token: str) -> User | None:
        if not token:
            return None
        try:
            return self.container.auth.authenticate(token)
        except Unauthenticated:
            return None
