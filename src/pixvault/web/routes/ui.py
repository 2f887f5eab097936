"""The web app's entry page and the small config document it reads its limits from."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

from pixvault.core import media
from pixvault.web.deps import ContainerDep

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter()


class AcceptedType(BaseModel):
    mime: str
    ext: str


class ClientConfig(BaseModel):
    success: bool = True
    maxFileSize: int  # noqa: N815 - the JSON contract is camelCase
    maxFilesPerUpload: int  # noqa: N815
    acceptedTypes: list[AcceptedType]  # noqa: N815
    allowRegistration: bool  # noqa: N815


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/config", response_model=ClientConfig, tags=["config"])
def client_config(container: ContainerDep) -> ClientConfig:
    cfg = container.settings
    return ClientConfig(
        maxFileSize=cfg.max_file_size,
        maxFilesPerUpload=cfg.max_files_per_upload,
        acceptedTypes=[AcceptedType(**t) for t in media.accepted_types()],
        allowRegistration=cfg.allow_registration,
    )
