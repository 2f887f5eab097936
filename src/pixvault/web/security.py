"""Headers every response carries, and the strict CSP for the app's own pages."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style, nothing from other origins: injected markup cannot run.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob: https: http:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def security_headers(path: str) -> dict[str, str]:
    """The headers a response to ``path`` carries unless it sets its own."""
    headers = {
        "X-Content-Type-Options": "nosniff",
        # Pages and API answers hold signed URLs: never leak them in a Referer header.
        "Referrer-Policy": "no-referrer",
    }
    if path == "/" or path.startswith("/static/"):
        headers["Content-Security-Policy"] = PAGE_CSP
        headers["X-Frame-Options"] = "DENY"
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = security_headers(scope["path"])

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in defaults.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_wrapper)
