"""A user's images: upload, gallery, detail, edit, delete, signed links and access log."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Query, Request

from pixvault.core.images import MAX_PAGE, MAX_PAGE_SIZE
from pixvault.core.models import ImageQuery, Purpose, SignedImage
from pixvault.core.names import MAX_SEARCH_LENGTH, clean_tags
from pixvault.core.ports import ImagePatch
from pixvault.web import schemas as s
from pixvault.web.deps import BaseUrl, ClientIp, ContainerDep, CurrentUser, UploadLimiter
from pixvault.web.forms import tag_filter, upload_options
from pixvault.web.multipart import FormLimits, parse_upload

router = APIRouter(prefix="/api/images", tags=["images"])
E: dict[str, object] = {"model": s.ErrorResponse}
# 400, 408, 413, 429 and 503 are added to every operation that can send them by web/openapi.py.
OWN: dict[int | str, dict[str, object]] = {401: E, 404: E}  # signed in; the caller's image
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]

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
    "/upload", response_model=s.UploadResponse, responses={401: E}, openapi_extra=UPLOAD_BODY
)
async def upload(
    request: Request,
    user: CurrentUser,
    container: ContainerDep,
    base: BaseUrl,
    limiter: UploadLimiter,
) -> s.UploadResponse:
    """All or nothing: one bad file rejects the whole request and stores nothing.

    Every thread this takes (hashing while the body streams in, then storing) comes from
    ``limiter``: past PIXVAULT_MAX_CONCURRENT_UPLOADS, uploads wait their turn.
    """
    cfg = container.settings
    limits = FormLimits(
        max_file_size=cfg.max_file_size,
        max_files=cfg.max_files_per_upload,
        max_request_size=cfg.max_request_size,
    )
    form = await parse_upload(request, limits, cfg.spool_dir, limiter=limiter)

    def store() -> list[SignedImage]:
        try:
            return container.images.upload(user, form.files, upload_options(form.fields))
        finally:
            form.discard()  # here, not on the event loop: an unlink can wait on the disk

    try:
        stored = await to_thread.run_sync(store, limiter=limiter)
    finally:
        form.discard()  # if the thread never ran (cancelled): a no-op otherwise
    return s.UploadResponse(
        images=[s.uploaded(item, base) for item in stored], total_uploaded=len(stored)
    )


@router.get("/user", response_model=s.GalleryResponse, responses={401: E})
def list_images(
    user: CurrentUser,
    container: ContainerDep,
    base: BaseUrl,
    page: Page = 1,
    limit: Limit = 20,
    tags: Annotated[str | None, Query(description="comma-separated; matches any")] = None,
    search: Annotated[str, Query(max_length=MAX_SEARCH_LENGTH)] = "",
    cursor: Annotated[
        str,
        Query(
            max_length=64,
            description="`nextCursor` of the previous page: the images after it, with the "
            "same filters (`page` is then ignored)",
        ),
    ] = "",
) -> s.GalleryResponse:
    query = ImageQuery(page=page, limit=limit, tags=tag_filter(tags), search=search)
    result = container.images.list(user, query, cursor)
    return s.GalleryResponse(
        images=[s.gallery(item, base) for item in result.items],
        pagination=s.Pagination(
            page=result.page,
            limit=result.limit,
            total=result.total,
            pages=result.pages,
            next_cursor=result.next_cursor,
            total_exact=result.exact,
        ),
    )


@router.post("/presigned-url", response_model=s.PresignResponse, responses=OWN)
def presigned_url(
    body: s.PresignRequest, user: CurrentUser, container: ContainerDep, ip: ClientIp, base: BaseUrl
) -> s.PresignResponse:
    signed = container.images.presign(
        user, body.image_id, Purpose(body.purpose), body.expires_in, ip
    )
    return s.PresignResponse(url=s.absolute(signed.url, base), expires_at=signed.expires_at)


@router.get("/{image_id}", response_model=s.ImageResponse, responses=OWN)
def get_image(
    image_id: str, user: CurrentUser, container: ContainerDep, base: BaseUrl
) -> s.ImageResponse:
    return s.ImageResponse(image=s.detail(container.images.get(user, image_id), base))


@router.patch("/{image_id}", response_model=s.ImageResponse, responses=OWN)
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


@router.delete("/{image_id}", response_model=s.MessageResponse, responses=OWN)
def delete_image(image_id: str, user: CurrentUser, container: ContainerDep) -> s.MessageResponse:
    container.images.delete(user, image_id)
    return s.MessageResponse(message="Image deleted successfully")


@router.get("/{image_id}/access-log", response_model=s.AccessLogResponse, responses=OWN)
def access_log(
    image_id: str,
    user: CurrentUser,
    container: ContainerDep,
    page: Page = 1,
    limit: Limit = 20,
) -> s.AccessLogResponse:
    result = container.images.access_log(user, image_id, page, limit)
    return s.AccessLogResponse(
        entries=[s.AccessEntryOut.of(e) for e in result.items],
        pagination=s.Pagination(
            page=result.page, limit=result.limit, total=result.total, pages=result.pages
        ),
    )
