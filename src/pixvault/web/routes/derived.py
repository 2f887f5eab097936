"""Derivatives: thumbnail/preview links (signed, for <img> tags) and the owner's width variants.

Local disk: the file is sent as ``/files`` sends originals. S3: a redirect to a short-lived
presigned link on the store, so the bytes never pass through the app.
"""

from __future__ import annotations

from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import RedirectResponse, Response

from pixvault.core.errors import BadSignature
from pixvault.core.pipeline.service import Served
from pixvault.core.pipeline.specs import VARIANT_WIDTHS
from pixvault.web.deps import ContainerDep, CurrentUser, RenderLimiter
from pixvault.web.download import BLOB_HEADERS, one_value_each, serve_file
from pixvault.web.schemas import ErrorResponse

router = APIRouter(tags=["images"])
E: dict[str, object] = {"model": ErrorResponse}
_IMAGE = {"image/*": {"schema": {"type": "string", "format": "binary"}}}
_OK = {"description": "The image (or a redirect to it on the blob store)", "content": _IMAGE}


async def _answer(request: Request, served: Served, *, vary_accept: bool = False) -> Response:
    headers = {"Cache-Control": f"private, max-age={served.max_age}", **BLOB_HEADERS}
    if vary_accept:
        headers["Vary"] = "Accept"
    if served.url is not None:
        return RedirectResponse(served.url, status_code=302, headers=headers)
    if served.data is not None:
        return Response(served.data, media_type=served.content_type, headers=headers)
    assert served.path is not None
    return await serve_file(
        request, served.path, etag=None, media_type=served.content_type, headers=headers
    )


async def derived_link(
    request: Request,
    key: str,
    container: ContainerDep,
    renders: RenderLimiter,
    exp: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> Response:
    """A thumbnail or preview link from an image's ``thumbnailUrl``/``previewUrl``: made on
    first fetch if it does not exist yet; an image that cannot be decoded gets a neutral one."""
    if not one_value_each(request, "exp", "sig"):
        raise BadSignature()
    served = await to_thread.run_sync(
        container.derivatives.open_link, f"derived/{key}", exp, sig, limiter=renders
    )
    return await _answer(request, served)


router.add_api_route(
    "/derived/{key:path}",
    derived_link,
    methods=["GET"],
    response_class=Response,
    responses={
        200: _OK,
        302: {"description": "Redirect to the derivative on the blob store"},
        403: {**E, "description": "Tampered or expired link"},
        404: {**E, "description": "No such image (or deleted)"},
        503: {**E, "description": "The image worker stopped; try again"},
    },
)
router.add_api_route("/derived/{key:path}", derived_link, methods=["HEAD"], include_in_schema=False)


@router.get(
    "/api/images/{image_id}/variant",
    response_class=Response,
    responses={
        200: _OK,
        302: {"description": "Redirect to the variant on the blob store"},
        401: E,
        404: E,
    },
)
async def variant(
    request: Request,
    image_id: str,
    user: CurrentUser,
    container: ContainerDep,
    renders: RenderLimiter,
    # The document lists the widths (the core refuses any other with a 400), so a client or a
    # fuzzer reading it can ask for a variant that exists.
    w: Annotated[
        int,
        Query(
            description="width in pixels (never enlarged)",
            json_schema_extra={"enum": list(VARIANT_WIDTHS)},
        ),
    ],
    format: Annotated[  # the query parameter's public name (shadows the builtin here only)
        Literal["webp", "jpeg", "avif"] | None,
        Query(description="omitted: AVIF or WebP if `Accept` names it, else JPEG"),
    ] = None,
    accept: Annotated[str, Header()] = "",
) -> Response:
    """The image ``w`` pixels wide (never enlarged), made on first request and stored."""
    served = await to_thread.run_sync(
        container.derivatives.variant, user, image_id, w, format, accept, limiter=renders
    )
    return await _answer(request, served, vary_accept=format is None)
