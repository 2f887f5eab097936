"""Catalogue section B, type validation: the bytes decide, never the name or declared type.

The seed contract fixes the statuses: a file of the wrong type is 400 ``unsupported_type``
(the catalogue's 415 and 422), a file over a limit 413 ``too_large``. Originals are stored as
received minus stripped metadata, not re-encoded, so a polyglot's payload is neutralised by how
it is served (detected type, ``nosniff``, a sandbox CSP) and the derivatives, which are
re-encoded, hold none of it. Items already tested elsewhere are cited in docs/security.md.
"""

from __future__ import annotations

import struct
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2

from pixvault.core import keys, media, signing
from tests.conftest import TEST_SECRET, Api
from tests.core.test_corpus import data as corpus_file
from tests.imagegen import (
    HTML_BYTES,
    PDF_BYTES,
    SVG_BYTES,
    gif_with_frames,
    make_image,
    png_set_chunk,
)
from tests.security.hostile import (
    HTML_PAYLOAD,
    MARKERS,
    File,
    assert_refused,
    derivatives,
    files_under,
    image_open_calls,
    pillow_only_formats,
    png_with_chunk,
    post,
)
from tests.security.oracles import MISSING_ID, assert_no_leak, same_answer, snapshot

EXECUTABLE = (".php", ".phtml", ".html", ".htm", ".svg", ".exe", ".js", ".xml", ".pdf")


def test_markup_and_executables_are_refused_whatever_they_are_called(local_api: Api) -> None:
    """B14, B17: content that is not an allowed image is 400 under its own name and type and
    under an image's, and nothing of it is kept."""
    api = local_api
    h = api.signup()
    php = b"<?php system($_GET['c']); ?>"
    exe = b"MZ\x90\x00" + bytes(56) + struct.pack("<I", 64) + b"PE\x00\x00" + bytes(64)
    cases: list[File] = [
        ("shell.php", php, "application/x-php"),
        ("shell.phtml", php, "application/x-httpd-php"),
        ("index.html", HTML_BYTES, "text/html"),
        ("index.htm", HTML_BYTES, "text/html"),
        ("evil.svg", SVG_BYTES, "image/svg+xml"),
        ("setup.exe", exe, "application/x-msdownload"),
        ("app.js", b"fetch('/api/auth/me').then(r => r.text()).then(alert)", "text/javascript"),
        (
            "feed.xml",
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "application/xml",
        ),
        ("doc.pdf", PDF_BYTES, "application/pdf"),
        # Content-Type spoofing: the declared type and the name say JPEG, the bytes say HTML.
        ("photo.jpg", HTML_BYTES, "image/jpeg"),
        ("shell.php.jpg", php, "image/jpeg"),
        ("vector.png", SVG_BYTES, "image/png"),
    ]
    before = snapshot(api, [h], [])
    for name, data, ctype in cases:
        r = post(api, h, (name, data, ctype))
        assert_refused(api, h, before, r)
        assert ctype not in r.headers["content-type"]  # the declared type is never echoed


def test_names_and_declared_types_never_decide_type_or_storage(local_api: Api) -> None:
    """B15, B16, B17: real images under double, trailing, case-variant, NUL and encoded names
    and lying Content-Types are stored as what their bytes are, under server keys, and served
    with the detected type. No file anywhere gets an executable extension."""
    api = local_api
    h = api.signup()
    png, jpeg, gif, webp = (make_image(f, (24, 16)) for f in ("PNG", "JPEG", "GIF", "WEBP"))
    files: list[tuple[File, str]] = [  # (what is sent, the type the bytes are)
        (("x.jpg.php", png, "application/x-php"), "image/png"),
        (("x.php.jpg", jpeg, "image/jpeg"), "image/jpeg"),
        (("x.php.", gif, "text/html"), "image/gif"),
        (("x.php%20", webp, "application/octet-stream"), "image/webp"),
        (("X.PhP", jpeg, "image/gif"), "image/jpeg"),
        (("x.JpG", webp, "image/jpeg"), "image/webp"),
        (("x.php%00.jpg", png, "image/png"), "image/png"),
        (("x.php\x00.jpg", gif, "image/svg+xml"), "image/gif"),
        (("%2e%2e%2fx%2ephp", png, "text/html; charset=utf-8"), "image/png"),
        (("photo.gif", png, "image/gif"), "image/png"),
    ]
    root = api.settings.data_dir
    before = files_under(root)
    r = post(api, h, *(sent for sent, _ in files))
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    uid = api.user_id(h)
    for ((name, _, declared), detected), image in zip(files, images, strict=True):
        assert image["contentType"] == detected, name
        assert "\x00" not in image["originalName"]
        ext = "jpg" if detected == "image/jpeg" else detected.removeprefix("image/")
        key = f"{uid}/{image['id']}.{ext}"
        assert api.container.blobs.local_path(key) is not None, key  # a server-made key
        served = api.client.get(image["url"])
        assert served.status_code == 200
        assert served.headers["content-type"] == detected, (name, declared)
        assert served.headers["x-content-type-options"] == "nosniff"
    api.state(h)  # waits for the background thumbnails
    new = files_under(root) - before
    assert new, "the uploads wrote nothing"
    for path in new:
        assert not path.name.lower().endswith(EXECUTABLE), path
        assert "php" not in str(path).lower() and "%" not in str(path), path


def test_polyglots_are_served_inert_and_their_derivatives_hold_no_payload(
    local_api: Api,
) -> None:
    """B19: an image with HTML after its end or in a text chunk or comment is a valid image,
    so it is accepted. It is stored as received; what makes it harmless is that it is only ever
    served as the detected image type with ``nosniff`` and a sandbox CSP, and that everything
    pixvault makes from it (thumbnails, preview, variants) is re-encoded pixels only."""
    api = local_api
    h = api.signup()
    comment = b"Comment\x00" + HTML_PAYLOAD
    files: list[tuple[File, str]] = [
        (("gifar.gif", make_image("GIF", (60, 40)) + HTML_PAYLOAD, "image/gif"), "image/gif"),
        (("after-iend.png", make_image("PNG", (60, 40)) + HTML_PAYLOAD, "text/html"), "image/png"),
        (("after-eoi.jpg", make_image("JPEG", (60, 40)) + HTML_PAYLOAD, "text/html"), "image/jpeg"),
        (
            (
                "text.png",
                png_with_chunk(make_image("PNG", (60, 40)), b"tEXt", comment),
                "text/html",
            ),
            "image/png",
        ),
        (("polyglot.jpg", corpus_file("polyglot.jpg"), "text/html"), "image/jpeg"),
    ]
    r = post(api, h, *(sent for sent, _ in files))
    assert r.status_code == 200, r.text
    for ((name, _, _), detected), image in zip(files, r.json()["images"], strict=True):
        assert image["contentType"] == detected, name
        served = api.client.get(image["url"])
        assert served.status_code == 200
        assert served.headers["content-type"] == detected
        assert served.headers["x-content-type-options"] == "nosniff"
        policy = served.headers["content-security-policy"]
        assert "sandbox" in policy and "default-src 'none'" in policy
        assert served.headers["content-disposition"].startswith("inline;")
        assert "set-cookie" not in served.headers
        for which, body in derivatives(api, image, h).items():
            for marker in MARKERS:
                assert marker not in body, (name, which, marker)


def test_formats_outside_the_allow_list_never_reach_a_pillow_plugin(local_api: Api) -> None:
    """B21 (and D38's allow-list half): every format Pillow can open but pixvault does not
    allow is 400 before Pillow is asked to open it, and every ``Image.open`` on the upload
    path names the sniffed, allowed format (``formats=[fmt]``), so no other plugin is tried."""
    api = local_api
    h = api.signup()
    samples = pillow_only_formats()
    before = snapshot(api, [h], [])
    with image_open_calls() as calls:
        for fmt, data in samples.items():
            r = post(api, h, (f"picture.{fmt.lower()}", data, "image/jpeg"))
            assert_refused(api, h, before, r)
            assert calls == [], f"{fmt}: Pillow was asked to open it: {calls}"
        ok = post(api, h, ("fine.png", make_image("PNG", (8, 8)), "image/png"))
        assert ok.status_code == 200, ok.text
    assert calls, "the allowed upload never reached Pillow: the spy sees nothing"
    for formats in calls:
        assert isinstance(formats, list) and set(formats) <= set(media.ALLOWED_FORMATS), calls


def test_animations_over_the_frame_or_canvas_budget_are_refused(local_api: Api) -> None:
    """B23: 10,000 frames of 1×1 (GIF, APNG, WebP), or a frame placed so far out that the
    canvas is a pixel flood, is 413 ``too_large`` and stores nothing."""
    api = local_api
    h = api.signup()
    apng = png_set_chunk(
        make_image("PNG", (8, 8), frames=2), b"acTL", struct.pack(">II", 10_000, 0)
    )
    before = snapshot(api, [h], [])
    for name, data in [
        ("frames.gif", gif_with_frames(10_000)),
        ("frames.png", apng),
        ("frames.webp", webp_with_frames(media.MAX_FRAMES + 1)),
        ("far-frame.gif", gif_with_frames(2, last_offset=(60_000, 60_000))),
    ]:
        r = api.upload(h, (name, data))
        assert_refused(api, h, before, r, status=413, code="too_large")
    assert api.upload(h, ("cap.gif", gif_with_frames(media.MAX_FRAMES))).status_code == 200


def webp_with_frames(count: int) -> bytes:
    """An animated WebP whose first frame (ANMF chunk) is repeated ``count`` times."""
    webp = make_image("WEBP", (8, 8), frames=2)
    pos, chunks = 12, []
    while pos < len(webp):
        fourcc, size = struct.unpack_from("<4sI", webp, pos)
        chunks.append((fourcc, webp[pos : pos + 8 + size + (size & 1)]))
        pos += 8 + size + (size & 1)
    head = b"".join(raw for fourcc, raw in chunks if fourcc != b"ANMF")
    frame = next(raw for fourcc, raw in chunks if fourcc == b"ANMF")
    body = b"WEBP" + head + frame * count
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_an_upload_is_invisible_until_its_rows_are_committed(local_api: Api) -> None:
    """B24: between "bytes stored" and "row committed" the image exists for nobody: not in
    the gallery, not by id on any operation (the answer is a missing id's, byte for byte), and
    not through a correctly signed link to its key. Its id is only sent once committed."""
    api = local_api
    h = api.signup()
    stored, release = threading.Event(), threading.Event()
    put_keys: list[str] = []
    real_put = api.container.blobs.put

    def put_then_wait(key: str, path: Any, *, size: int, content_type: str) -> None:
        real_put(key, path, size=size, content_type=content_type)
        put_keys.append(key)
        stored.set()
        assert release.wait(30), "the test never let the upload finish"

    api.container.blobs.put = put_then_wait  # type: ignore[method-assign]
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(api.upload, h, ("slow.png", make_image("PNG", (8, 8))))
            assert stored.wait(30), "the upload never reached the store"
            (key,) = put_keys
            parsed = keys.parse_storage_key(key)
            assert parsed is not None
            image_id = parsed[1]
            assert key in set(api.container.blobs.iter_keys())  # the bytes are there
            gallery = api.client.get("/api/images/user", headers=h)
            assert gallery.status_code == 200 and gallery.json()["images"] == []
            for (method, path, body), (_, other, other_body) in zip(
                _operations(image_id), _operations(MISSING_ID), strict=True
            ):
                got = api.client.request(method, path, headers=h, json=body)
                missing = api.client.request(method, other, headers=h, json=other_body)
                assert got.status_code == 404, (method, path, got.text)
                same_answer(got, missing)
                assert_no_leak(got, api)
            exp = int(time.time()) + 300
            sig = signing.sign(TEST_SECRET.encode(), key, exp, "inline")
            link = api.client.get(f"/files/{key}?exp={exp}&disp=inline&sig={sig}")
            assert link.status_code == 404, link.text  # a valid signature is not enough
            release.set()
            done: httpx2.Response = pending.result(timeout=30)
    finally:
        release.set()
        api.container.blobs.put = real_put  # type: ignore[method-assign]
    assert done.status_code == 200, done.text
    assert done.json()["images"][0]["id"] == image_id
    assert api.client.get(f"/api/images/{image_id}", headers=h).status_code == 200


def _operations(image_id: str) -> list[tuple[str, str, Any]]:
    """Every operation on one image (the H matrix's list), with a harmless body."""
    return [
        ("GET", f"/api/images/{image_id}", None),
        ("GET", f"/api/images/{image_id}/access-log", None),
        ("GET", f"/api/images/{image_id}/variant?w=200", None),
        ("POST", "/api/images/presigned-url", {"imageId": image_id, "expiresIn": 60}),
        ("PATCH", f"/api/images/{image_id}", {"tags": ["x"]}),
        ("DELETE", f"/api/images/{image_id}", None),
    ]
