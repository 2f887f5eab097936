"""The web app's files: revalidated on every load (so an upgrade is never half-seen), no inline
script or style (the CSP forbids them), and sizes written in the server's units."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from pixvault.core.spool import human_size
from pixvault.web.routes.ui import STATIC_DIR
from tests.conftest import Api

ASSETS = ["js/main.js", "js/dom.js", "app.css"]


@pytest.mark.parametrize("asset", ASSETS)
def test_static_assets_are_revalidated_and_answer_304_when_unchanged(
    local_api: Api, asset: str
) -> None:
    r = local_api.client.get(f"/static/{asset}")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert etag and modified

    again = local_api.client.get(f"/static/{asset}", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "no-cache"
    assert again.headers["etag"] == etag

    since = local_api.client.get(f"/static/{asset}", headers={"If-Modified-Since": modified})
    assert since.status_code == 304


def test_a_stale_etag_gets_the_current_file(local_api: Api) -> None:
    other = local_api.client.get("/static/js/main.js", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200
    assert other.content


def test_every_module_is_served_as_javascript_without_caching(local_api: Api) -> None:
    modules = sorted(p.name for p in (STATIC_DIR / "js").glob("*.js"))
    assert "dom.js" in modules and "ui.js" not in modules
    for name in modules:
        r = local_api.client.get(f"/static/js/{name}")
        assert r.status_code == 200, name
        assert "javascript" in r.headers["content-type"], name
        assert r.headers["cache-control"] == "no-cache", name


def test_the_page_itself_is_not_cached(local_api: Api) -> None:
    r = local_api.client.get("/")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"


class _InlineFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, styles and event handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and "src" not in names:
            self.problems.append("<script> without src")
        for name in names:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")


def test_the_page_has_no_inline_script_or_style() -> None:
    finder = _InlineFinder()
    finder.feed((STATIC_DIR / "index.html").read_text())
    assert finder.problems == []


def test_the_modules_never_write_html() -> None:
    """User data goes in as text only; innerHTML and friends would let a filename run script."""
    for path in sorted((STATIC_DIR / "js").glob("*.js")):
        text = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", ".style."):
            assert sink not in text, f"{path.name} uses {sink}"


SIZES = [0, 1, 1023, 1024, 1280, 1536, 1792, 50_000, 204_800, 10_485_760, 157_600_000, 1024**3]


def test_the_web_app_writes_sizes_as_the_server_does() -> None:
    """One number, one text: the page's formatBytes and the server's human_size agree."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    module = (STATIC_DIR / "js" / "format.js").as_uri()
    script = (
        f"import {{ formatBytes }} from {json.dumps(module)};"
        f"console.log(JSON.stringify({json.dumps(SIZES)}.map(formatBytes)));"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert json.loads(out.stdout) == [human_size(n) for n in SIZES]
