"""The seed's image routes plus what its UI silently needs (detail, edit, access log)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from pixvault.core.models import ImageQuery, Purpose
from pixvault.core.names import clean_tags
from pixvault.core.ports import ImagePatch
from pixvault.web import schemas as s
from pixvault.web.deps import BaseUrl, ClientIp, ContainerDep, CurrentUser
from pixvault.web.forms import tag_filter, upload_options
from pixvault.web.multipart import UploadLimits, parse_upload

router = APIRouter(prefix="/api/images", tags=["images"])
E: dict[str, object] = {"model": s.ErrorResponse}
COMMON: dict[int | str, dict[str, object]] = {400: E, 401: E, 404: E, 429: E}

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                        "tags": {"type": "string", "description": 'JSON array, e.g. ["a","b"]'},
                        "isPublic": {"type": "string", "enum": ["true", "false"]},
                    },
                }
            }
        },
    }
}


@router.post(
    "/upload",
    response_model=s.UploadResponse,
    responses={**COMMON, 413: E},
    openapi_extra=UPLOAD_BODY,
)
async def upload(
    request: Request, user: CurrentUser, container: ContainerDep, base: BaseUrl
) -> s.UploadResponse:
    """All or nothing: one bad file rejects the whole request and stores nothing."""
    cfg = container.settings
    limits = UploadLimits(
        max_file_size=cfg.max_file_size,
        max_files=cfg.max_files_per_upload,
        max_request_size=cfg.max_request_size,
    )
    form = await parse_upload(request, limits, cfg.spool_dir)
    try:
        options = upload_options(form.fields)
        stored = await run_in_threadpool(container.images.upload, user, form.files, options)
    finally:
        form.discard()
    return s.UploadResponse(
        images=[s.uploaded(item, base) for item in stored], total_uploaded=len(stored)
    )


@router.get("/user", response_model=s.GalleryResponse, responses=COMMON)
def list_images(
    user: CurrentUser,
    container: ContainerDep,
    base: BaseUrl,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
    tags: Annotated[str | None, Query(description="comma-separated; matches any")] = None,
    search: Annotated[str, Query(max_length=255)] = "",
) -> s.GalleryResponse:
    query = ImageQuery(page=page, limit=limit, tags=tag_filter(tags), search=search.strip())
    result = container.images.list(user, query)
    return s.GalleryResponse(
        images=[s.gallery(item, base) for item in result.items],
        pagination=s.Pagination(
            page=result.page, limit=result.limit, total=result.total, pages=result.pages
        ),
    )


@router.post("/presigned-url", response_model=s.PresignResponse, responses=COMMON)
def presigned_url(
    body: s.PresignRequest, user: CurrentUser, container: ContainerDep, ip: ClientIp, base: BaseUrl
) -> s.PresignResponse:
    signed = container.images.presign(
        user, body.image_id, Purpose(body.purpose), body.expires_in, ip
    )
    return s.PresignResponse(url=s.absolute(signed.url, base), expires_at=signed.expires_at)


@router.get("/{image_id}", response_model=s.ImageResponse, responses=COMMON)
def get_image(
    image_id: str, user: CurrentUser, container: ContainerDep, base: BaseUrl
) -> s.ImageResponse:
    return s.ImageResponse(image=s.detail(container.images.get(user, image_id), base))


@router.patch("/{image_id}", response_model=s.ImageResponse, responses=COMMON)
def update_image(
    image_id: str,
    body: s.ImagePatchRequest,
    user: CurrentUser,
    container: ContainerDep,
    base: BaseUrl,
) -> s.ImageResponse:
    patch = ImagePatch(
        tags=None if body.tags is None else clean_tags(list(body.tags)),
        is_public=body.is_public,
    )
    return s.ImageResponse(image=s.detail(container.images.update(user, image_id, patch), base))


@router.delete("/{image_id}", response_model=s.MessageResponse, responses=COMMON)
def delete_image(image_id: str, user: CurrentUser, container: ContainerDep) -> s.MessageResponse:
    container.images.delete(user, image_id)
    return s.MessageResponse(message="Image deleted successfully")


@router.get("/{image_id}/access-log", response_model=s.AccessLogResponse, responses=COMMON)
def access_log(
    image_id: str,
    user: CurrentUser,
    container: ContainerDep,
    page: Annotated[int, Query()] = 1,
    limit: Annotated[int, Query()] = 20,
) -> s.AccessLogResponse:
    result = container.images.access_log(user, image_id, page, limit)
    return s.AccessLogResponse(
        entries=[s.AccessEntryOut.of(e) for e in result.items],
        pagination=s.Pagination(
            page=result.page, limit=result.limit, total=result.total, pages=result.pages
        ),
    )
