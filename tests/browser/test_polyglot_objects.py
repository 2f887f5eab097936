"""Hostile uploads in a real browser: polyglots opened by their own URL (catalogue F47), and
script in names and tags shown by the web app (E42).

The live server stores on local disk, so stored objects are served from the app's own origin:
the worst case, where a polyglot that ran would run with the app's cookies and storage. The
package's one Chromium is reused; each test opens contexts of its own.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    Request,
    Route,
    expect,
)

from tests.conftest import PASSWORD
from tests.core.test_corpus import data as corpus_file
from tests.imagegen import make_image
from tests.security.hostile import HTML_PAYLOAD, png_with_chunk

SETTLE_MS = 500
"""How long the opened objects get to run anything (a meta refresh of 0 s, a script, an
onerror) before the test looks."""

INLINE_STYLE_BLOCKED = "error: Applying inline style violates the following Content Security"

PAGE_STATE_JS = """
() => ({
  title: document.title,
  type: document.contentType,
  scripts: document.scripts.length,
  elements: [...document.querySelectorAll("*")].map((e) => e.localName).join(" "),
  refresh: document.querySelector("meta[http-equiv]") !== null,
})
"""


def account(base: str, email: str) -> tuple[str, dict[str, str]]:
    """Sign up and in through the API: (token, headers)."""
    body = {"email": email, "password": PASSWORD}
    assert httpx.post(f"{base}/api/auth/register", json=body).status_code == 201
    token: str = httpx.post(f"{base}/api/auth/login", json=body).json()["accessToken"]
    return token, {"Authorization": f"Bearer {token}"}


def upload(base: str, headers: dict[str, str], files: list[tuple[str, bytes]], **form: str) -> Any:
    """Upload declared as HTML, as an attacker would: the server must not care."""
    parts = [("files", (name, data, "text/html")) for name, data in files]
    r = httpx.post(f"{base}/api/images/upload", headers=headers, files=parts, data=form)
    assert r.status_code == 200, r.text
    return r.json()["images"]


def polyglots() -> list[tuple[str, bytes]]:
    """Valid images carrying HTML and script: after the GIF trailer, in a PNG text chunk,
    after the JPEG end, and the corpus's JPEG with a <script> comment."""
    gif = make_image("GIF", (60, 40)) + HTML_PAYLOAD
    png = png_with_chunk(make_image("PNG", (60, 40)), b"tEXt", b"Comment\x00" + HTML_PAYLOAD)
    jpeg = make_image("JPEG", (60, 40)) + HTML_PAYLOAD
    return [
        ("gifar.html", gif),
        ("text-chunk.png", png),
        ("after-eoi.jpg", jpeg),
        ("polyglot.jpg", corpus_file("polyglot.jpg")),
    ]


class Watcher:
    """What pages did: every request, and console output, uncaught errors and dialogs."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.messages: list[str] = []

    def request(self, request: Request) -> None:
        self.requests.append(request)

    def console(self, message: ConsoleMessage) -> None:
        self.messages.append(f"{message.type}: {message.text}")

    def error(self, error: Error) -> None:
        self.messages.append(f"uncaught: {error}")

    def dialog(self, dialog: Dialog) -> None:
        self.messages.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def watch(self, page: Page) -> None:
        page.on("console", self.console)
        page.on("pageerror", self.error)
        page.on("dialog", self.dialog)


def assert_payload_runs_when_served_as_html(browser: Browser, server: str) -> None:
    """The control: the GIF polyglot's bytes, served from the app's origin as HTML without the
    objects' headers, call the canary and navigate. So the payload is live, and only the way
    pixvault serves it keeps it from running."""
    context = browser.new_context()
    called: list[str] = []

    def as_html(route: Route) -> None:
        route.fulfill(body=polyglots()[0][1], content_type="text/html")

    def canary(route: Route) -> None:
        called.append(route.request.url)
        route.abort()

    def away(route: Route) -> None:
        route.fulfill(body="away", content_type="text/plain")

    try:
        page = context.new_page()
        page.route(f"{server}/control", as_html)
        page.route("**/canary*", canary)
        page.route("**/navigated", away)
        page.goto(f"{server}/control")
        page.wait_for_url("**/navigated")
        assert called, "the payload did not run even as HTML: the test would prove nothing"
    finally:
        context.close()


def test_stored_objects_opened_directly_run_no_script_and_go_nowhere(
    browser: Browser, server: str
) -> None:
    """F47: each stored object (originals and derivatives), opened by its signed URL as a
    top-level page, is shown as an image: no script runs (the title stays, no <script> exists),
    nothing navigates, and no request goes out, so none reaches the app with its cookie.
    The control proves the payload is live: the same bytes served as HTML do all of that."""
    _, headers = account(server, "polyglots@example.com")
    images = upload(server, headers, polyglots())
    urls = [i[k] for i in images for k in ("url", "thumbnailUrl")]

    assert_payload_runs_when_served_as_html(browser, server)

    context = browser.new_context()
    context.add_cookies([{"name": "session", "value": "canary-cookie", "url": server}])
    seen = Watcher()
    context.on("request", seen.request)
    try:
        pages: list[tuple[str, Page]] = []
        for url in urls:
            page = context.new_page()
            seen.watch(page)
            response = page.goto(url)
            assert response is not None and response.status == 200, url
            pages.append((url, page))
        pages[-1][1].wait_for_timeout(SETTLE_MS)
        for url, page in pages:
            assert page.url == url, f"navigated away from {url} to {page.url}"
            state = page.evaluate(PAGE_STATE_JS)
            assert state["type"].startswith("image/"), state
            assert state["scripts"] == 0 and "pwned" not in state["title"], state
            # Chromium's own image document: a viewport <meta>, the title it makes, the <img>.
            assert state["elements"] == "html head meta title body img", state
            assert not state["refresh"], state
    finally:
        context.close()
    # Chromium styles its image document inline, which the objects' CSP blocks and reports:
    # that report is the policy at work. Anything else (a script's output, a blocked script or
    # request, an uncaught error, a dialog) is not expected.
    assert [m for m in seen.messages if not m.startswith(INLINE_STYLE_BLOCKED)] == []
    asked = [r.url for r in seen.requests]
    assert sorted(asked) == sorted(urls), asked  # the navigations themselves and nothing else


def test_script_in_names_and_tags_shows_as_text(page: Page, server: str) -> None:
    """E42: a file name and tags made of markup appear in the gallery and the viewer as the
    very text typed, and nothing in them runs (a CSP report or an uncaught error would fail
    the ``page`` fixture; an alert would be a dialog)."""
    name = '"><img src=x onerror=alert(1)><svg onload=alert(2)>.png'
    tags = ["<script>alert(3)</script>", '"><iframe srcdoc=x>', "javascript:alert(4)"]
    token, headers = account(server, "markup@example.com")
    upload(server, headers, [(name, make_image("PNG", (60, 40)))], tags=json.dumps(tags))
    seen = Watcher()
    page.on("dialog", seen.dialog)
    page.add_init_script(f"sessionStorage.setItem('pixvault.token', {json.dumps(token)})")
    page.goto(server + "/")
    card = page.locator("#grid .card")
    expect(card).to_have_count(1)
    expect(card.locator(".card-name")).to_have_text(name)
    expect(card.locator(".thumb-img")).to_have_attribute("alt", name)
    expect(card.locator(".tag")).to_have_text(sorted(tags))
    card.locator(".thumb").click()
    expect(page.locator("#viewer-title")).to_have_text(name)
    expect(page.locator("#viewer-tags .chip")).to_have_text([f"{t}×" for t in sorted(tags)])
    injected = "img[src='x'], svg[onload], iframe[srcdoc], #grid script, #viewer script"
    assert page.locator(injected).count() == 0
    assert seen.messages == []  # no alert() ran
