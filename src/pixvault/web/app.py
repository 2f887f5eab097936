"""create_app(settings): the ASGI application. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI

from pixvault import __version__
from pixvault.container import Container, build_container
from pixvault.settings import Settings
from pixvault.web import errors, openapi
from pixvault.web.bodyguard import BodyGuardMiddleware
from pixvault.web.deps import RENDER_LIMITER, RENDER_WAITS, UPLOAD_LIMITER
from pixvault.web.ratelimit import RateLimitMiddleware
from pixvault.web.routes import auth, derived, files, health, images, ui
from pixvault.web.security import SecurityHeadersMiddleware, scrub_access_log


def create_app(settings: Settings, container: Container | None = None) -> FastAPI:
    container = container or build_container(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Blocking work (queries, signing, file writes) runs in anyio's thread pool. Its default
        # of 40 threads lets 32 busy clients run 32 threads that fight over the GIL: measured,
        # a gallery served 244 req/s with 40 threads and 286 with 8 (bench/README.md).
        to_thread.current_default_thread_limiter().total_tokens = settings.threads
        container.start_background()
        yield
        container.close()

    app = FastAPI(
        title="pixvault",
        version=__version__,
        description="Self-hosted image storage: strict uploads, exact quotas, signed URLs.",
        lifespan=lifespan,
    )
    app.state.container = container
    setattr(app.state, UPLOAD_LIMITER, CapacityLimiter(settings.max_concurrent_uploads))
    setattr(app.state, RENDER_LIMITER, CapacityLimiter(RENDER_WAITS))
    routers = [module.router for module in (health, auth, images, derived, files, ui)]
    routes = [route for router in routers for route in router.routes]
    errors.install(app, routes)
    for router in routers:
        app.include_router(router)
    app.mount("/static", ui.AppStaticFiles(directory=ui.STATIC_DIR), name="static")
    # Outermost last: security headers on every answer, then rate limits, then body limits.
    app.add_middleware(BodyGuardMiddleware, body_timeout=settings.body_timeout)
    app.add_middleware(RateLimitMiddleware, container=container)
    app.add_middleware(SecurityHeadersMiddleware)
    openapi.install(app, routes)
    scrub_access_log()  # signed links' signatures stay out of the access log
    return app
