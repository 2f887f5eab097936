"""Catalogue section E, filenames and metadata: a client's names are display text only.

Storage keys are made by the server (``core.keys``); a file name is cleaned to a display name
(``core.names.display_name``) and goes into a header only through ``content_disposition``
(RFC 6266). The web app renders user data as text (tests/web/test_static.py, and a real
browser in tests/browser/test_polyglot_objects.py).
"""

from __future__ import annotations

import io
import json
import unicodedata
from typing import Any
from urllib.parse import quote

import httpx2
from PIL import Image

from pixvault.core import keys
from tests.conftest import Api
from tests.imagegen import make_image
from tests.security.hostile import MARKERS, derivatives, files_under, post
from tests.security.oracles import assert_no_leak, snapshot

TRAVERSAL = [
    "../../etc/passwd",
    "..\\..\\win.ini",
    "/abs/path/x.png",
    "C:\\Windows\\System32\\x.png",
    "%2e%2e%2f%2e%2e%2fx.png",
    "%252e%252e%252fx.png",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/x.png",
    "....//....//x.png",
    "../../../../../../../../tmp/x.png",
]
INJECTION = [
    'a"b.png',
    "a;b=c.png",
    "a\r\nSet-Cookie: stolen=1\r\nX-Injected: 1.png",
    "x\"; filename*=UTF-8''evil.html",
]


def check_disposition(served: httpx2.Response, display: str) -> None:
    """RFC 6266 as the server writes it: one header line, a quoted ASCII fallback with no
    quote, semicolon or CR/LF inside, and the exact display name percent-encoded."""
    value = served.headers["content-disposition"]
    assert "\r" not in value and "\n" not in value
    kind, fallback, exact = value.split("; ")
    assert kind == "inline"
    assert fallback.startswith('filename="') and fallback.endswith('"')
    assert not set(fallback[10:-1]) & set('"\\;/')
    assert exact == f"filename*=UTF-8''{quote(display, safe='')}"
    assert "set-cookie" not in served.headers and "x-injected" not in served.headers


def test_traversal_and_header_names_never_reach_a_path_or_a_header(local_api: Api) -> None:
    """E40, E41: a name built to escape the storage root or to break out of a header is kept
    as display text only. Every file the upload writes is under the blob root, named by a
    server key; every served header is built by the server."""
    api = local_api
    h = api.signup()
    root = api.settings.data_dir.parent  # the whole test folder: data/, and what is around it
    before = files_under(root)
    names = TRAVERSAL + INJECTION
    png = make_image("PNG", (16, 16))
    r = post(api, h, *((name, png, "image/png") for name in names))
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    uid = api.user_id(h)
    for name, image in zip(names, images, strict=True):
        display = image["originalName"]
        assert "/" not in display and "\\" not in display and "\r" not in display, display
        assert display == name.replace("\\", "/").rsplit("/", 1)[-1].replace("\r\n", "")
        served = api.client.get(image["url"])
        assert served.status_code == 200
        check_disposition(served, display)
    blobs = api.settings.blob_root.relative_to(root)
    api.state(h)  # waits for the background thumbnails
    for path in files_under(root) - before:
        assert path.is_relative_to(blobs), f"{path} written outside the blob root"
        key = path.relative_to(blobs).as_posix()
        assert keys.is_blob_key(key) and uid in key, key


def raw_upload(api: Api, headers: dict[str, str], raw_name: bytes, data: bytes) -> httpx2.Response:
    """One file whose ``filename`` parameter is exactly ``raw_name``, byte for byte."""
    body = (
        b'--B\r\nContent-Disposition: form-data; name="files"; filename="'
        + raw_name
        + b'"\r\nContent-Type: image/png\r\n\r\n'
        + data
        + b"\r\n--B--\r\n"
    )
    ctype = {"Content-Type": "multipart/form-data; boundary=B"}
    return api.client.post("/api/images/upload", headers={**headers, **ctype}, content=body)


def test_unicode_tricks_are_normalised_display_names_never_errors(api: Api) -> None:
    """E44 (and B16's NUL byte, which PostgreSQL would refuse in text): bidi overrides and
    zero-width characters are removed, NFD becomes NFC, long names are cut to 255 characters,
    names of dots become "image", emoji stay. Ids are unaffected, nothing is a 500."""
    h = api.signup()
    png = make_image("PNG", (8, 8))
    nfc = "café.png"
    cases = {
        "photo\u202egpj.exe": "photogpj.exe",
        "invoice\u200b\u2066.pdf\u2069.png": "invoice.pdf.png",
        unicodedata.normalize("NFD", nfc): nfc,
        nfc: nfc,
        "x.php%00.jpg": "x.php%00.jpg",  # an escape the browser did not make stays text
        "..": "image",
        ".": "image",
        "....": "....",
        "🌊📷 beach.png": "🌊📷 beach.png",
        "a" * 4000 + ".png": "a" * 255,
        "🌊" * 1000: "🌊" * 255,
    }
    r = api.upload(h, *((name, png) for name in cases))
    assert r.status_code == 200, r.text
    images = r.json()["images"]
    assert len({i["id"] for i in images}) == len(cases)  # NFC and NFD: two images, one name
    for (sent, expected), image in zip(cases.items(), images, strict=True):
        assert image["originalName"] == expected, sent[:40]
        assert keys.is_id(image["id"])
        got = api.client.get(f"/api/images/{image['id']}", headers=h).json()["image"]
        assert got["originalName"] == expected  # as stored, on this database
    listed = api.client.get("/api/images/user", headers=h, params={"search": "café"}).json()
    assert len(listed["images"]) == 2
    # A raw NUL and other control bytes in the part header (httpx would have escaped them).
    for raw, expected in [
        (b"x.php\x00.jpg", "x.php.jpg"),
        (b"a\x01b\x7f\x1b[2J\t.png", "ab[2J.png"),
    ]:
        r = raw_upload(api, h, raw, png)
        assert r.status_code == 200, r.text
        assert r.json()["images"][0]["originalName"] == expected
    # A name longer than a multipart header line (8 KiB) is a clean 400, not a 500.
    before = snapshot(api, [h], [])
    r = api.upload(h, ("a" * 10_000 + ".png", png))
    assert r.status_code == 400 and r.json()["code"] == "invalid_input", r.text
    assert_no_leak(r, api)
    assert snapshot(api, [h], []) == before


def exif_jpeg(fields: dict[int, str], xmp: bytes) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    for tag, value in fields.items():
        exif[tag] = value
    Image.new("RGB", (300, 200), (20, 90, 160)).save(out, "JPEG", exif=exif.tobytes(), xmp=xmp)
    return out.getvalue()


def test_script_in_names_tags_and_exif_stays_data(local_api: Api) -> None:
    """E42, E43: script in a file name, in tags and in EXIF/XMP text (ImageDescription, Make,
    Model, Artist, XMP dc:title) comes back only as JSON strings, never in an HTML answer, and
    no derivative carries the metadata or any of its bytes."""
    api = local_api
    h = api.signup()
    xss = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    name = '"><img src=x onerror=alert(1)><svg onload=alert(2)>.jpg'  # no "/": not a path
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
        b"<dc:title>&lt;script&gt;alert(3)&lt;/script&gt;<script>alert(3)</script></dc:title>"
        b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    jpeg = exif_jpeg(
        {0x010E: xss, 0x010F: "<script>alert(4)</script>", 0x0110: xss, 0x013B: xss}, xmp
    )
    tags = ["<script>alert(5)</script>", "javascript:alert(6)", '"><svg onload=alert(7)>']
    r = api.client.post(
        "/api/images/upload",
        headers=h,
        files=[("files", (name, jpeg, "text/html"))],
        data={"tags": json.dumps(tags)},
    )
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    detail = api.client.get(f"/api/images/{image['id']}", headers=h)
    assert detail.headers["content-type"] == "application/json"
    assert "default-src 'none'" in detail.headers["content-security-policy"]
    shown: dict[str, Any] = detail.json()["image"]
    assert shown["originalName"] == name
    assert sorted(shown["tags"]) == sorted(tags)
    assert shown["metadata"]["cameraMake"] == "<script>alert(4)</script>"  # data, not markup
    page = api.client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "alert(" not in page.text  # the page is static: no user data is put into HTML
    for which, body in derivatives(api, image, h).items():
        for marker in (*MARKERS, b"alert(", b"Exif\x00", b"xmpmeta"):
            assert marker not in body, (which, marker)
        with Image.open(io.BytesIO(body)) as im:
            assert not {"exif", "xmp", "comment"} & set(im.info), (which, sorted(im.info))
