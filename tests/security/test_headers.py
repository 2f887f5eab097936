"""Section F: what every answer carries, over a sample of every route the app serves.

The routes are enumerated from the app's router (the OpenAPI document is checked against it),
so a route added later is sampled without anyone editing this file. Each route is asked at
least once the normal way, once with a method it does not serve, and once as a CORS preflight
from a foreign origin; then come the answers no route lists: 304, 400, 401, 403, 404 (API,
static, unknown), 405, 413, 416, 429, 503 (readiness and from middleware), and a forced 500.

The sample is taken once per stack (a module-scoped app on session-scoped services: a
snapshot of some 150 answers), then each test checks one property over all of it.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from fastapi import FastAPI
from starlette.routing import Mount

from pixvault.core.errors import Unavailable
from pixvault.core.ports import RateDecision
from pixvault.web.bodyguard import MAX_BODY
from tests.conftest import PASSWORD, STACKS, Api, backend_overrides, build_api
from tests.imagegen import make_image
from tests.security.oracles import MISSING_ID, assert_no_leak

EVIL = "https://evil.example"
SECRET_IN_ERROR = "/var/lib/pixvault-secret/db.sqlite3"
DOCS_PAGES = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
"""FastAPI's API browser: its inline start-up script is the one allowed (see docs/security.md)."""


@dataclass
class Answer:
    label: str  # what was asked, for failure messages
    route: str  # "METHOD template" of the route meant, or "-" for paths no route serves
    r: httpx2.Response
    tags: set[str] = field(default_factory=set)  # "probe", "confusion", "405", "preflight"
    at: float = field(default_factory=time.time)  # when the answer arrived (wall clock)

    @property
    def content_type(self) -> str:
        return self.r.headers.get("content-type", "")

    @property
    def is_blob(self) -> bool:
        """Stored image bytes (or a redirect to them on the store)."""
        return self.content_type.startswith("image/") or (
            self.r.status_code == 302
            and self.r.request.url.path.startswith(("/derived/", "/api/images/"))
        )

    @property
    def is_html(self) -> bool:
        return self.content_type.startswith("text/html")


@dataclass
class Site:
    api: Api
    stack: str
    routes: list[tuple[str, str]]  # (method, template); "*" for a mount
    answers: list[Answer]
    image: dict[str, Any]


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route, included routers and mounts too."""
    found: list[tuple[str, str]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI's included router
            if inner is not None:
                walk(list(inner.routes))
            elif isinstance(route, Mount):
                found.append(("*", route.path))
            else:
                found.extend((m, route.path) for m in sorted(getattr(route, "methods", None) or ()))

    walk(list(app.routes))
    return found


def _link(url: str) -> str:
    """A signed link of this app as a path plus query (the test client's base is implied)."""
    split = urlsplit(url)
    return f"{split.path}?{split.query}"


class _Deny:
    """A rate limiter that has run out."""

    def hit(self, limit: str, *keys: str) -> RateDecision:
        return RateDecision(allowed=False, limit=1, remaining=0, reset_after=42)

    def refund(self, limit: str, *keys: str) -> None:
        return None


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError(f"could not open {SECRET_IN_ERROR}: Traceback follows")


def _down(*_: Any, **__: Any) -> Any:
    raise Unavailable("Database unavailable")


def _sample(api: Api, stack: str) -> Site:
    c = api.client
    email = f"headers-{time.time_ns()}@example.com"
    creds = {"email": email, "password": PASSWORD}
    h = api.signup(email)
    up = api.upload(h, ("sample.png", make_image("PNG", (120, 80))))
    assert up.status_code == 200, up.text
    image = up.json()["images"][0]
    image_id = image["id"]
    assert api.container.derivatives.wait_idle(timeout=60)
    thumb = _link(image["thumbnailUrl"])
    original = image["url"]
    files_link = _link(original) if original.startswith(str(c.base_url)) else None
    routes = app_routes(c.app)  # type: ignore[arg-type]
    answers: list[Answer] = []

    def ask(label: str, route: str, method: str, url: str, *tags: str, **kw: Any) -> None:
        r = c.request(method, url, follow_redirects=False, **kw)
        answers.append(Answer(label, route, r, set(tags)))

    # What fills a template's parameters, and the bodies that make a request succeed.
    params = {"{image_id}": image_id, "{key:path}": thumb.removeprefix("/derived/")}
    concrete: dict[str, str] = {
        "/files/{key:path}": files_link or "/files/" + thumb.removeprefix("/derived/"),
        "/derived/{key:path}": thumb,
    }
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/auth/register"): {
            "email": f"x{time.time_ns()}@example.com",
            "password": PASSWORD,
        },
        ("POST", "/api/auth/login"): creds,
        ("POST", "/api/images/presigned-url"): {"imageId": image_id},
        ("PATCH", "/api/images/{image_id}"): {"tags": ["sampled"]},
    }
    queries = {"/api/images/{image_id}/variant": "?w=200&format=jpeg"}

    def url_for(template: str) -> str:
        if template in concrete:
            return concrete[template]
        url = template
        for name, value in params.items():
            url = url.replace(name, value)
        return url + queries.get(template, "")

    for method, template in routes:
        route = f"{method} {template}"
        if method == "*":  # a mount: the static files
            for asset in ("app.css", "js/main.js", "index.html"):
                ask(f"GET {template}/{asset}", route, "GET", f"{template}/{asset}")
            continue
        url = url_for(template)
        tags = () if files_link or not template.startswith("/files/") else ("unused",)
        if (method, template) == ("POST", "/api/images/upload"):
            files = [("files", ("b.png", make_image("PNG", (20, 20)), "image/png"))]
            ask(route, route, method, url, headers=h, files=files)
        elif (method, template) == ("DELETE", "/api/images/{image_id}"):
            spare = api.upload(h, ("spare.png", make_image("PNG", (10, 10)))).json()
            ask(route, route, method, url.replace(image_id, spare["images"][0]["id"]), headers=h)
        elif (method, template) == ("POST", "/api/auth/logout"):
            token = c.post("/api/auth/login", json=creds).json()["accessToken"]
            ask(route, route, method, url, headers={"Authorization": f"Bearer {token}"})
        else:
            body = bodies.get((method, template))
            ask(route, route, method, url, *tags, headers=h, json=body)
    for template in sorted({t for _, t in routes}):
        methods = {m for m, t in routes if t == template}
        url = f"{template}/app.css" if "*" in methods else url_for(template)
        for method in ("TRACE", "PUT"):
            if method not in methods:
                ask(f"{method} {url}", f"{method} {template}", method, url, "405", headers=h)
        preflight = {
            "Origin": EVIL,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization",
        }
        ask(f"preflight {url}", "-", "OPTIONS", url, "preflight", headers=preflight)
        null = {**h, "Origin": "null"}
        ask(f"GET {url} from Origin: null", "-", "GET", url, "preflight", headers=null)

    # Answers no route lists.
    r = c.get("/static/app.css")
    ask("static 304", "-", "GET", "/static/app.css", headers={"If-None-Match": r.headers["etag"]})
    ask(
        "400 bad JSON",
        "-",
        "POST",
        "/api/auth/login",
        content=b"{",
        headers={"Content-Type": "application/json"},
    )
    ask("401 no token", "-", "GET", "/api/auth/me")
    ask(
        "401 bad token",
        "-",
        "GET",
        "/api/images/user",
        headers={"Authorization": "Bearer nonsense"},
    )
    ask("403 bad link", "-", "GET", thumb.replace("sig=", "sig=0"))
    ask("404 unknown path", "-", "GET", "/no/such/page")
    ask("404 static", "-", "GET", "/static/no-such-file.js")
    ask("404 missing image", "-", "GET", f"/api/images/{MISSING_ID}", headers=h)
    ask("413 body over the cap", "-", "POST", "/api/auth/login", content=b"x" * (MAX_BODY + 1))
    ask("416 range", "-", "GET", thumb, headers={"Range": "bytes=999999-"})
    for label, path in [
        ("web root .env", "/.env"),
        ("web root .git", "/.git/config"),
        ("static .git", "/static/.git/config"),
        ("static traversal", "/static/../pyproject.toml"),
        ("static encoded traversal", "/static/%2e%2e/%2e%2e/pyproject.toml"),
        ("static listing", "/static/"),
        ("static js listing", "/static/js/"),
        ("static backup", "/static/index.html~"),
        ("data dir", "/data/"),
        ("database file", "/pixvault.db"),
        ("blobs listing", "/files/"),
        ("owner folder listing", "/files/" + thumb.split("/")[2] + "/"),
        ("derived listing", "/derived/"),
        ("spool", "/spool/"),
    ]:
        ask(label, "-", "GET", path, "probe")
    key_path = (files_link or thumb).split("?")[0]
    query = (files_link or thumb).split("?")[1]
    for label, path in [
        ("blob as .css", f"{key_path}/x.css?{query}"),
        ("blob with .css suffix", f"{key_path}.css?{query}"),
        ("blob with ;.css", f"{key_path};.css?{query}"),
        ("gallery as .css", "/api/images/user/x.css"),
        ("detail as .css", f"/api/images/{image_id}/x.css"),
        ("detail with .css suffix", f"/api/images/{image_id}.css"),
    ]:
        ask(label, "-", "GET", path, "confusion", headers=h)

    container = api.container
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container, "api_limiter", _Deny())
        ask("429 rate limited", "-", "GET", "/api/images/user", headers=h)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container.database, "ping", _down)
        ask("503 readiness", "-", "GET", "/readyz")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container.auth, "authenticate", _down)
        ask("503 from middleware", "-", "GET", "/api/images/user", headers=h)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container.images, "list", _boom)
        ask("500 forced", "-", "GET", "/api/images/user", headers=h)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(container.derivatives, "open_link", _boom)
        ask("500 forced on a file route", "-", "GET", thumb)
    return Site(api=api, stack=stack, routes=routes, answers=answers, image=image)


class _NoTruncate:
    """The stack's settings without emptying its tables first: a module-scoped app cannot use
    the per-test ``pg_clean``, and needs no empty tables (every e-mail here is unique)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    def getfixturevalue(self, name: str) -> Any:
        return None if name == "pg_clean" else self._request.getfixturevalue(name)


@pytest.fixture(scope="module", params=STACKS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    stack = str(request.param)
    overrides = backend_overrides(_NoTruncate(request), stack)  # type: ignore[arg-type]
    data = tmp_path_factory.mktemp(f"headers-{stack}") / "data"
    for api in build_api(data, **overrides):
        yield _sample(api, stack)


def _each(site: Site, check: Callable[[Answer], str | None]) -> None:
    """Run ``check`` on every answer; fail once, listing every answer that broke it."""
    bad = [f"{a.label} [{a.r.status_code}]: {msg}" for a in site.answers if (msg := check(a))]
    assert not bad, f"{len(bad)} of {len(site.answers)} answers:\n" + "\n".join(bad)


def _csp(a: Answer) -> dict[str, list[str]]:
    policy: dict[str, list[str]] = {}
    for value in a.r.headers.get_list("content-security-policy"):
        for directive in filter(str.strip, value.split(";")):
            name, *sources = directive.split()
            policy.setdefault(name.lower(), []).extend(sources)
    return policy


def test_the_sample_covers_every_route_and_status(site: Site) -> None:
    doc = site.api.client.get("/openapi.json").json()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    enumerated = {(m, t.replace(":path}", "}")) for m, t in site.routes}
    assert documented <= enumerated, documented - enumerated  # the walk misses none
    asked = {a.route for a in site.answers}
    missing = [f"{m} {t}" for m, t in site.routes if f"{m} {t}" not in asked]
    assert not missing, missing
    statuses = {a.r.status_code for a in site.answers}
    want = {200, 304, 400, 401, 403, 404, 405, 413, 429, 500, 503}
    assert want <= statuses, want - statuses
    # Each route's own request succeeded: its headers were judged on a real answer too.
    failed = [
        (a.label, a.r.status_code, a.r.text[:200])
        for a in site.answers
        if a.route != "-" and not a.tags and a.r.status_code >= 400
    ]
    assert not failed, failed


def test_every_answer_is_nosniff(site: Site) -> None:
    def check(a: Answer) -> str | None:
        got = a.r.headers.get_list("x-content-type-options")
        return None if got == ["nosniff"] else f"X-Content-Type-Options {got}"

    _each(site, check)


def test_every_answer_has_a_restrictive_csp(site: Site) -> None:
    """Anything but an HTML page (JSON, text, scripts, errors, images): ``default-src 'none'``,
    images with ``sandbox`` too. HTML pages: scripts from the app only, no plugins and no
    <base>; FastAPI's docs pages are the one exception allowed inline script (docs/security.md)."""

    def check(a: Answer) -> str | None:
        csp = _csp(a)
        if not csp:
            return "no Content-Security-Policy"
        if csp.get("object-src", csp.get("default-src")) != ["'none'"]:
            return f"plugins allowed: {csp}"
        scripts = csp.get("script-src", csp.get("default-src", []))
        if {"*", "'unsafe-eval'", "data:", "http:", "https:"} & set(scripts):
            return f"script from anywhere: {scripts}"
        if a.is_html:
            if csp.get("base-uri") != ["'none'"]:
                return f"<base> allowed: {csp}"
            if "'unsafe-inline'" in scripts and a.r.request.url.path not in DOCS_PAGES:
                return f"inline script allowed: {scripts}"
        # (A 304 has no body type: it keeps the policy of the page it revalidates.)
        elif a.content_type and (csp.get("default-src") != ["'none'"] or "script-src" in csp):
            return f"not default-src 'none': {csp}"
        if a.is_blob and "sandbox" not in csp:
            return f"a stored image without sandbox: {csp}"
        return None

    _each(site, check)


def test_every_answer_forbids_framing(site: Site) -> None:
    """``frame-ancestors 'none'`` in the CSP, and X-Frame-Options: DENY for browsers without
    CSP 2: on every answer, stored images included."""

    def check(a: Answer) -> str | None:
        if a.r.headers.get_list("x-frame-options") != ["DENY"]:
            return f"X-Frame-Options {a.r.headers.get_list('x-frame-options')}"
        if _csp(a).get("frame-ancestors") != ["'none'"]:
            return f"frame-ancestors {_csp(a).get('frame-ancestors')}"
        return None

    _each(site, check)


def test_every_answer_sends_no_referrer(site: Site) -> None:
    """Signed links are in pages, JSON and redirects: none may leave in a Referer header."""

    def check(a: Answer) -> str | None:
        got = a.r.headers.get_list("referrer-policy")
        return None if got == ["no-referrer"] else f"Referrer-Policy {got}"

    _each(site, check)


def test_no_answer_sets_a_cookie_or_names_the_server(site: Site) -> None:
    """Bearer tokens only: a cookie would make CSRF possible. No framework or version banner."""

    def check(a: Answer) -> str | None:
        for name in ("set-cookie", "server", "x-powered-by"):
            if name in a.r.headers:
                return f"{name}: {a.r.headers[name]}"
        return None

    _each(site, check)


def test_no_refused_answer_leaks(site: Site) -> None:
    """L0 on every 4xx and 5xx, the forced 500s included: no stack trace, exception text,
    driver or SQL text, path, backend URL or key; and errors are the JSON shape."""

    def check(a: Answer) -> str | None:
        if a.r.status_code < 400:
            return None
        try:
            assert_no_leak(a.r, site.api, SECRET_IN_ERROR)
        except AssertionError as exc:
            return str(exc)
        if a.r.request.method != "HEAD" and set(a.r.json()) != {"error", "code"}:
            return f"not the error shape: {a.r.text[:200]}"
        return None

    _each(site, check)
    forced = [a for a in site.answers if a.label.startswith("500")]
    assert [a.r.json() for a in forced] == [
        {"error": "Internal server error", "code": "internal"}
    ] * 2


def test_no_answer_grants_another_origin_access(site: Site) -> None:
    """No CORS: a preflight from a foreign origin, or a request from ``Origin: null``, gets no
    Access-Control-Allow-* header (so no credentialed, wildcard or reflected origin either)."""

    def check(a: Answer) -> str | None:
        granted = [k for k in a.r.headers if k.startswith("access-control-")]
        return f"grants {granted}" if granted else None

    _each(site, check)
    preflights = [a for a in site.answers if a.r.request.method == "OPTIONS"]
    assert preflights and all(a.r.status_code == 405 for a in preflights)


def test_unserved_methods_are_405_with_allow(site: Site) -> None:
    def check(a: Answer) -> str | None:
        if "405" not in a.tags:
            return None
        allow = {m.strip() for m in a.r.headers.get("allow", "").split(",") if m.strip()}
        if a.r.status_code != 405 or not allow or a.r.request.method in allow:
            return f"Allow {sorted(allow)} for {a.r.request.method}"
        return None

    _each(site, check)


def test_private_answers_are_not_cached_beyond_their_link(site: Site) -> None:
    """API answers (tokens, signed links, account data) are ``no-store``; an image is
    ``private`` and cached no longer than the link it came through stays valid."""

    def check(a: Answer) -> str | None:
        cache = a.r.headers.get("cache-control", "")
        path = a.r.request.url.path
        if a.is_blob and a.r.status_code in (200, 206, 302):
            found = re.fullmatch(r"private, max-age=(\d+)", cache)
            if found is None:
                return f"Cache-Control {cache!r}"
            exp = a.r.request.url.params.get("exp")
            # Seconds the link had left when the answer came (not now: the answers were
            # collected earlier, and on a slow machine seconds earlier).
            left = int(exp) - a.at if exp is not None else None
            if left is not None and int(found[1]) > left + 1:
                return f"max-age {found[1]} outlives the link ({left:.0f} s left)"
        elif path.startswith("/api/") and "no-store" not in cache:
            return f"Cache-Control {cache!r}"
        return None

    _each(site, check)


def test_web_root_and_path_confusion_are_refused(site: Site) -> None:
    """Nothing outside the static folder is served, no folder is listed, and an image URL with
    a stylesheet-like suffix (web cache deception) is not an image or a page."""
    for a in site.answers:
        if a.tags & {"probe", "confusion"}:
            assert a.r.status_code in (403, 404), (a.label, a.r.status_code, a.r.text[:200])
            assert a.content_type == "application/json", (a.label, a.content_type)


def test_stored_images_are_sandboxed_or_on_another_origin(site: Site) -> None:
    """F46 where the bytes come from: the app sends them with its own headers (checked above),
    or the store does, on another origin with no cookie of ours, with the type and disposition
    the server signed into the link."""
    api, image = site.api, site.image
    for url in (image["url"], image["thumbnailUrl"], image["previewUrl"]):
        r = api.client.get(_link(url), follow_redirects=False)
        if r.status_code == 302:
            url = r.headers["location"]
        if url.startswith(str(api.client.base_url)):
            got = api.client.get(_link(url))
            assert got.status_code == 200 and got.headers["content-type"].startswith("image/")
            assert "sandbox" in got.headers["content-security-policy"]
            continue
        store, app = urlsplit(url), urlsplit(str(api.client.base_url))
        assert (store.scheme, store.netloc) != (app.scheme, app.netloc)
        got = httpx2.get(url, timeout=30)
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] in ("image/png", "image/webp")
        assert got.headers["content-disposition"].startswith("inline;")
        assert "set-cookie" not in got.headers
        # F49/I82: no shared cache, and no cache past the link (store links carry their expiry).
        assert got.headers["cache-control"] == "private"
        query = parse_qs(store.query)
        signed = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
        link_expiry = signed.replace(tzinfo=dt.UTC).timestamp() + int(query["X-Amz-Expires"][0])
        assert parsedate_to_datetime(got.headers["expires"]).timestamp() <= link_expiry


def test_docs_pages_still_load_their_bundle(site: Site) -> None:
    """The docs CSP must let FastAPI's pages work: every script and stylesheet they name is
    from a source the policy allows."""
    for path in sorted(DOCS_PAGES - {"/docs/oauth2-redirect"}):
        r = site.api.client.get(path)
        csp = _csp(Answer(path, "-", r))
        for tag, attr, directive in (
            ("script", "src", "script-src"),
            ("link", "href", "style-src"),
        ):
            for found in re.findall(rf"<{tag}[^>]*{attr}=\"([^\"]+)\"", r.text):
                if tag == "link" and "stylesheet" not in r.text.split(found)[0].rsplit("<", 1)[1]:
                    continue
                origin = "{0.scheme}://{0.netloc}".format(urlsplit(found))
                assert origin in csp[directive], (path, found, csp[directive])
