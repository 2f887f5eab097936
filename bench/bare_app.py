"""The gallery benchmark's baseline: a bare FastAPI app that answers ``GET /api/images/user``
with bytes it holds in memory (a real pixvault page-1 answer, read once from the file named by
``PIXVAULT_BENCH_BARE_BODY``).

It runs the way ``pixvault serve`` runs (``pixvault.web.server``): ``--workers N`` processes
(default one) under uvicorn's supervisor, the same h11 protocol class and header timeout,
``proxy_headers=False``, ``server_header=False``, uvicorn's default loop and access log. The
route is a plain ``def`` like pixvault's gallery route, so both pay the same hop into the thread
pool. What is left out is exactly what the benchmark weighs: authentication, middleware, the
queries, signing and the response model. No auth: any request gets the body.

``python -m bench.bare_app --port N [--workers N]`` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI, Response

BODY_ENV = "PIXVAULT_BENCH_BARE_BODY"
"""Path of a file holding the JSON body to serve, byte for byte."""
PATH = "/api/images/user"


def create_app(body: bytes) -> FastAPI:
    """One GET route returning ``body`` as ``application/json`` (query string ignored)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(PATH)
    def gallery() -> Response:
        return Response(content=body, media_type="application/json")

    return app


def app_from_env() -> FastAPI:
    """The factory each worker process calls (a built app cannot be sent to a worker)."""
    return create_app(Path(os.environ[BODY_ENV]).read_bytes())


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    from pixvault.settings import Settings
    from pixvault.web.server import HeaderTimeoutProtocol

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    # pixvault's header timeout is a setting; the base class carries the same default.
    assert HeaderTimeoutProtocol.header_timeout == Settings.model_fields["header_timeout"].default
    uvicorn.run(  # the arguments of pixvault.web.server's ``PixvaultConfig``
        "bench.bare_app:app_from_env",
        factory=True,
        workers=args.workers,
        host="127.0.0.1",
        port=args.port,
        http=HeaderTimeoutProtocol,
        proxy_headers=False,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
