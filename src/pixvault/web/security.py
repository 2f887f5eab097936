"""Headers every response carries, and the Content-Security-Policy for each kind of answer."""

from __future__ import annotations

import logging
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style, nothing from other origins: injected markup cannot run.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob: https: http:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# JSON, plain text and every error: nothing in them is meant to load, run or be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# FastAPI's /docs and /redoc pages: their CDN bundle and the inline start-up script FastAPI
# writes (no user data in it). Still no plugins, no <base>, no forms and no framing.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src data: https://fonts.gstatic.com; img-src 'self' data: https:; "
    "worker-src blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


def security_headers(path: str, content_type: str = "application/json") -> dict[str, str]:
    """The headers a response to ``path`` carries unless it sets its own.

    The policy follows what the answer is: an HTML page gets the page policy (FastAPI's docs
    pages their own), anything else (JSON, text, scripts, every error) ``default-src 'none'``.
    An answer with no body type (a 304) keeps the policy of the page it revalidates.
    """
    page = path == "/" or path.startswith("/static/") or path in DOCS_PATHS
    html = content_type.startswith("text/html") or (not content_type and page)
    headers = {
        "X-Content-Type-Options": "nosniff",
        # Pages and API answers hold signed URLs: never leak them in a Referer header.
        "Referrer-Policy": "no-referrer",
        # Stored images keep their own sandbox CSP (web/download.py): this forbids framing them.
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": API_CSP,
    }
    if html:
        headers["Content-Security-Policy"] = DOCS_CSP if path in DOCS_PATHS else PAGE_CSP
    if path.startswith("/api/"):
        # Tokens, signed URLs and account data: never kept by a browser or shared cache.
        # Routes that set their own (the variant images) keep it.
        headers["Cache-Control"] = "no-store"
    return headers


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                defaults = security_headers(path, headers.get("content-type", ""))
                for name, value in defaults.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_wrapper)


_SIGNATURE = re.compile(r"([?&]sig=)[^&\s]*")


class SignedLinkScrubber(logging.Filter):
    """The server's access log writes each request's path with its query. A signed link's
    ``sig`` is a bearer credential until the link expires: the log keeps the rest of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SIGNATURE.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


ACCESS_LOG_SCRUBBER = SignedLinkScrubber()


def scrub_access_log() -> None:
    """Install the scrubber on uvicorn's access logger (once; uvicorn keeps logger filters
    when it configures logging)."""
    logging.getLogger("uvicorn.access").addFilter(ACCESS_LOG_SCRUBBER)
