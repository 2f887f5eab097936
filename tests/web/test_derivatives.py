"""Thumbnails, previews, placeholders and variants through the API, on both stacks."""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
from PIL import Image

from pixvault.core import keys, signing
from tests.conftest import TEST_SECRET, Api
from tests.imagegen import make_image, png_set_chunk


def fetch(api: Api, url: str, **kwargs: Any) -> httpx2.Response:
    """GET a derivative link as a browser would: follow a redirect to the store for real."""
    path = url.removeprefix(str(api.client.base_url))
    r = api.client.get(path, follow_redirects=False, **kwargs)
    if r.status_code == 302:
        return httpx2.get(r.headers["location"], timeout=30)
    return r


def picture(r: httpx2.Response) -> Image.Image:
    assert r.status_code == 200, r.text
    im = Image.open(io.BytesIO(r.content))
    im.load()
    return im


def halves_jpeg(size: tuple[int, int], orientation: int | None = None) -> bytes:
    """Left half red, right half blue (as stored), optionally with an EXIF orientation."""
    im = Image.new("RGB", size, (220, 20, 20))
    im.paste((20, 20, 220), (size[0] // 2, 0, size[0], size[1]))
    out = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    im.save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def derived_keys(api: Api, image_id: str) -> list[str]:
    return [k for k in api.container.blobs.iter_keys("derived/") if image_id in k]


def test_links_come_with_the_upload_and_everywhere_after(api: Api) -> None:
    h = api.signup()
    up = api.upload(h, ("a.jpg", halves_jpeg((900, 600))))
    assert up.status_code == 200, up.text
    img = up.json()["images"][0]
    item = api.client.get("/api/images/user", headers=h).json()["images"][0]
    detail = api.client.get(f"/api/images/{img['id']}", headers=h).json()["image"]
    for shown in (img, item, detail):
        for name in ("thumbnailUrl", "thumbnail2xUrl", "previewUrl"):
            assert shown[name].startswith("http://testserver/derived/")  # the app, any store
            exp = int(parse_qs(urlsplit(shown[name]).query)["exp"][0])
            assert exp == int(datetime.fromisoformat(shown["urlExpiresAt"]).timestamp())
    for shown in (item, detail):
        assert shown["status"] == "ready" and shown["failureReason"] is None
    assert api.container.derivatives.wait_idle(timeout=60)
    item = api.client.get("/api/images/user", headers=h).json()["images"][0]
    assert item["placeholder"] and 20 <= len(item["placeholder"]) <= 60  # base64 ThumbHash


def test_thumbnail_and_preview_are_upright_webp_of_the_right_size(api: Api) -> None:
    h = api.signup()
    # Stored 1200×800 with orientation 6: shown 800×1200, its stored left half on top.
    img = api.upload(h, ("turned.jpg", halves_jpeg((1200, 800), 6))).json()["images"][0]
    thumb = picture(fetch(api, img["thumbnailUrl"]))
    thumb2x = picture(fetch(api, img["thumbnail2xUrl"]))  # srcset's 2x: made on first fetch
    preview = picture(fetch(api, img["previewUrl"]))
    assert thumb.format == thumb2x.format == preview.format == "WEBP"
    assert thumb.size == (267, 400)
    assert thumb2x.size == (533, 800)
    assert preview.size == (800, 1200)  # never larger than the original
    for im in (thumb, thumb2x, preview):
        rgb = im.convert("RGB")
        top, bottom = rgb.getpixel((im.width // 2, 5)), rgb.getpixel((im.width // 2, im.height - 5))
        assert isinstance(top, tuple) and isinstance(bottom, tuple)
        assert top[0] > 150 > top[2] and bottom[2] > 150 > bottom[0], (top, bottom)
        assert "exif" not in im.info and "icc_profile" not in im.info


def test_large_original_gets_a_1600_preview_and_cmyk_comes_out_rgb(api: Api) -> None:
    h = api.signup()
    cmyk = io.BytesIO()
    Image.new("CMYK", (2000, 1000), (0, 255, 255, 0)).save(cmyk, "JPEG", quality=90)  # red ink
    img = api.upload(h, ("print.jpg", cmyk.getvalue())).json()["images"][0]
    preview = picture(fetch(api, img["previewUrl"]))
    assert preview.size == (1600, 800)
    assert preview.mode == "RGB"
    r, g, b = preview.getpixel((800, 400))  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60


def test_sixteen_first_fetches_render_once_and_agree(api: Api) -> None:
    h = api.signup()
    img = api.upload(h, ("a.png", make_image("PNG", (900, 700)))).json()["images"][0]
    service = api.container.derivatives
    assert service.wait_idle(timeout=60)
    for key in derived_keys(api, img["id"]):
        api.container.blobs.delete(key)  # as if the background job never ran
    thumb_key = next(iter(k for k in service.renders if img["id"] in k and "thumb" in k))
    before = service.renders[thumb_key]
    with ThreadPoolExecutor(16) as pool:
        bodies = list(pool.map(lambda _: fetch(api, img["thumbnailUrl"]).content, range(16)))
    assert service.renders[thumb_key] == before + 1
    assert len(set(bodies)) == 1 and Image.open(io.BytesIO(bodies[0])).format == "WEBP"


def test_a_lost_derivative_is_made_again(api: Api) -> None:
    h = api.signup()
    img = api.upload(h, ("a.png", make_image("PNG", (500, 300)))).json()["images"][0]
    first = fetch(api, img["previewUrl"]).content
    assert api.container.derivatives.wait_idle(timeout=60)
    (preview_key,) = [k for k in derived_keys(api, img["id"]) if "preview" in k]
    api.container.blobs.delete(preview_key)
    again = picture(fetch(api, img["previewUrl"]))
    assert again.size == (500, 300) and Image.open(io.BytesIO(first)).size == (500, 300)
    assert api.container.blobs.exists(preview_key)


def test_tampered_or_expired_link_is_403_json(api: Api) -> None:
    h = api.signup()
    img = api.upload(h, ("a.png", make_image("PNG", (50, 50)))).json()["images"][0]
    url = img["thumbnailUrl"]
    link = urlsplit(url)
    sig = parse_qs(link.query)["sig"][0]
    tampered = url.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    other = url.replace("/thumb.webp", "/preview.webp")  # a signature is for one key only
    key = link.path.removeprefix("/")
    past = int(time.time()) - 10
    expired = f"/{key}?exp={past}&sig={signing.sign(TEST_SECRET.encode(), key, past, 'inline')}"
    for bad in (tampered, other, expired):
        r = fetch(api, bad)
        assert r.status_code == 403
        assert r.json()["code"] == "invalid_signature"


def test_undecodable_pixels_fail_visibly_and_serve_a_neutral_image(api: Api) -> None:
    h = api.signup()
    broken = png_set_chunk(make_image("PNG", (64, 48)), b"IDAT", b"\x00\xff" * 150)
    up = api.upload(h, ("broken.png", broken))
    assert up.status_code == 200, up.text  # the structure is whole: stored as sent
    img = up.json()["images"][0]
    assert api.container.derivatives.wait_idle(timeout=60)
    item = api.client.get("/api/images/user", headers=h).json()["images"][0]
    detail = api.client.get(f"/api/images/{img['id']}", headers=h).json()["image"]
    for shown in (item, detail):
        assert shown["status"] == "failed"
        assert "could not be decoded" in shown["failureReason"]
    neutral = picture(fetch(api, img["thumbnailUrl"]))
    assert neutral.format == "WEBP" and neutral.size == (64, 64)
    # It is still the owner's file: the original downloads as uploaded, by a fresh link too.
    assert api.fetch(detail["url"]).content == broken
    fresh = api.client.post(
        "/api/images/presigned-url",
        json={"imageId": img["id"], "purpose": "download"},
        headers=h,
    )
    assert fresh.status_code == 200, fresh.text
    assert api.fetch(fresh.json()["url"]).content == broken
    assert api.client.delete(f"/api/images/{img['id']}", headers=h).status_code == 200


def test_an_image_past_the_render_time_limit_fails_visibly(api: Api) -> None:
    h = api.signup()
    processor = api.container.processor
    processor.time_limit, processor.delay = 1.0, 30.0  # type: ignore[attr-defined]
    up = api.upload(h, ("slow.jpg", halves_jpeg((800, 600))))
    assert up.status_code == 200, up.text
    img = up.json()["images"][0]
    assert api.container.derivatives.wait_idle(timeout=60)
    # The background (idle-priority) job ran out of time: maybe starved, so not judged yet.
    shown = api.client.get(f"/api/images/{img['id']}", headers=h).json()["image"]
    assert shown["status"] == "ready" and shown["failureReason"] is None
    # The first fetch renders it at normal priority: out of time there, it has failed.
    neutral = picture(fetch(api, img["thumbnailUrl"]))
    assert neutral.size == (64, 64)
    processor.delay = 0.0  # type: ignore[attr-defined]
    shown = api.client.get(f"/api/images/{img['id']}", headers=h).json()["image"]
    assert shown["status"] == "failed"
    assert shown["failureReason"] == "Processing the image took longer than 1 s"
    assert picture(fetch(api, img["previewUrl"])).size == (64, 64)  # stays failed
    assert derived_keys(api, img["id"]) == []
    # The pools are whole again: the next upload gets its thumbnail.
    other = api.upload(h, ("ok.jpg", halves_jpeg((800, 600)))).json()["images"][0]
    assert api.container.derivatives.wait_idle(timeout=60)
    assert picture(fetch(api, other["thumbnailUrl"])).size == (400, 300)
    metrics = api.client.get("/metrics").text.splitlines()
    assert "pixvault_derivative_failures_total 1" in metrics
    assert "pixvault_derivative_renders_total 2" in metrics  # the second image's two


def test_background_derivatives_off_makes_them_on_first_fetch_only(api_factory: Any) -> None:
    api = api_factory(background_derivatives=False)
    h = api.signup()
    img = api.upload(h, ("a.jpg", halves_jpeg((900, 600)))).json()["images"][0]
    assert api.container.derivatives.wait_idle(timeout=60)
    assert derived_keys(api, img["id"]) == []  # nothing rendered for an unseen image
    assert picture(fetch(api, img["thumbnailUrl"])).size == (400, 267)
    assert [k.rsplit("/", 1)[1] for k in derived_keys(api, img["id"])] == ["thumb.webp"]


def test_delete_removes_the_original_and_every_derivative(api: Api) -> None:
    h = api.signup()
    img = api.upload(h, ("a.png", make_image("PNG", (300, 200)))).json()["images"][0]
    variant = api.client.get(
        f"/api/images/{img['id']}/variant?w=200&format=jpeg", headers=h, follow_redirects=False
    )
    assert variant.status_code in (200, 302)
    assert api.container.derivatives.wait_idle(timeout=60)
    mine = [k for k in api.container.blobs.iter_keys() if img["id"] in k]
    assert len(mine) == 4  # original, thumbnail, preview, variant
    assert api.client.delete(f"/api/images/{img['id']}", headers=h).status_code == 200
    assert [k for k in api.container.blobs.iter_keys() if img["id"] in k] == []
    assert fetch(api, img["thumbnailUrl"]).status_code == 404


def test_variant_widths_are_an_allow_list_and_format_follows_accept(api: Api) -> None:
    h = api.signup()
    img = api.upload(h, ("a.png", make_image("PNG", (1000, 500)))).json()["images"][0]
    base = f"/api/images/{img['id']}/variant"
    bad = api.client.get(f"{base}?w=300", headers=h)
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"
    assert "200, 400, 800, 1600, 2560" in bad.json()["error"]
    assert api.client.get(f"{base}?w=400").status_code == 401
    other = api.signup()
    assert api.client.get(f"{base}?w=400", headers=other).status_code == 404

    def get(query: str, accept: str) -> httpx2.Response:
        r = api.client.get(
            f"{base}?{query}", headers={**h, "Accept": accept}, follow_redirects=False
        )
        return httpx2.get(r.headers["location"], timeout=30) if r.status_code == 302 else r

    webp = picture(get("w=400", "image/webp,image/*,*/*;q=0.8"))
    assert webp.format == "WEBP" and webp.size == (400, 200)
    assert picture(get("w=400", "*/*")).format == "JPEG"
    assert picture(get("w=800", "image/webp;q=0")).format == "JPEG"
    assert picture(get("w=2560&format=jpeg", "image/webp")).size == (1000, 500)  # not enlarged
    if api.container.processor.can_encode("AVIF"):
        assert picture(get("w=200", "image/avif,image/webp")).format == "AVIF"


def test_upload_does_not_wait_for_a_slow_processor(api: Api) -> None:
    h = api.signup()
    api.container.processor.delay = 3.0  # type: ignore[attr-defined]
    start = time.monotonic()
    up = api.upload(h, ("a.jpg", halves_jpeg((2000, 1500))))
    elapsed = time.monotonic() - start
    assert up.status_code == 200
    assert elapsed < 2.0, elapsed
    img = up.json()["images"][0]
    assert derived_keys(api, img["id"]) == []  # still being made
    assert api.container.derivatives.wait_idle(timeout=60)
    assert len(derived_keys(api, img["id"])) == 2
    assert keys.is_id(img["id"])


def test_a_worker_killed_mid_render_is_replaced(local_api: Api) -> None:
    api = local_api
    h = api.signup()
    api.container.processor.delay = 1.5  # type: ignore[attr-defined]
    img = api.upload(h, ("a.jpg", halves_jpeg((800, 600)))).json()["images"][0]
    deadline = time.monotonic() + 30
    while not (workers := multiprocessing.active_children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers
    time.sleep(0.3)  # inside the job's sleep, i.e. mid-render
    for worker in workers:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
    # The API process carries on; the job is retried on a new worker and lands.
    assert api.client.get(f"/api/images/{img['id']}", headers=h).status_code == 200
    assert api.container.derivatives.wait_idle(timeout=60)
    assert len(derived_keys(api, img["id"])) == 2
    api.container.processor.delay = 0  # type: ignore[attr-defined]
    assert picture(fetch(api, img["thumbnailUrl"])).size == (400, 300)
