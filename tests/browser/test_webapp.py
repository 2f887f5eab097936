"""The whole web app in a real browser: sign up, upload, gallery, viewer, expiring links, delete."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, Request, Route, expect

from tests.browser.conftest import screenshot, sign_up
from tests.imagegen import make_image

DROP_JS = """
({ name, type, b64 }) => {
  // What a desktop drag of one file delivers: a DataTransfer holding a File.
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const zone = document.getElementById("dropzone");
  let prevented = false;
  for (const kind of ["dragenter", "dragover", "drop"]) {
    const event = new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true });
    zone.dispatchEvent(event);
    prevented = event.defaultPrevented;
  }
  return prevented;
}
"""

TAMPER_JS = """
(img) => {
  // Same link with a wrong signature: the server answers 403, as for an expired link.
  const url = new URL(img.src);
  url.searchParams.set("sig", "0".repeat(64));
  img.src = url.href;
  return url.href;
}
"""

ALL_LOADED_JS = (
    "() => [...document.querySelectorAll('#grid .thumb-img')].every((i) => i.naturalWidth > 0)"
)

LOADED_JS = """
([selector, bad]) => {
  const img = document.querySelector(selector);
  return img.src !== bad && img.complete && img.naturalWidth > 0;
}
"""

ORIGINAL_LOADED_JS = """
() => {
  const img = document.getElementById("viewer-img");
  return img.src.includes("/files/") && img.complete && img.naturalWidth > 0;
}
"""


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def card(page: Page, name: str) -> Locator:
    return page.locator("#grid .card").filter(has=page.locator(".card-name", has_text=name))


def meter(page: Page) -> int:
    return int(page.locator("#storage-meter").evaluate("(m) => m.value"))


def test_full_flow(page: Page, server: str, tmp_path: Path) -> None:
    files = {
        "beach.jpg": make_image("JPEG", (640, 420), color=(230, 170, 60)),
        "forest.png": make_image("PNG", (480, 360), color=(40, 140, 70)),
        "city.webp": make_image("WEBP", (600, 400), color=(70, 80, 160)),
    }
    dropped = make_image("GIF", (320, 240), color=(200, 60, 120))
    sign_up(page, server, "flow@example.com")
    expect(page.locator("#empty")).to_contain_text("No images yet")
    # Sizes and limits in binary units, spelled as the server's own messages spell them.
    expect(page.locator("#storage-text")).to_have_text("0 B of 1 GiB")
    expect(page.locator("#accepted-hint")).to_contain_text("up to 10 MiB each")

    # Three by the file input, with a tag for the batch.
    page.locator("#upload-tag-input").fill("trip")
    page.keyboard.press("Enter")
    expect(page.locator("#upload-tags .chip")).to_have_text(["trip×"])
    paths = [write(tmp_path, name, data) for name, data in files.items()]
    page.locator("#file-input").set_input_files([str(p) for p in paths])
    rows = page.locator("#upload-queue .queue-row")
    expect(rows).to_have_count(3)
    for i in range(3):
        expect(rows.nth(i)).to_have_attribute("data-state", "done")
        expect(rows.nth(i).locator("progress")).to_have_attribute("value", "100")
    expect(page.locator("#grid .card")).to_have_count(3)

    # One by drag and drop, with another tag.
    page.get_by_role("button", name="Remove tag trip").click()
    page.locator("#upload-tag-input").fill("sky")
    page.keyboard.press("Enter")
    payload = {"name": "sunset.gif", "type": "image/gif", "b64": base64.b64encode(dropped).decode()}
    assert page.evaluate(DROP_JS, payload) is True  # the app took the drop
    expect(rows).to_have_count(1)  # the finished batch made room for the new one
    expect(rows.first).to_have_attribute("data-state", "done")
    expect(rows.first.locator("progress")).to_have_attribute("value", "100")

    cards = page.locator("#grid .card")
    expect(cards).to_have_count(4)
    expect(cards.locator(".card-name")).to_have_text(
        ["sunset.gif", "city.webp", "forest.png", "beach.jpg"]  # newest first
    )
    expect(cards.first.locator(".thumb-img")).to_have_attribute("alt", "sunset.gif")
    expect(cards.first.locator(".thumb-img")).to_have_attribute("loading", "lazy")
    expect(card(page, "sunset.gif").locator(".tag")).to_have_text(["sky"])
    expect(card(page, "beach.jpg").locator(".tag")).to_have_text(["trip"])
    page.wait_for_function(ALL_LOADED_JS)
    total = sum(len(d) for d in files.values()) + len(dropped)
    assert meter(page) == total
    expect(page.locator("#storage-text")).to_have_text(re.compile(r"^\d+(\.\d)? KiB of 1 GiB$"))
    expect(cards.locator(".card-size").first).to_have_text(re.compile(r"^\d+(\.\d)? KiB · "))
    screenshot(page, "gallery.png")

    # Search (debounced, in the URL; Back and Forward replay it), then the tag filter.
    page.locator("#search").fill("fores")
    expect(page).to_have_url(re.compile(r"\?search=fores$"))
    expect(cards).to_have_count(1)
    expect(cards.locator(".card-name")).to_have_text(["forest.png"])
    page.go_back()
    expect(cards).to_have_count(4)
    expect(page.locator("#search")).to_have_value("")
    page.go_forward()
    expect(cards).to_have_count(1)
    expect(page.locator("#search")).to_have_value("fores")
    page.get_by_role("button", name="Clear").click()
    expect(cards).to_have_count(4)
    page.locator("#tag-filter").fill("sky")
    expect(page).to_have_url(re.compile(r"\?tags=sky$"))
    expect(cards.locator(".card-name")).to_have_text(["sunset.gif"])
    page.reload()  # the filtered view is shareable: it survives a reload
    expect(cards.locator(".card-name")).to_have_text(["sunset.gif"])
    expect(page.locator("#tag-filter")).to_have_value("sky")
    page.locator("#tag-filter").fill("")
    expect(cards).to_have_count(4)

    # The viewer: details, keyboard navigation.
    viewer = page.get_by_role("dialog", name="beach.jpg")
    card(page, "beach.jpg").locator(".thumb").click()
    expect(viewer).to_be_visible()
    facts = page.locator("#viewer-facts")
    expect(facts).to_contain_text(hashlib.sha256(files["beach.jpg"]).hexdigest())
    expect(facts).to_contain_text("640 × 420 px")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#viewer-title")).to_have_text("forest.png")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#viewer-title")).to_have_text("beach.jpg")
    page.wait_for_function(LOADED_JS, arg=["#viewer-img", ""])
    screenshot(page, "viewer.png")

    # An expired link is refreshed through the API and the image shows again: the preview (a
    # derivative) comes fresh with the image's detail, the original (once zoomed) is re-signed
    # with a "view" presign.
    presigns: list[Request] = []
    details: list[Request] = []

    def track(r: Request) -> None:
        if r.url.endswith("/presigned-url"):
            presigns.append(r)
        elif r.method == "GET" and re.search(r"/api/images/[^/?]+$", r.url):
            details.append(r)

    page.on("request", track)
    bad = page.locator("#viewer-img").evaluate(TAMPER_JS)
    assert "/derived/" in bad
    assert httpx.get(bad).status_code == 403
    page.wait_for_function(LOADED_JS, arg=["#viewer-img", bad])
    assert "/derived/" in (page.locator("#viewer-img").get_attribute("src") or "")
    assert (len(details), presigns) == (1, [])
    expect(page.locator("#viewer-unavailable")).to_be_hidden()
    page.get_by_role("button", name="View original").click()
    page.wait_for_function(ORIGINAL_LOADED_JS)
    bad = page.locator("#viewer-img").evaluate(TAMPER_JS)
    assert httpx.get(bad).status_code == 403
    page.wait_for_function(LOADED_JS, arg=["#viewer-img", bad])
    assert "/files/" in (page.locator("#viewer-img").get_attribute("src") or "")
    assert [json.loads(r.post_data or "{}")["purpose"] for r in presigns] == ["view"]
    expect(page.locator("#viewer-unavailable")).to_be_hidden()
    page.get_by_role("button", name="View original").click()  # back to the preview

    # Edit tags and the public flag; download.
    page.locator("#viewer-tag-input").fill("favourite")
    page.keyboard.press("Enter")
    expect(page.locator("#viewer-tags .chip")).to_have_text(["favourite×", "trip×"])
    viewer.get_by_label("Public").check()
    expect(card(page, "beach.jpg").locator(".badge")).to_have_text("public")
    expect(card(page, "beach.jpg").locator(".tag")).to_have_text(["favourite", "trip"])
    with page.expect_download() as download:
        page.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "beach.jpg"
    assert json.loads(presigns[-1].post_data or "{}")["purpose"] == "download"

    # Esc closes and gives focus back to the card that opened the viewer.
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()
    expect(card(page, "beach.jpg").locator(".thumb")).to_be_focused()

    # When the fresh link fails as well: one refresh only, then a placeholder. The route is in
    # place before the image breaks, so the app's refresh cannot slip past it.
    target = card(page, "city.webp")
    good = target.locator(".thumb-img").get_attribute("src") or ""
    bad_city, worse = (re.sub(r"sig=[^&]+", f"sig={c * 64}", good) for c in "01")
    assert httpx.get(worse).status_code == 403
    city = f"**/api/images/{target.get_attribute('data-id')}"

    def fail_refresh(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["image"]["thumbnailUrl"] = worse
        route.fulfill(response=response, json=body)

    details.clear()
    page.route(city, fail_refresh)
    # An expired link breaks every candidate of the card's srcset, not just its src.
    target.locator(".thumb-img").evaluate(
        "(img, url) => { img.srcset = `${url} 1x`; img.src = url; }", bad_city
    )
    expect(target.locator(".unavailable")).to_be_visible()
    expect(target.locator(".unavailable")).to_have_text("Image temporarily unavailable")
    page.wait_for_timeout(300)  # time for a (wrong) second refresh to show up
    assert len(details) == 1
    page.unroute(city)

    # Delete, after confirming in the app's own dialog; the meter drops by the file's size.
    card(page, "beach.jpg").locator(".thumb").click()
    expect(viewer).to_be_visible()
    page.get_by_role("button", name="Delete…").click()
    confirm = page.get_by_role("dialog", name="Delete this image?")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")  # Esc cancels the confirmation, the viewer stays
    expect(confirm).to_be_hidden()
    expect(viewer).to_be_visible()
    page.get_by_role("button", name="Delete…").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(viewer).to_be_hidden()
    expect(cards).to_have_count(3)
    expect(card(page, "beach.jpg")).to_have_count(0)
    expect(page.locator("#storage-meter")).to_have_js_property(
        "value", total - len(files["beach.jpg"])
    )


def test_pages_of_a_large_gallery(page: Page, server: str) -> None:
    sign_up(page, server, "many@example.com")
    token = page.evaluate("() => sessionStorage.getItem('pixvault.token')")
    headers = {"Authorization": f"Bearer {token}"}
    tiny = make_image("PNG", (8, 8), noise=0)
    for batch in range(2):
        parts = [("files", (f"img-{batch}-{i:02}.png", tiny, "image/png")) for i in range(15)]
        r = httpx.post(f"{server}/api/images/upload", headers=headers, files=parts, timeout=30)
        assert r.status_code == 200, r.text
    page.reload()
    cards = page.locator("#grid .card")
    expect(cards).to_have_count(24)
    expect(page.locator("#page-info")).to_have_text("Page 1 of 2")
    expect(page.get_by_role("button", name="← Newer")).to_be_disabled()
    page.get_by_role("button", name="Older →").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    expect(cards).to_have_count(6)
    expect(cards.last.locator(".card-name")).to_have_text("img-0-00.png")
    page.go_back()
    expect(cards).to_have_count(24)
    expect(cards.first.locator(".card-name")).to_have_text("img-1-14.png")
