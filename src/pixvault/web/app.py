"""create_app(settings): the ASGI application. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pixvault import __version__
from pixvault.container import Container, build_container
from pixvault.settings import Settings
from pixvault.web import errors
from pixvault.web.ratelimit import RateLimitMiddleware
from pixvault.web.routes import auth, files, health, images, ui
from pixvault.web.security import SecurityHeadersMiddleware


def create_app(settings: Settings, container: Container | None = None) -> FastAPI:
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        container.close()

    app = FastAPI(
        title="pixvault",
        version=__version__,
        description="Self-hosted image storage: strict uploads, exact quotas, signed URLs.",
        lifespan=lifespan,
    )
    app.state.container = container
    errors.install(app)
    for module in (health, auth, images, files, ui):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    app.add_middleware(RateLimitMiddleware, container=container)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
