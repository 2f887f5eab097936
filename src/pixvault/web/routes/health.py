"""Liveness (the process serves) and readiness (its database and blob store answer)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse

from pixvault.core.errors import Unavailable
from pixvault.web.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "a backend does not answer"}})
def readyz(container: ContainerDep) -> JSONResponse:
    try:
        container.check_ready()
    except Unavailable as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(container: ContainerDep) -> str:
    """Prometheus text format; counters only, nothing per user."""
    lines = []
    for name, value in sorted(container.metrics().items()):
        lines += [f"# TYPE pixvault_{name} counter", f"pixvault_{name} {value}"]
    return "\n".join(lines) + "\n"
