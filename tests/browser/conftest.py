"""Real-browser fixtures: Debian's Chromium, driven by Playwright, against a live `pixvault serve`.

Everything is local: the server listens on 127.0.0.1 and Chromium is started with background
networking off, so no request leaves the machine. Playwright never downloads a browser here.
Fixtures are package-scoped so the Playwright event loop is gone before other packages run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.server import clean_env, serve
from tests.conftest import PASSWORD
from tests.services import unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = os.environ.get("PIXVAULT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
# Small limits for the rejection and quota tests: 200 KiB per file, 50 000 bytes per user.
SMALL_MAX_FILE_SIZE = 200 * 1024
SMALL_QUOTA = 50_000


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright", "install the dev extras (pip install -e '.[dev]')")
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).is_file()):
        unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=30_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _server(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: str) -> Iterator[str]:
    root = tmp_path_factory.mktemp(name)
    env = clean_env(root / "data", PIXVAULT_SECRET_KEY="browser-test-key-" + "k" * 32, **settings)
    with serve(env, root / "server.log") as base:
        yield base


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Default limits, as `make run` gives them."""
    yield from _server(tmp_path_factory, "browser-default")


@pytest.fixture(scope="package")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from _server(
        tmp_path_factory,
        "browser-small",
        PIXVAULT_MAX_FILE_SIZE=str(SMALL_MAX_FILE_SIZE),
        PIXVAULT_DEFAULT_QUOTA=str(SMALL_QUOTA),
    )


@pytest.fixture(scope="package")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Six API requests a minute per client: the gallery hits 429 after a few searches."""
    yield from _server(tmp_path_factory, "browser-limited", PIXVAULT_RATE_LIMIT="6/minute")


@dataclass
class PageProblems:
    """Uncaught script errors and CSP violations: any of them fails the test."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

        def on_console(message: Any) -> None:
            if message.type == "error" and "Content Security Policy" in message.text:
                self.errors.append(f"CSP: {message.text}")

        page.on("console", on_console)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(10_000)
    problems = PageProblems()
    page = context.new_page()
    problems.watch(page)
    try:
        yield page
        assert problems.errors == [], problems.errors
    finally:
        context.close()


def sign_up(page: Page, base: str, email: str) -> None:
    """Create an account through the UI; the app signs in right after."""
    from playwright.sync_api import expect

    page.goto(base + "/")
    page.get_by_role("button", name="Create one").click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.locator("#account-email")).to_have_text(email)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path
