"""Signed downloads of locally stored blobs: verify the link, then stream from disk."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from pixvault.core.errors import BadSignature
from pixvault.core.names import content_disposition
from pixvault.web.deps import ContainerDep
from pixvault.web.schemas import ErrorResponse

router = APIRouter(tags=["files"])


async def download(
    request: Request,
    key: str,
    container: ContainerDep,
    exp: Annotated[str, Query()] = "",
    disp: Annotated[str, Query()] = "",
    sig: Annotated[str, Query()] = "",
) -> FileResponse:
    if any(len(request.query_params.getlist(name)) > 1 for name in ("exp", "disp", "sig")):
        raise BadSignature()  # one value per parameter: no "exp=1&exp=9999999999" games
    found = await run_in_threadpool(container.images.download, key, exp, disp, sig)
    image = found.image
    headers = {
        "Content-Disposition": content_disposition(found.disposition, image.original_name),
        "Cache-Control": f"private, max-age={found.max_age}",
        "ETag": f'"{image.sha256}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return FileResponse(found.path, media_type=image.content_type, headers=headers)


router.add_api_route(
    "/files/{key:path}",
    download,
    methods=["GET"],
    response_class=FileResponse,
    responses={403: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)
router.add_api_route("/files/{key:path}", download, methods=["HEAD"], include_in_schema=False)
