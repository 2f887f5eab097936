"""Per-client limit on every /api/ request (401 answers included), as pure ASGI middleware."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pixvault.container import Container
from pixvault.core.errors import RateLimited, Unauthenticated, Unavailable
from pixvault.core.models import User
from pixvault.core.ports import RateDecision
from pixvault.web.clientip import client_ip
from pixvault.web.deps import USER_STATE, parse_bearer
from pixvault.web.errors import response_for


def _token(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return parse_bearer(value.decode("latin-1"))
    return ""


def _headers(decision: RateDecision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(decision.remaining),
        "RateLimit-Reset": str(decision.reset_after),
    }


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
            await response_for(exc)(scope, receive, send)
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
            await response_for(RateLimited(decision.reset_after), extra)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _user(self, token: str) -> User | None:
        if not token:
            return None
        try:
            return self.container.auth.authenticate(token)
        except Unauthenticated:
            return None
