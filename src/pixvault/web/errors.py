"""The one mapping from domain errors to HTTP status codes. Every error body is JSON."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pixvault.core import errors as e

log = logging.getLogger(__name__)

STATUS: dict[type[e.PixvaultError], int] = {
    e.InvalidInput: 400,
    e.TooLarge: 413,
    e.NotFound: 404,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.Conflict: 409,
    e.RateLimited: 429,
    e.Unavailable: 503,
}

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
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message, "code": code}, status_code=status, headers=headers)


async def _domain(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.PixvaultError)
    headers: dict[str, str] = {}
    if isinstance(exc, e.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, e.Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(exc, e.Unavailable):
        headers["Retry-After"] = "5"
        log.warning("backend unavailable: %s", exc.__cause__ or exc)
    return error_response(status_for(exc), exc.message, exc.code, headers)


async def _http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404:
        message = "Not found"
    code = _HTTP_CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, message, code, dict(exc.headers or {}))


async def _validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query"))
        problems.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return error_response(400, "Invalid request: " + "; ".join(problems), "invalid_input")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "Internal server error", "internal")


def install(app: FastAPI) -> None:
    app.add_exception_handler(e.PixvaultError, _domain)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, _unexpected)
