"""Section I, beyond tests/web/test_signed_urls.py and test_derivatives.py (which cover expiry,
tampering with each parameter, duplicated parameters, the TTL bounds and the 403 body)."""

from __future__ import annotations

import time
from urllib.parse import quote, urlsplit

import httpx2

from pixvault.core import keys, signing
from tests.conftest import TEST_SECRET, Api
from tests.imagegen import make_image
from tests.security.oracles import MISSING_ID, assert_no_leak, snapshot


def _path_query(url: str) -> tuple[str, str]:
    split = urlsplit(url)
    return split.path, split.query


def _get(api: Api, url: str) -> httpx2.Response:
    """A link as a browser follows it: the app's own through the test client, the store's
    for real (redirects to the store included)."""
    if not url.startswith(str(api.client.base_url)) and not url.startswith("/"):
        return httpx2.get(url, timeout=30)
    path, query = _path_query(url)
    r = api.client.get(f"{path}?{query}", follow_redirects=False)
    if r.status_code == 302:
        return httpx2.get(r.headers["location"], timeout=30)
    return r


def test_every_outstanding_link_dies_with_its_image(api: Api) -> None:
    """I77 and I80: refreshing gives a new working link and leaves the old one working until
    its own expiry; after delete, every link ever handed out (original, each derivative, each
    presigned view and download, the store's own redirects) is dead, and refresh is 404."""
    h = api.signup()
    before = api.state(h)
    data = make_image("PNG", (500, 400), noise=0.5)
    img = api.upload(h, ("doomed.png", data)).json()["images"][0]
    links: dict[str, str] = {
        name: img[name] for name in ("url", "thumbnailUrl", "thumbnail2xUrl", "previewUrl")
    }
    for n, (purpose, ttl) in enumerate([("view", 60), ("download", 600), ("view", 3600)]):
        r = api.client.post(
            "/api/images/presigned-url",
            headers=h,
            json={"imageId": img["id"], "purpose": purpose, "expiresIn": ttl},
        )
        assert r.status_code == 200
        links[f"presigned {purpose} {n}"] = r.json()["url"]
    for name in ("thumbnailUrl", "previewUrl"):  # the store's own links, when it has them
        path, query = _path_query(img[name])
        r = api.client.get(f"{path}?{query}", follow_redirects=False)
        if r.status_code == 302:
            links[f"store {name}"] = r.headers["location"]
    variant = f"/api/images/{img['id']}/variant?w=200&format=jpeg"
    assert api.client.get(variant, headers=h, follow_redirects=False).status_code in (200, 302)
    for name, url in links.items():
        r = _get(api, url)
        assert r.status_code == 200, (name, r.status_code, r.text[:200])
    assert _get(api, links["url"]).content == data

    assert api.client.delete(f"/api/images/{img['id']}", headers=h).status_code == 200
    for name, url in links.items():
        r = _get(api, url)
        assert r.status_code in (403, 404), (name, r.status_code)  # the store says 404 or 403
        assert data not in r.content
        if url.startswith(str(api.client.base_url)):
            assert r.status_code == 404 and r.json()["code"] == "not_found", name
            assert_no_leak(r, api, "doomed.png")
    assert api.client.get(variant, headers=h).status_code == 404
    refresh = api.client.post("/api/images/presigned-url", headers=h, json={"imageId": img["id"]})
    assert refresh.status_code == 404
    assert api.state(h) == before  # and no derivative was re-made by a late fetch


def test_a_link_opens_exactly_one_key(local_api: Api) -> None:
    """I72-I75 and I81 on the app's own links (local disk: /files and /derived): a path the
    server decodes once to something other than the signed key is refused, whether re-cased,
    traversing, suffixed or carrying the signature inside it (double encoding needs a real
    server: Starlette's test client decodes paths twice; see test_live_server.py); a signature
    for one key (or one kind of link) opens no other; a variant that decodes once to the
    very key is that key. Every refusal has the same body, expired and unknown alike."""
    api = local_api
    h = api.signup()
    up = api.upload(h, ("a.png", make_image("PNG", (60, 40))), ("b.png", make_image("PNG")))
    img, other = up.json()["images"]
    path, query = _path_query(img["url"])  # /files/{owner}/{id}.png
    params = dict(part.split("=", 1) for part in query.split("&"))
    sig = params["sig"]
    owner_dir, name = path.removeprefix("/files/").split("/")
    thumb_path, thumb_query = _path_query(img["thumbnailUrl"])
    other_path, _ = _path_query(other["url"])
    other_thumb, _ = _path_query(other["thumbnailUrl"])
    before = snapshot(api, [h], [(h, img["id"]), (h, other["id"])])

    refused = {
        "upper-cased key": (path.upper().replace("/FILES/", "/files/"), query),
        "encoded traversal": (f"/files/{owner_dir}/%2e%2e/{owner_dir}/{name}", query),
        "backslash": (f"/files/{owner_dir}%5C{name}", query),
        "NUL": (f"/files/{owner_dir}/{name}%00.png", query),
        "trailing slash": (f"{path}/", query),
        "suffix": (f"{path}.html", query),
        "signature in the path": (f"{path}/{sig}", query),
        "signature in the name": (f"/files/{owner_dir}/{sig}{name}", query),
        "signature twice": (path, f"{query}&sig={sig}"),
        "sig= inside another value": (
            path,
            query.replace("disp=inline", f"disp=inline%26sig%3D{sig}"),
        ),
        "derived signature on the original": (path, thumb_query.replace("&", "&disp=inline&")),
        "original signature on a derivative": (thumb_path, f"exp={params['exp']}&sig={sig}"),
        "link of A on image B": (other_path, query),
        "thumbnail of A on image B": (other_thumb, thumb_query),
        "expired": _expired(path),
        "unknown image": _signed(f"{owner_dir}/{MISSING_ID}.png", forged=True),
    }
    bodies = set()
    for label, (p, q) in refused.items():
        r = api.client.get(f"{p}?{q}")
        assert r.status_code == 403, (label, r.status_code, r.text[:200])
        assert r.json()["code"] == "invalid_signature", label
        assert_no_leak(r, api)
        bodies.add(r.content)
    assert len(bodies) == 1, bodies  # no oracle: expired, tampered and unknown look alike

    original = api.client.get(f"{path}?{query}")
    assert original.status_code == 200
    same = api.client.get(f"/files/{owner_dir}%2F{quote(name)}?{query}")  # decodes to the key
    assert same.status_code in (200, 403)
    if same.status_code == 200:
        assert same.content == original.content
    # Past the signature, a key with no image is a plain 404 (only a real signature tells).
    gone, gone_query = _signed(keys.storage_key(owner_dir, MISSING_ID, "png"), forged=False)
    r = api.client.get(f"{gone}?{gone_query}")
    assert r.status_code == 404 and r.json() == {"error": "Image not found", "code": "not_found"}
    assert snapshot(api, [h], [(h, img["id"]), (h, other["id"])]) == before


def _expired(path: str) -> tuple[str, str]:
    key = path.removeprefix("/files/")
    exp = int(time.time()) - 1
    return (
        path,
        f"exp={exp}&disp=inline&sig={signing.sign(TEST_SECRET.encode(), key, exp, 'inline')}",
    )


def _signed(key: str, *, forged: bool) -> tuple[str, str]:
    """A link for ``key`` signed with another secret (an attacker's best guess)."""
    exp = int(time.time()) + 600
    secret = b"not-the-server-secret-0123456789abcdef" if forged else TEST_SECRET.encode()
    return f"/files/{key}", f"exp={exp}&disp=inline&sig={signing.sign(secret, key, exp, 'inline')}"
