"""The one mapping from errors to HTTP: status, headers and a JSON ``{"error", "code"}`` body.

Route handlers get it through the exception handlers installed here; pure ASGI middleware
(rate limits, body limits) calls :func:`response_for` and sends the result itself.

A full disk is 507 wherever it strikes: a domain ``InsufficientStorage`` from an adapter, or a
plain ``OSError`` (ENOSPC, EDQUOT) from a file the request writes itself (the upload spool,
a derivative being rendered). Whoever wrote the file has already deleted it.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from pixvault.core import errors as e
from pixvault.web.security import security_headers

log = logging.getLogger(__name__)

STATUS: dict[type[e.PixvaultError], int] = {
    e.InvalidInput: 400,
    e.TooLarge: 413,
    e.NotFound: 404,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.Conflict: 409,
    e.RequestTimeout: 408,
    e.RateLimited: 429,
    e.Unavailable: 503,
    e.InsufficientStorage: 507,
}

UNAVAILABLE_RETRY_AFTER = 5
"""Seconds a client is asked to wait when a backend does not answer."""
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
"""``OSError`` numbers that mean "no room left": answered 507, not 500."""

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    416: "range_not_satisfiable",
}


def status_for(exc: e.PixvaultError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_response(
    status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


def response_for(exc: e.PixvaultError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The answer to a domain error, with the headers its status calls for; an ASGI app too."""
    extra: dict[str, str] = {}
    if isinstance(exc, e.RateLimited):
        extra["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, e.Unauthenticated):
        extra["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, e.InsufficientStorage):
        # No Retry-After: a full disk does not clear itself in seconds.
        log.error("out of storage space: %s", exc.__cause__ or exc)
    elif isinstance(exc, e.Unavailable):
        extra["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        log.warning("backend unavailable: %s", exc.__cause__ or exc)
    elif isinstance(exc, e.RequestTimeout):
        # The rest of the body may still be on its way: the connection cannot be reused.
        extra["Connection"] = "close"
    extra.update(headers or {})
    return error_response(status_for(exc), exc.message, exc.code, extra)


def allowed_methods(scope: Scope, routes: Sequence[BaseRoute]) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    probe = {**scope, "type": "http"}
    methods: set[str] = set()
    for route in routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(probe)
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.PixvaultError)
    return response_for(exc)


def _http_handler(routes: Sequence[BaseRoute]) -> Callable[[Request, Exception], Any]:
    async def _http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "Request failed"
        if exc.status_code == 404:
            message = "Not found"
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (methods := allowed_methods(request.scope, routes)):
            headers["Allow"] = ", ".join(methods)
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, message, code, headers)

    return _http


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return error_response(400, "Invalid request: " + "; ".join(problems), "invalid_input")


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


async def _os_error(_: Request, exc: Exception) -> JSONResponse:
    if not is_disk_full(exc):
        raise exc  # on to the 500 handler, exactly as if this one did not exist
    full = e.InsufficientStorage()
    full.__cause__ = exc
    return response_for(full)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette answers this one outside every middleware: add the security headers here.
    log.exception("unhandled error", exc_info=exc)
    headers = security_headers(request.url.path)
    return error_response(500, "Internal server error", "internal", headers)


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    """The client hung up mid-body (a phone losing its signal): its doing, not a server error.
    Whatever was spooled is discarded by the parser; this answer reaches nobody."""
    log.info("client went away during %s %s", request.method, request.url.path)
    return error_response(400, "The request body ended early", "invalid_input")


def install(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Install the handlers; ``routes`` (the app's own) are what a 405's ``Allow`` lists."""
    app.add_exception_handler(e.PixvaultError, _domain)
    app.add_exception_handler(HTTPException, _http_handler(routes))
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(OSError, _os_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
