"""Annotated dependencies: the container, the caller, the caller's IP and the URL base.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the shared
thread pool, so trivial ones would queue behind slow uploads for a thread they do not need.
"""

from __future__ import annotations

from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from pixvault.container import Container
from pixvault.core.errors import Unauthenticated
from pixvault.core.models import User
from pixvault.web.clientip import client_ip

USER_STATE = "pixvault_user"
UPLOAD_LIMITER = "upload_limiter"
RENDER_LIMITER = "render_limiter"
RENDER_WAITS = 64
"""Derivative requests that may wait for a render at once, apart from the shared pool."""


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def parse_bearer(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, else "" (one parser for all)."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def bearer_token(request: Request) -> str:
    return parse_bearer(request.headers.get("authorization", ""))


Token = Annotated[str, Depends(bearer_token)]


async def current_user(container: ContainerDep, token: Token, request: Request) -> User:
    """The rate-limit middleware already resolved the token; reuse that, do not look it up twice."""
    if USER_STATE in request.scope.get("state", {}):
        user: User | None = request.scope["state"][USER_STATE]
        if user is None:
            raise Unauthenticated("Missing or invalid bearer token")
        return user
    if not token:
        raise Unauthenticated("Missing or invalid bearer token")
    return await run_in_threadpool(container.auth.authenticate, token)


CurrentUser = Annotated[User, Depends(current_user)]


async def get_client_ip(request: Request, container: ContainerDep) -> str:
    return client_ip(request.scope, container.settings.trusted_proxies)


ClientIp = Annotated[str, Depends(get_client_ip)]


async def get_base_url(request: Request, container: ContainerDep) -> str:
    """PIXVAULT_PUBLIC_URL when set (behind a proxy); else what the request was sent to."""
    return container.settings.public_url or str(request.base_url).rstrip("/")


BaseUrl = Annotated[str, Depends(get_base_url)]


async def get_upload_limiter(request: Request) -> CapacityLimiter:
    """The threads uploads may use at once (PIXVAULT_MAX_CONCURRENT_UPLOADS), apart from the
    shared pool, so uploads stuck on a slow store cannot starve every other request."""
    limiter: CapacityLimiter = getattr(request.app.state, UPLOAD_LIMITER)
    return limiter


UploadLimiter = Annotated[CapacityLimiter, Depends(get_upload_limiter)]


async def get_render_limiter(request: Request) -> CapacityLimiter:
    """The threads derivative requests use, apart from the shared pool (``PIXVAULT_THREADS``):
    a request whose thumbnail is still being made waits for a worker process, sometimes for
    seconds, and a handful of those must not leave no thread for the gallery's queries."""
    limiter: CapacityLimiter = getattr(request.app.state, RENDER_LIMITER)
    return limiter


RenderLimiter = Annotated[CapacityLimiter, Depends(get_render_limiter)]
