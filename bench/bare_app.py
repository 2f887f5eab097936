"""The gallery benchmark's baseline: a bare FastAPI app that answers ``GET /api/images/user``
with bytes it holds in memory (a real pixvault page-1 answer, read once from the file named by
``PIXVAULT_BENCH_BARE_BODY``).

It runs the way ``pixvault serve`` runs (``pixvault.cli``): one process, ``uvicorn.run`` with
the same h11 protocol class and header timeout, ``proxy_headers=False``,
``server_header=False``, uvicorn's default loop and access log. The route is a plain ``def``
like pixvault's gallery route, so both pay the same hop into the thread pool. What is left
out is exactly what the benchmark weighs: authentication, middleware, the queries, signing
and the response model. No auth: any request gets the body.

``python -m bench.bare_app --port N`` (127.0.0.1 only).
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


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    from pixvault.settings import Settings
    from pixvault.web.server import http_protocol

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    body = Path(os.environ[BODY_ENV]).read_bytes()
    header_timeout = float(Settings.model_fields["header_timeout"].default)
    uvicorn.run(  # the arguments of pixvault.cli's ``serve``
        create_app(body),
        host="127.0.0.1",
        port=args.port,
        http=http_protocol(header_timeout),
        proxy_headers=False,
        server_header=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
