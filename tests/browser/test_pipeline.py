"""Derivatives in the web app: thumbnails in the grid (placeholder first, for a fresh upload
the one the browser made from the file), the preview in the viewer (the original only on zoom),
HEIC offered as a download, failed images explained.

What a gallery page costs is measured in the browser (Resource Timing), against what the same
page would have cost with the originals; `-s` (or the summary of a failure) shows the numbers.
"""

from __future__ import annotations

import io
import os
import random
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageOps, ImageStat
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    FilePayload,
    Page,
    Request,
    Route,
    expect,
)

from tests.browser.conftest import screenshot, sign_up
from tests.cli.server import clean_env, serve
from tests.imagegen import make_image

PAGE_BUDGET = 1_500_000  # bytes of image transfer for one gallery page of 24 photos
PHOTO_SIZE = (3000, 2000)

# Every image request the page made: Resource Timing sees what the network (or cache) gave.
IMAGE_TIMINGS_JS = """
() => performance.getEntriesByType("resource")
  .filter((e) => e.initiatorType === "img" || /\\/(derived|files)\\//.test(e.name))
  .map((e) => ({ name: e.name, transfer: e.transferSize, body: e.encodedBodySize }))
"""

ALL_THUMBS_LOADED_JS = """
(count) => {
  const imgs = [...document.querySelectorAll("#grid .thumb-img")];
  return imgs.length === count && imgs.every((i) => i.complete && i.naturalWidth > 0);
}
"""

# Timestamps of what a new card shows, from inside the page (no polling gaps): when the card
# appears, whether its placeholder is there at that moment, when its thumbnail has loaded.
WATCH_CARDS_JS = """
(name) => {
  window.__card = null;
  const start = performance.now();
  const seen = () => {
    const card = [...document.querySelectorAll("#grid .card")]
      .find((c) => c.querySelector(".card-name").textContent === name);
    if (!card || window.__card) return;
    const img = card.querySelector(".thumb-img");
    const blur = card.querySelector("img.placeholder");
    const record = {
      appeared: performance.now() - start,
      placeholder: Boolean(blur && blur.src.startsWith("data:image/png")),
      placeholderPainted: Boolean(blur && blur.complete && blur.naturalWidth > 0),
      loaded: null,
    };
    window.__card = record;
    const done = () => { record.loaded = performance.now() - start; };
    if (img.complete && img.naturalWidth > 0) done();
    else img.addEventListener("load", done, { once: true });
  };
  if (window.__watch) window.__watch.disconnect(); // one card watched at a time
  window.__watch = new MutationObserver(seen);
  window.__watch.observe(document.getElementById("grid"), { childList: true });
}
"""

# What a placeholder <img> shows: its size, and the mean colour of its left and right thirds.
PLACEHOLDER_COLOURS_JS = """
(img) => {
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const { data } = ctx.getImageData(0, 0, w, h);
  const mean = (x0, x1) => {
    const sum = [0, 0, 0];
    let n = 0;
    for (let y = 0; y < h; y++) {
      for (let x = x0; x < x1; x++, n++) {
        for (let c = 0; c < 3; c++) sum[c] += data[(y * w + x) * 4 + c];
      }
    }
    return sum.map((v) => v / n);
  };
  const third = Math.floor(w / 3);
  return { w, h, left: mean(0, third), right: mean(w - third, w) };
}
"""

# What the app paints for a server placeholder, by the app's own module.
SERVER_PLACEHOLDER_JS = """
async (placeholder) => (await import("/static/js/thumbhash.js")).placeholderDataUrl(placeholder)
"""

# Seconds every derivative job of `slow_server` sleeps before it starts: the upload answers,
# the gallery lists the new image, and only then does the server have its placeholder.
RENDER_DELAY = 2.0

# Loaded by every Python process of `slow_server` (PYTHONPATH): the processor's fault injection
# (ProcessImageProcessor.delay) switched on, as tests/web/test_derivatives.py does in-process.
SLOW_WORKERS = """\
from pixvault.processing import pool

_init = pool.ProcessImageProcessor.__init__


def _slow(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.delay = {delay}


pool.ProcessImageProcessor.__init__ = _slow
"""

ORANGE = (235, 140, 30)
BLUE = (40, 80, 200)

VIEWER_LOADED_JS = """
(expected) => {
  const img = document.getElementById("viewer-img");
  return img.complete && img.naturalWidth === expected;
}
"""


@pytest.fixture
def console_errors(page: Page) -> Iterator[list[str]]:
    """Every console error (a failed image load is one): none is expected in these tests."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    yield errors
    assert errors == [], errors


def token_headers(page: Page) -> dict[str, str]:
    token = page.evaluate("() => sessionStorage.getItem('pixvault.token')")
    return {"Authorization": f"Bearer {token}"}


def camera_photo(i: int) -> bytes:
    """A 6 MP JPEG of ~1.4 MB that looks like a photo to an encoder: soft colour fields, hard
    edges, texture that survives shrinking to a thumbnail (foliage, fabric) and sensor grain.
    Flat colour plus fine noise would not do: shrunk to 400 px, the noise averages away and the
    thumbnail is a few hundred bytes."""
    rng = random.Random(i)
    w, h = PHOTO_SIZE
    fields = bytes(rng.randrange(256) for _ in range(12 * 8 * 3))
    im = Image.frombytes("RGB", (12, 8), fields).resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(60):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(20, 400)
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        shape = rng.randrange(3)
        if shape == 0:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
        elif shape == 1:
            draw.rectangle((x, y, x + 2 * r, y + r), fill=color)
        else:
            end = (rng.randrange(w), rng.randrange(h))
            draw.line((x, y, *end), fill=color, width=rng.randrange(3, 30))
    texture = Image.effect_noise((w // 6, h // 6), 80).convert("RGB")
    im = Image.blend(im, texture.resize(PHOTO_SIZE, Image.Resampling.BICUBIC), 0.2)
    im = Image.blend(im, Image.effect_noise(PHOTO_SIZE, 40).convert("RGB"), 0.1)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=88)
    return out.getvalue()


def sideways_photo() -> bytes:
    """A 2400×1600 JPEG, orange above and blue below, with EXIF orientation 6 (turn 90° clockwise
    to show): upright it is 1600×2400, blue on the left and orange on the right."""
    im = Image.new("RGB", (2400, 1600), ORANGE)
    ImageDraw.Draw(im).rectangle((0, 800, 2400, 1600), fill=BLUE)
    im = Image.blend(im, Image.effect_noise((2400, 1600), 60).convert("RGB"), 0.08)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def upright_thirds(data: bytes) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean RGB of the left and right thirds of a picture shown upright (EXIF applied)."""
    with Image.open(io.BytesIO(data)) as im:
        small = ImageOps.exif_transpose(im).convert("RGB").resize((60, 90))
    third = small.width // 3

    def mean(box: tuple[int, int, int, int]) -> tuple[float, ...]:
        return tuple(ImageStat.Stat(small.crop(box)).mean)

    return mean((0, 0, third, small.height)), mean((small.width - third, 0, small.width, 90))


def assert_colour(actual: list[float], expected: tuple[float, ...], what: str) -> None:
    """Near the picture's own colour (a ThumbHash is a blur that also boosts saturation and rings
    a little at hard edges), and far from the neutral grey tile."""
    shown = f"{what}: {[round(a) for a in actual]}, expected ~{[round(e) for e in expected]}"
    assert all(abs(a - e) <= 50 for a, e in zip(actual, expected, strict=True)), shown
    assert max(actual) - min(actual) > 100, shown
    assert actual.index(max(actual)) == expected.index(max(expected)), shown


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose derivative workers sleep RENDER_DELAY seconds before every job."""
    root = tmp_path_factory.mktemp("browser-slow")
    hooks = root / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SLOW_WORKERS.format(delay=RENDER_DELAY))
    path = os.pathsep.join(p for p in (str(hooks), os.environ.get("PYTHONPATH")) if p)
    env = clean_env(
        root / "data", PIXVAULT_SECRET_KEY="browser-test-key-" + "k" * 32, PYTHONPATH=path
    )
    with serve(env, root / "server.log") as base:
        yield base


def upload(base: str, headers: dict[str, str], files: list[tuple[str, bytes, str]]) -> Any:
    parts = [("files", (name, data, ctype)) for name, data, ctype in files]
    r = httpx.post(f"{base}/api/images/upload", headers=headers, files=parts, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["images"]


def gallery(base: str, headers: dict[str, str], limit: int = 24) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/images/user?limit={limit}", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    images: list[dict[str, Any]] = r.json()["images"]
    return images


def wait_processed(base: str, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    """Until the workers have made every thumbnail (and so every placeholder, or a failure)."""
    deadline = time.monotonic() + 120
    while True:
        items = gallery(base, headers)
        done = [i for i in items if i["placeholder"] or i["status"] == "failed"]
        if len(done) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.25)


def kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB"


def garbage_scan_jpeg() -> bytes:
    """A JPEG whose every marker is in place (SOI, tables, SOS, EOI) but whose scan cannot be
    decoded: garbage entropy-coded bytes (no 0xFF, so no false markers) under a scan header that
    names Huffman tables the file never defines."""
    jpeg = make_image("JPEG", (640, 480), color=(90, 120, 200))
    sos = jpeg.index(b"\xff\xda")
    header_end = sos + 2 + struct.unpack(">H", jpeg[sos + 2 : sos + 4])[0]
    eoi = jpeg.rindex(b"\xff\xd9")
    garbage = bytes((i * 73 + 11) % 255 for i in range(eoi - header_end))
    data = bytearray(jpeg[:header_end] + garbage + jpeg[eoi:])
    for k in range(data[sos + 4]):  # components in the scan: table selectors -> 3/3
        data[sos + 5 + 2 * k + 1] = 0x33
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    return bytes(data)


def test_a_gallery_page_of_camera_photos_transfers_thumbnails_not_originals(
    page: Page, server: str, console_errors: list[str]
) -> None:
    sign_up(page, server, "camera@example.com")
    headers = token_headers(page)
    photos = [(f"IMG_{i:04}.jpg", camera_photo(i), "image/jpeg") for i in range(24)]
    assert all(1_000_000 < len(data) < 2_000_000 for _, data, _ in photos)
    for batch in (photos[:12], photos[12:]):
        upload(server, headers, batch)
    items = wait_processed(server, headers, 24)
    assert len(items) == 24 and all(i["placeholder"] for i in items)

    page.reload()
    expect(page.locator("#grid .card")).to_have_count(24)
    # Every card paints its placeholder from the data in the list, before any image request.
    expect(page.locator("#grid img.placeholder")).to_have_count(24)
    for blur in page.locator("#grid img.placeholder").all():
        expect(blur).to_have_attribute("alt", "")
    page.locator("#grid .card").last.scroll_into_view_if_needed()  # lazy images: load them all
    page.wait_for_function(ALL_THUMBS_LOADED_JS, arg=24, timeout=60_000)
    names = page.locator("#grid .thumb-img").evaluate_all("(imgs) => imgs.map((i) => i.alt)")
    assert sorted(names) == sorted(name for name, _, _ in photos)

    timings = page.evaluate(IMAGE_TIMINGS_JS)
    assert len(timings) == 24, timings
    assert all("/derived/" in t["name"] and "/thumb" in t["name"] for t in timings), timings
    transferred = sum(t["transfer"] for t in timings)
    bodies = sum(t["body"] for t in timings)
    originals = sum(len(data) for _, data, _ in photos)
    previews = sum(len(httpx.get(i["previewUrl"], timeout=60).content) for i in items)
    print(
        f"\none gallery page of 24 {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEGs:"
        f"\n  thumbnails: {kib(transferred)} transferred ({kib(bodies)} of image bytes)"
        f"\n  originals would have been: {kib(originals)} ({originals / transferred:.0f}x)"
        f"\n  1600 px previews as a 2x srcset candidate would have been: {kib(previews)}"
    )
    assert 0 < bodies <= transferred < PAGE_BUDGET
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "gallery-thumbnails.png")


def test_a_fresh_upload_shows_its_placeholder_then_its_thumbnail(
    page: Page, server: str, tmp_path: Path, console_errors: list[str]
) -> None:
    sign_up(page, server, "fresh@example.com")
    path = tmp_path / "DSC_0001.jpg"
    path.write_bytes(camera_photo(3))
    page.evaluate(WATCH_CARDS_JS, "DSC_0001.jpg")
    page.locator("#file-input").set_input_files(str(path))
    expect(page.locator("#upload-queue .queue-row").first).to_have_attribute("data-state", "done")
    page.wait_for_function("() => window.__card && window.__card.loaded !== null", timeout=15_000)
    record = page.evaluate("() => window.__card")
    shown = record["loaded"] - record["appeared"]
    print(
        f"\nfresh upload: card at {record['appeared']:.0f} ms, thumbnail {shown:.0f} ms later, "
        f"placeholder in its first paint: {record['placeholder']}"
    )
    # In the card's first paint, whether or not the server had made its own yet: until it has,
    # the browser's (made from the file it sent; see the slowed-worker test below) stands in.
    assert record["placeholder"], record
    assert shown < 2500, record  # generous: 2 cores decode a 6 MP JPEG meanwhile
    card = page.locator("#grid .card").first
    expect(card.locator(".thumb-img")).to_have_attribute("alt", "DSC_0001.jpg")
    assert "/derived/" in (card.locator(".thumb-img").get_attribute("src") or "")

    # After a reload the browser's own is gone (memory only): the server's comes with the list
    # once the worker has made it, with the thumbnail, and is painted at once, before the
    # thumbnail: hold the thumbnail back and look.
    held: list[str] = []
    page.route("**/derived/**", lambda route: held.append(route.request.url))
    page.reload()
    blur = page.locator("#grid .card img.placeholder")
    expect(blur).to_have_count(1)
    page.wait_for_function(
        "() => { const b = document.querySelector('#grid img.placeholder');"
        " return b && b.complete && b.naturalWidth > 0; }"
    )
    assert held and "/thumb" in held[0], held
    assert page.locator("#grid .thumb-img").evaluate("(i) => i.naturalWidth") == 0
    screenshot(page, "fresh-placeholder.png")
    page.unroute("**/derived/**")
    page.reload()
    page.wait_for_function(ALL_THUMBS_LOADED_JS, arg=1)


def test_a_fresh_upload_paints_the_placeholder_the_browser_made_while_the_server_is_slow(
    page: Page, slow_server: str, console_errors: list[str]
) -> None:
    """The worker sleeps RENDER_DELAY s before each render, so the list that brings the new card
    has no placeholder: the card paints the ThumbHash the browser made from the file (upright,
    as EXIF says), then the thumbnail covers it, then the server's placeholder takes over. A
    file the browser cannot decode (HEIC) shows the neutral tile, as before."""
    sign_up(page, slow_server, "slow@example.com")
    photo = sideways_photo()
    left, right = upright_thirds(photo)
    held: list[Route] = []

    def hold(route: Route) -> None:  # no thumbnail until the placeholder was looked at
        held.append(route)

    page.route("**/derived/**", hold)
    page.evaluate(WATCH_CARDS_JS, "sideways.jpg")
    with page.expect_response(lambda r: "/api/images/user" in r.url) as listed:
        page.locator("#file-input").set_input_files(
            FilePayload(name="sideways.jpg", mimeType="image/jpeg", buffer=photo)
        )
    (item,) = listed.value.json()["images"]
    assert item["originalName"] == "sideways.jpg"
    assert item["placeholder"] is None, "the server was not slow: nothing is tested"

    page.wait_for_function("() => window.__card !== null")
    record = page.evaluate("() => window.__card")
    assert record["placeholder"], record  # in the card's very first paint
    card = page.locator("#grid .card", has_text="sideways.jpg")
    blur = card.locator("img.placeholder")
    expect(blur).to_have_attribute("alt", "")
    expect(blur).to_have_attribute("aria-hidden", "true")
    page.wait_for_function("(b) => b.complete && b.naturalWidth > 0", arg=blur.element_handle())
    assert card.locator(".thumb-img").evaluate("(i) => i.naturalWidth") == 0
    assert held and "/thumb" in held[0].request.url, [r.request.url for r in held]
    seen = blur.evaluate(PLACEHOLDER_COLOURS_JS)
    assert seen["w"] < seen["h"], seen  # portrait: the EXIF orientation was applied
    assert_colour(seen["left"], left, "left third (blue)")
    assert_colour(seen["right"], right, "right third (orange)")
    local_src = blur.get_attribute("src")
    screenshot(page, "fresh-local-placeholder.png")

    # The thumbnail: it comes, and covers the placeholder.
    for route in held:
        route.continue_()
    page.unroute("**/derived/**")
    page.wait_for_function(
        "() => window.__card.loaded !== null", timeout=int(RENDER_DELAY * 1000) + 15_000
    )
    thumb = card.locator(".thumb-img")
    size = thumb.evaluate("(i) => [i.naturalWidth, i.naturalHeight]")
    assert size[0] < size[1], size
    on_top = card.locator(".thumb").evaluate(
        "(t) => { const r = t.getBoundingClientRect();"
        " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2).className; }"
    )
    assert on_top == "thumb-img", on_top
    screenshot(page, "fresh-local-placeholder-then-thumbnail.png")

    # The server's own placeholder, once made, replaces the browser's at the next refresh (a
    # second upload brings one): here a HEIC, which Chromium cannot decode, so no local one.
    (done,) = wait_processed(slow_server, token_headers(page), 1)
    assert done["placeholder"], done
    page.evaluate(WATCH_CARDS_JS, "IMG_0420.HEIC")
    heic = make_image("HEIF", (1200, 800), color=(40, 120, 90))
    with page.expect_response(lambda r: "/api/images/user" in r.url) as listed:
        page.locator("#file-input").set_input_files(
            FilePayload(name="IMG_0420.HEIC", mimeType="image/heic", buffer=heic)
        )
    by_name = {i["originalName"]: i for i in listed.value.json()["images"]}
    assert by_name["IMG_0420.HEIC"]["placeholder"] is None
    page.wait_for_function("() => window.__card !== null")
    assert not page.evaluate("() => window.__card")["placeholder"]
    heic_card = page.locator("#grid .card", has_text="IMG_0420.HEIC")
    expect(heic_card.locator("img.placeholder")).to_have_count(0)  # the neutral tile
    server_src = page.evaluate(SERVER_PLACEHOLDER_JS, done["placeholder"])
    assert server_src and server_src != local_src
    expect(card.locator("img.placeholder")).to_have_attribute("src", server_src)
    page.wait_for_function(
        "() => window.__card.loaded !== null", timeout=int(RENDER_DELAY * 1000) + 15_000
    )
    screenshot(page, "fresh-heic-then-thumbnail.png")


def test_a_high_density_screen_gets_the_800_px_thumbnail(browser: Browser, server: str) -> None:
    """srcset: a 2x screen loads `thumbnail2xUrl` (longest side 800), a 1x screen never does."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, device_scale_factor=2)
    try:
        page = context.new_page()
        sign_up(page, server, "retina@example.com")
        upload(server, token_headers(page), [("IMG_2X.jpg", camera_photo(5), "image/jpeg")])
        page.reload()
        page.wait_for_function(ALL_THUMBS_LOADED_JS, arg=1, timeout=30_000)
        img = page.locator("#grid .thumb-img").first
        shown = img.evaluate("(i) => i.currentSrc")
        assert "/thumb2x.webp" in shown
        # naturalWidth is in CSS pixels (800 / 2x): read the picture the browser was sent.
        with Image.open(io.BytesIO(httpx.get(shown, timeout=30).content)) as sent:
            assert max(sent.size) == 800
        assert "/thumb.webp" in (img.get_attribute("src") or "")  # the 1x candidate
    finally:
        context.close()


def test_the_viewer_loads_the_preview_and_the_original_only_on_zoom(
    page: Page, server: str, console_errors: list[str]
) -> None:
    sign_up(page, server, "viewer@example.com")
    headers = token_headers(page)
    (photo,) = upload(server, headers, [("harbour.jpg", camera_photo(5), "image/jpeg")])
    page.reload()
    originals: list[Request] = []
    page.on("request", lambda r: originals.append(r) if "/files/" in r.url else None)

    page.locator("#grid .thumb").first.click()
    viewer = page.get_by_role("dialog", name="harbour.jpg")
    expect(viewer).to_be_visible()
    page.wait_for_function(VIEWER_LOADED_JS, arg=1600, timeout=15_000)  # the preview's width
    img = page.locator("#viewer-img")
    assert "/derived/" in (img.get_attribute("src") or "")
    expect(img).to_have_attribute("alt", "harbour.jpg")
    zoom = viewer.get_by_role("button", name="View original")
    expect(zoom).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#viewer-note")).to_be_hidden()
    page.wait_for_timeout(300)
    assert originals == [], [r.url for r in originals]

    # Zoom by keyboard: the original, at full size, in a stage that scrolls.
    zoom.focus()
    page.keyboard.press("Enter")
    expect(zoom).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(VIEWER_LOADED_JS, arg=PHOTO_SIZE[0], timeout=15_000)
    assert [r.url.split("?")[0] for r in originals] == [photo["url"].split("?")[0]]
    stage = page.locator("#viewer-figure")
    expect(stage).to_have_class("viewer-figure img-box can-zoom is-zoomed")
    assert stage.evaluate("(s) => s.scrollWidth > s.clientWidth")
    screenshot(page, "viewer-original.png")
    page.keyboard.press("Space")  # and back to the preview (from the cache: no new request)
    expect(zoom).to_have_attribute("aria-pressed", "false")
    page.wait_for_function(VIEWER_LOADED_JS, arg=1600)
    assert len(originals) == 1


def test_heic_is_shown_by_its_preview_and_offered_as_a_download(
    page: Page, server: str, console_errors: list[str]
) -> None:
    sign_up(page, server, "heic@example.com")
    headers = token_headers(page)
    heic = make_image("HEIF", (1200, 800), color=(40, 120, 90))
    (image,) = upload(server, headers, [("IMG_0420.HEIC", heic, "image/heic")])
    assert image["contentType"] == "image/heic"
    page.reload()
    originals: list[Request] = []
    page.on("request", lambda r: originals.append(r) if "/files/" in r.url else None)
    page.wait_for_function(ALL_THUMBS_LOADED_JS, arg=1)  # the thumbnail, made from the HEIC

    page.locator("#grid .thumb").first.click()
    viewer = page.get_by_role("dialog", name="IMG_0420.HEIC")
    expect(viewer).to_be_visible()
    page.wait_for_function(VIEWER_LOADED_JS, arg=1200)  # never enlarged: 1200 wide
    assert "/derived/" in (page.locator("#viewer-img").get_attribute("src") or "")
    expect(viewer.get_by_role("button", name="View original")).to_be_hidden()
    expect(page.locator("#viewer-note")).to_contain_text("Browsers cannot show image/heic")
    page.locator("#viewer-img").click()  # a click does not zoom into what cannot be shown
    page.wait_for_timeout(300)
    assert originals == []
    with page.expect_download() as download:
        viewer.get_by_role("button", name="Download").click()
    assert download.value.suggested_filename == "IMG_0420.HEIC"
    screenshot(page, "viewer-heic.png")


def test_a_failed_image_shows_its_reason_and_can_be_deleted(
    page: Page, server: str, console_errors: list[str]
) -> None:
    sign_up(page, server, "failed@example.com")
    headers = token_headers(page)
    (image,) = upload(server, headers, [("broken<b>.jpg", garbage_scan_jpeg(), "image/jpeg")])
    assert httpx.get(image["thumbnailUrl"], timeout=30).status_code == 200  # forces processing
    (item,) = wait_processed(server, headers, 1)
    assert item["status"] == "failed", item
    reason = item["failureReason"]
    assert reason

    page.reload()
    card = page.locator("#grid .card").first
    expect(card).to_have_attribute("data-status", "failed")
    expect(card.locator(".card-failure-reason")).to_have_text(reason)
    expect(card.locator(".card-failure")).to_contain_text("Could not be processed")
    expect(card.locator(".badge-failed")).to_have_text("failed")
    expect(card.locator(".thumb-img")).to_have_attribute("alt", "broken<b>.jpg")
    assert card.locator("b").count() == 0  # the name and the reason are text, never markup
    page.wait_for_function(ALL_THUMBS_LOADED_JS, arg=1)  # the server's neutral grey image
    screenshot(page, "failed-card.png")

    card.locator(".thumb").click()
    viewer = page.get_by_role("dialog", name="broken<b>.jpg")
    expect(viewer).to_be_visible()
    expect(page.locator("#viewer-facts")).to_contain_text(f"Failed: {reason}")
    expect(viewer.get_by_role("button", name="View original")).to_be_hidden()
    expect(page.locator("#viewer-note")).to_contain_text("could not read this image's pixels")
    viewer.get_by_role("button", name="Delete…").click()
    page.get_by_role("dialog", name="Delete this image?").get_by_role(
        "button", name="Delete"
    ).click()
    expect(viewer).to_be_hidden()
    expect(page.locator("#grid .card")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
