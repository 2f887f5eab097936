"""Signed downloads of locally stored blobs: verify the link, open the file, then answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from pixvault.core.errors import BadSignature
from pixvault.core.names import content_disposition
from pixvault.web.deps import ContainerDep
from pixvault.web.download import BlobResponse, one_value_each, serve_file
from pixvault.web.schemas import ErrorResponse

router = APIRouter(tags=["files"])
E: dict[str, object] = {"model": ErrorResponse}
_IMAGE = {"image/*": {"schema": {"type": "string", "format": "binary"}}}


async def download(
    request: Request,
    key: str,
    container: ContainerDep,
    exp: Annotated[str, Query()] = "",
    disp: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> BlobResponse:
    if not one_value_each(request, "exp", "disp", "sig"):
        raise BadSignature()
    found = await run_in_threadpool(container.images.download, key, exp, disp, sig)
    image = found.image
    headers = {
        "Content-Disposition": content_disposition(found.disposition, image.original_name),
        "Cache-Control": f"private, max-age={found.max_age}",
    }
    return await serve_file(
        request,
        found.path,
        etag=f'"{image.sha256}"',
        media_type=image.content_type,
        headers=headers,
    )


router.add_api_route(
    "/files/{key:path}",
    download,
    methods=["GET"],
    status_code=200,
    response_class=BlobResponse,
    responses={
        200: {"description": "The image", "content": _IMAGE},
        206: {"description": "One byte range of the image", "content": _IMAGE},
        400: {**E, "description": "Malformed Range header"},
        403: {**E, "description": "Tampered or expired link"},
        404: {**E, "description": "No such image (or deleted)"},
        416: {**E, "description": "Range past the end of the image"},
    },
)
router.add_api_route("/files/{key:path}", download, methods=["HEAD"], include_in_schema=False)
