"""The database goes away mid-run: quick 503s with Retry-After, no hang, recovery by itself.

PostgreSQL is the real server, reached through a proxy that refuses (a server that is down) or
swallows everything (a server that hangs). SQLite cannot be "down" while its file is there;
what it can do is stay locked by another process: writers then get 503 after the bounded busy
timeout, readers go on (WAL). A SQLite file that cannot be opened is 503 too (see
tests/contract/test_metadata.py). Redis down fails open: tests/web/test_redis_down.py.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa

from pixvault.core.errors import Unavailable
from pixvault.metadata import engine as engine_module
from pixvault.metadata.engine import (
    POSTGRES_CONNECT_TIMEOUT,
    Timeouts,
    make_engine,
    translate_errors,
)
from pixvault.metadata.pg_guards import DEADLINES, PING_TIMEOUT
from tests.conftest import PASSWORD, Api, build_api
from tests.imagegen import make_image
from tests.outages.conftest import Proxied
from tests.outages.support import (
    ANSWER_WITHIN,
    assert_consistent,
    assert_outage_answer,
    timed,
    wait_until,
)

Call = Callable[[], httpx2.Response]


@pytest.fixture
def pg_api(tmp_path: Path, pg_proxied: Proxied) -> Iterator[Api]:
    """The embedded stack but for the database: PostgreSQL through the proxy."""
    gen = build_api(tmp_path / "data", database_url=pg_proxied.url)
    yield next(gen)
    for _ in gen:
        pass


def _every_backed_route(api: Api, h: dict[str, str]) -> dict[tuple[str, str], Call]:
    """One call per operation the API documents a 503 for, each as a signed-in user would.
    ``/api/config`` needs the database only to look the token up, so it is called with a
    token this process has not seen yet (a remembered one is served: see the test)."""
    c = api.client
    unseen = api.signup()
    r = api.upload(h, ("a.png", make_image("PNG", (64, 48))))
    assert r.status_code == 200, r.text
    image = r.json()["images"][0]
    iid = image["id"]
    account = {"email": "someone@example.com", "password": PASSWORD}
    return {
        ("get", "/readyz"): lambda: c.get("/readyz"),
        ("get", "/api/config"): lambda: c.get("/api/config", headers=unseen),
        ("post", "/api/auth/register"): lambda: c.post("/api/auth/register", json=account),
        ("post", "/api/auth/login"): lambda: c.post("/api/auth/login", json=account),
        ("post", "/api/auth/logout"): lambda: c.post("/api/auth/logout", headers=h),
        ("get", "/api/auth/me"): lambda: c.get("/api/auth/me", headers=h),
        ("post", "/api/images/upload"): lambda: api.upload(
            h, ("b.png", make_image("PNG", (32, 32)))
        ),
        ("get", "/api/images/user"): lambda: c.get("/api/images/user", headers=h),
        ("post", "/api/images/presigned-url"): lambda: c.post(
            "/api/images/presigned-url", json={"imageId": iid}, headers=h
        ),
        ("get", "/api/images/{image_id}"): lambda: c.get(f"/api/images/{iid}", headers=h),
        ("patch", "/api/images/{image_id}"): lambda: c.patch(
            f"/api/images/{iid}", json={"tags": ["x"]}, headers=h
        ),
        ("delete", "/api/images/{image_id}"): lambda: c.delete(f"/api/images/{iid}", headers=h),
        ("get", "/api/images/{image_id}/access-log"): lambda: c.get(
            f"/api/images/{iid}/access-log", headers=h
        ),
        ("get", "/api/images/{image_id}/variant"): lambda: c.get(
            f"/api/images/{iid}/variant?w=200", headers=h
        ),
        ("get", "/files/{key}"): lambda: api.fetch(image["url"]),
        ("get", "/derived/{key}"): lambda: api.fetch(image["thumbnailUrl"]),
    }


def _documented_503s(api: Api) -> set[tuple[str, str]]:
    doc = api.client.get("/openapi.json").json()
    return {
        (method, path)
        for path, operations in doc["paths"].items()
        for method, op in operations.items()
        if "503" in op["responses"]
    }


def test_postgresql_down_every_route_is_a_quick_503_then_it_recovers(
    pg_api: Api, pg_proxied: Proxied
) -> None:
    h = pg_api.signup()
    calls = _every_backed_route(pg_api, h)
    assert set(calls) == _documented_503s(pg_api), "a route without an outage check"
    before = pg_api.state(h)

    pg_proxied.proxy.refuse()  # the server is gone; pooled connections are reset
    for (method, path), call in calls.items():
        r, took = timed(call)
        assert_outage_answer(r)
        assert took < ANSWER_WITHIN, f"{method.upper()} {path} took {took:.2f} s"
    # The process itself still serves, and so does what needs no database.
    assert pg_api.client.get("/healthz").status_code == 200
    assert pg_api.client.get("/api/config").status_code == 200

    pg_proxied.proxy.forward()  # back: no restart, the pool heals itself
    wait_until(lambda: pg_api.client.get("/readyz").status_code == 200)
    assert pg_api.state(h) == before  # the outage changed nothing
    r = pg_api.client.get("/api/images/user", headers=h)
    assert r.status_code == 200 and r.json()["pagination"]["total"] == 1
    r = pg_api.upload(h, ("c.png", make_image("PNG", (16, 16))))
    assert r.status_code == 200, r.text
    assert_consistent(pg_api)


def test_hung_postgresql_is_a_503_within_about_a_second_not_a_hang(
    pg_api: Api, pg_proxied: Proxied
) -> None:
    """Connections accepted, bytes swallowed, nothing ever answered: the pooled connection's
    pre-ping hits its deadline, and new connects are not tried again for a moment."""
    h = pg_api.signup()
    assert pg_api.upload(h, ("a.png", make_image("PNG", (16, 16)))).status_code == 200
    before = pg_api.state(h)

    pg_proxied.proxy.blackhole()

    def gallery() -> httpx2.Response:
        return pg_api.client.get("/api/images/user", headers=h)

    r, took = timed(gallery)
    assert_outage_answer(r)
    assert took < PING_TIMEOUT + ANSWER_WITHIN
    # While the server stays silent: at once, or (one caller, after a pause) connect_timeout.
    for _ in range(4):
        r, took = timed(gallery)
        assert_outage_answer(r)
        assert took < POSTGRES_CONNECT_TIMEOUT + ANSWER_WITHIN
        time.sleep(0.4)
    r, took = timed(lambda: pg_api.upload(h, ("b.png", make_image("PNG", (16, 16)))))
    assert_outage_answer(r)

    pg_proxied.proxy.forward()
    wait_until(lambda: gallery().status_code == 200)
    assert pg_api.state(h) == before
    assert_consistent(pg_api)


def test_a_statement_whose_answer_never_comes_is_cut_at_its_deadline(
    pg_proxied: Proxied,
) -> None:
    """The connection passed its pre-ping, then the server went silent mid-transaction."""
    timeouts = Timeouts(statement=0.5, sqlite_busy=1.0)
    engine = make_engine(pg_proxied.url, timeouts=timeouts)
    try:
        with engine.connect() as conn:  # pre-ping (or connect) while the server answers
            conn.execute(sa.text("SELECT 1"))
            fired = DEADLINES.fired
            pg_proxied.proxy.blackhole()
            started = time.monotonic()
            with pytest.raises(Unavailable), translate_errors():
                conn.execute(sa.text("SELECT 2"))
        took = time.monotonic() - started
        assert 0.5 <= took < 0.5 + 1.0 + ANSWER_WITHIN
        assert DEADLINES.fired > fired
        pg_proxied.proxy.forward()
        wait_until(lambda: _answers(engine))
    finally:
        engine.dispose()


def test_a_slow_statement_is_cancelled_by_the_server_and_the_connection_kept(
    pg_proxied: Proxied,
) -> None:
    engine = make_engine(pg_proxied.url, timeouts=Timeouts(statement=0.3, sqlite_busy=1.0))
    try:
        with engine.connect() as conn:
            fired = DEADLINES.fired
            started = time.monotonic()
            with pytest.raises(Unavailable), translate_errors():
                conn.execute(sa.text("SELECT pg_sleep(5)"))
            assert time.monotonic() - started < ANSWER_WITHIN
            assert DEADLINES.fired == fired  # the server's statement_timeout, not the client's
            conn.rollback()
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1  # same connection, still fine
    finally:
        engine.dispose()


def _answers(engine: sa.Engine) -> bool:
    try:
        with translate_errors(), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Unavailable:
        return False
    return True


def test_sqlite_locked_for_long_fails_writes_with_503_and_reads_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the write lock (a backup, a stuck script): writers wait the busy
    timeout (5 s when serving; 0.5 s here), then 503; readers are not blocked (WAL)."""
    monkeypatch.setattr(engine_module, "SERVING", Timeouts(statement=5.0, sqlite_busy=0.5))
    gen = build_api(tmp_path / "data")
    api = next(gen)
    try:
        h = api.signup()
        r = api.upload(h, ("a.png", make_image("PNG", (16, 16))))
        iid = r.json()["images"][0]["id"]
        before = api.state(h)
        database = api.settings.data_dir / "pixvault.sqlite3"
        holder = sqlite3.connect(database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            assert api.client.get("/api/images/user", headers=h).status_code == 200
            writes: list[Call] = [
                lambda: api.client.patch(f"/api/images/{iid}", json={"tags": ["t"]}, headers=h),
                lambda: api.upload(h, ("b.png", make_image("PNG", (16, 16)))),
                lambda: api.client.post(
                    "/api/auth/register", json={"email": "n@example.com", "password": PASSWORD}
                ),
            ]
            for write in writes:
                r, took = timed(write)
                assert_outage_answer(r)
                assert took < 0.5 + ANSWER_WITHIN
        finally:
            holder.rollback()
            holder.close()
        assert api.state(h) == before
        r = api.client.patch(f"/api/images/{iid}", json={"tags": ["t"]}, headers=h)
        assert r.status_code == 200, r.text
        assert_consistent(api)
    finally:
        for _ in gen:
            pass
