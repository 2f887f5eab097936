"""The OpenAPI document, made to say exactly what the server answers.

FastAPI documents a 422 it never sends (web/errors.py answers validation errors with 400) and
knows nothing of what middleware answers. Fixed here, once, for every operation:

- 400 where input can be invalid (a body or query parameters), never 422;
- 408 and 413 where a request body is read (web/bodyguard.py, web/multipart.py);
- 429 on every ``/api/`` operation (web/ratelimit.py) and 503 wherever a backend is used;
- 507 where files are written on the request's behalf (the upload spool, derivatives);
- the bearer scheme, on the operations that need a signed-in user;
- OpenAPI links from every answer that names an image to the operations taking its id
  (``LINKS``), so clients and schemathesis' stateful phase can chain upload → detail, edit,
  signed link, access log, variant and delete with the real id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from pixvault.web.deps import current_user

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
BEARER = "bearer"
NO_BACKEND = frozenset({"/healthz", "/metrics"})
"""Operations that touch neither the database nor the blob store: they cannot answer 503."""
WRITES_FILES = frozenset({"/api/images/upload", "/api/images/{image_id}/variant", "/derived/{key}"})
"""Operations that write files (spooled bodies, rendered derivatives): a full disk is 507."""

IMAGE = "/api/images/{image_id}"
UPLOADED_ID = "$response.body#/images/0/id"
"""The upload answer lists what was stored (the seed's shape); links follow the first image."""
IMAGE_ID = "$response.body#/image/id"
REQUESTED_ID = "$request.path.image_id"
TARGETS: dict[str, tuple[str, str]] = {
    "GetImage": (IMAGE, "get"),
    "UpdateImage": (IMAGE, "patch"),
    "DeleteImage": (IMAGE, "delete"),
    "GetAccessLog": (IMAGE + "/access-log", "get"),
    "GetVariant": (IMAGE + "/variant", "get"),
    "PresignImage": ("/api/images/presigned-url", "post"),
}
"""Every operation that takes an image id: the path parameter, or ``imageId`` in the body."""
EVERY_TARGET = tuple(TARGETS)
GONE = "The image was deleted: this answers 404"
LINKS: dict[tuple[str, str, str], tuple[str, tuple[str, ...], str | None]] = {
    ("/api/images/upload", "post", "200"): (UPLOADED_ID, EVERY_TARGET, None),
    (IMAGE, "get", "200"): (IMAGE_ID, EVERY_TARGET, None),
    (IMAGE, "patch", "200"): (IMAGE_ID, EVERY_TARGET, None),
    (IMAGE, "delete", "200"): (REQUESTED_ID, ("GetImage", "GetAccessLog", "UpdateImage"), GONE),
}
"""(path, method, status) → (where the id is in that answer, the operations it feeds, what
they answer when it is not the usual). The delete's links say the id is now dangling, which is
what schemathesis' ``use_after_free`` check follows."""

DESCRIPTIONS = {
    "400": "Invalid input",
    "401": "Missing, invalid or expired bearer token",
    "408": "The request body stopped arriving; the connection is closed",
    "413": "Request too large",
    "429": "Too many requests; wait for Retry-After seconds",
    "503": "A backend does not answer; retry after Retry-After seconds",
    "507": "The server is out of storage space (not the account's quota)",
}


def _needs_user(dependant: Dependant) -> bool:
    return any(d.call is current_user or _needs_user(d) for d in dependant.dependencies)


def _secured(routes: Sequence[BaseRoute]) -> set[tuple[str, str]]:
    return {
        (route.path_format, method.lower())
        for route in routes
        if isinstance(route, APIRoute) and _needs_user(route.dependant)
        for method in route.methods or ()
    }


def _error(responses: dict[str, Any], status: str) -> None:
    entry = responses.setdefault(status, {})
    entry.setdefault("description", DESCRIPTIONS.get(status, "Error"))
    entry.setdefault("content", {"application/json": {"schema": ERROR_REF}})


def _link(
    doc: dict[str, Any], name: str, expression: str, description: str | None
) -> dict[str, Any]:
    """One link: the target's operationId is whatever FastAPI generated for it, so a renamed
    handler cannot leave a dangling link (a missing target raises here, on the first fetch)."""
    path, method = TARGETS[name]
    link: dict[str, Any] = {"operationId": doc["paths"][path][method]["operationId"]}
    if method == "post":  # the signed-link request names the image in its body
        link["requestBody"] = {"imageId": expression}
    else:
        link["parameters"] = {"path.image_id": expression}
    if description:
        link["description"] = description
    return link


def _add_links(doc: dict[str, Any]) -> None:
    for (path, method, status), (expression, targets, description) in LINKS.items():
        response = doc["paths"][path][method]["responses"][status]
        response["links"] = {name: _link(doc, name, expression, description) for name in targets}


def fix(doc: dict[str, Any], routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """Rewrite FastAPI's document in place (idempotent) and return it."""
    secured = _secured(routes)
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            responses: dict[str, Any] = op.setdefault("responses", {})
            responses.pop("422", None)
            has_body = "requestBody" in op
            if has_body or any(p.get("in") == "query" for p in op.get("parameters", [])):
                _error(responses, "400")
            if has_body:
                _error(responses, "408")
                _error(responses, "413")
            if path.startswith("/api/"):
                _error(responses, "429")
            if path not in NO_BACKEND:
                _error(responses, "503")
            if path in WRITES_FILES:
                _error(responses, "507")
            if (path, method) in secured:
                _error(responses, "401")
                op["security"] = [{BEARER: []}]
    _add_links(doc)
    components = doc.setdefault("components", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(unused, None)
    if secured:
        components.setdefault("securitySchemes", {})[BEARER] = {"type": "http", "scheme": "bearer"}
    return doc


def install(app: FastAPI, routes: Sequence[BaseRoute]) -> None:
    """Make ``app.openapi()`` (and so /openapi.json and /docs) serve the fixed document;
    ``routes`` are the app's own, whose dependencies tell which need a signed-in user."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = fix(generate(), routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
