"""Liveness (the process serves), readiness (its database and blob store answer), metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from pixvault.web.deps import ContainerDep
from pixvault.web.schemas import ErrorResponse, StatusResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=StatusResponse)
async def healthz() -> StatusResponse:
    """``async``: it needs no thread, so it answers even when every worker thread is busy."""
    return StatusResponse(status="ok")


@router.get(
    "/readyz",
    response_model=StatusResponse,
    responses={503: {"model": ErrorResponse, "description": "a backend does not answer"}},
)
def readyz(container: ContainerDep) -> StatusResponse:
    container.check_ready()  # raises Unavailable: 503 through web/errors.py
    return StatusResponse(status="ready")


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(container: ContainerDep) -> str:
    """Prometheus text format; counters only, nothing per user."""
    lines = []
    for name, value in sorted(container.metrics().items()):
        lines += [f"# TYPE pixvault_{name} counter", f"pixvault_{name} {value}"]
    return "\n".join(lines) + "\n"
