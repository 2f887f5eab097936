"""The web app's entry page, its static assets, and the config document it reads its limits from."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Scope

from pixvault.core import media
from pixvault.core.names import MAX_TAG_LENGTH, MAX_TAGS, TAG_SEPARATOR
from pixvault.web.deps import ContainerDep

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Revalidate on every use: after an upgrade the page must not mix fresh and stale ES modules.
# The ETag/Last-Modified validators make that a cheap 304 when nothing changed.
NO_CACHE = "no-cache"
router = APIRouter()


class AppStaticFiles(StaticFiles):
    """Starlette's StaticFiles (ETag, Last-Modified, 304 on a match) plus Cache-Control."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = NO_CACHE  # on the 304 too, as RFC 9111 expects
        return response


class AcceptedType(BaseModel):
    mime: str
    ext: str


class TagRules(BaseModel):
    """The rules ``core.names.clean_tags`` enforces, so the web app checks the same ones."""

    maxTags: int  # noqa: N815 - the JSON contract is camelCase
    maxLength: int  # noqa: N815
    separator: str


class ClientConfig(BaseModel):
    success: bool = True
    maxFileSize: int  # noqa: N815 - the JSON contract is camelCase
    maxFilesPerUpload: int  # noqa: N815
    acceptedTypes: list[AcceptedType]  # noqa: N815
    allowRegistration: bool  # noqa: N815
    tagRules: TagRules  # noqa: N815


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": NO_CACHE})


@router.get("/api/config", response_model=ClientConfig, tags=["config"])
def client_config(container: ContainerDep) -> ClientConfig:
    cfg = container.settings
    return ClientConfig(
        maxFileSize=cfg.max_file_size,
        maxFilesPerUpload=cfg.max_files_per_upload,
        acceptedTypes=[AcceptedType(**t) for t in media.accepted_types()],
        allowRegistration=cfg.allow_registration,
        tagRules=TagRules(maxTags=MAX_TAGS, maxLength=MAX_TAG_LENGTH, separator=TAG_SEPARATOR),
    )
