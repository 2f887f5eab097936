"""Section J: what another site can make a signed-in user's browser do.

The API authenticates by ``Authorization: Bearer`` only, a header no cross-site form, image
or navigation can set; the page keeps its token in sessionStorage. So a forged request
arrives with at most the user's cookies (there are none of ours, but the test sends the
token as every likely cookie) and a CORS-safelisted content type, and must achieve nothing.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.conftest import PASSWORD, Api
from tests.imagegen import make_image
from tests.security.oracles import assert_no_leak, owner_view

CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
SAFELISTED = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def _forged_body(content_type: str, fields: dict[str, Any]) -> tuple[bytes, str]:
    """What a cross-site <form> with this enctype sends (text/plain: the JSON-in-a-field
    trick that makes the body look like JSON)."""
    if content_type == "text/plain":
        return json.dumps(fields).encode(), content_type
    if content_type == "multipart/form-data":
        parts = "".join(
            f'--B\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        )
        return f"{parts}--B--\r\n".encode(), "multipart/form-data; boundary=B"
    return urlencode(fields).encode(), content_type


def test_a_cross_site_form_achieves_nothing(api: Api) -> None:
    """J83, J84, J87: every state-changing operation (enumerated from the OpenAPI document),
    forged with each safelisted content type and the token as a cookie, is refused; nothing
    is stored, changed, signed or signed up; and no GET or HEAD changes anything either."""
    email = "victim-csrf@example.com"
    victim = api.signup(email)
    token = victim["Authorization"].split()[1]
    img = api.upload(victim, ("victim.png", make_image("PNG", (50, 40)))).json()["images"][0]
    cookie = "; ".join(f"{n}={token}" for n in ("token", "access_token", "session", "pixvault"))
    doc = api.client.get("/openapi.json").json()
    changing = [
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("post", "put", "patch", "delete")
    ]
    assert ("POST", "/api/images/upload") in changing and len(changing) >= 7, changing
    fields = {
        "email": "made-by-csrf@example.com",
        "password": PASSWORD,
        "imageId": img["id"],
        "tags": '["pwned"]',
        "isPublic": "true",
    }
    before = api.state(victim), owner_view(api, victim, img["id"])
    for method, path in changing:
        url = path.replace("{image_id}", img["id"])
        for content_type in SAFELISTED:
            body, header = _forged_body(content_type, fields)
            headers = {**CROSS_SITE, "Cookie": cookie, "Content-Type": header}
            if path == "/api/images/upload":
                r = api.client.post(
                    url,
                    headers={**CROSS_SITE, "Cookie": cookie},
                    files=[("files", ("x.png", make_image("PNG", (8, 8)), "image/png"))],
                )
            else:
                r = api.client.request(method, url, headers=headers, content=body)
            cell = f"{method} {path} as {content_type}"
            assert r.status_code in (400, 401), (cell, r.status_code, r.text)
            assert "set-cookie" not in r.headers, cell
            assert_no_leak(r, api, token)
    assert (api.state(victim), owner_view(api, victim, img["id"])) == before
    forged = {"email": fields["email"], "password": PASSWORD}
    assert api.client.post("/api/auth/login", json=forged).status_code == 401  # never signed up

    # Safe methods are safe: every GET and HEAD, signed in, leaves rows, quota, tags, flags
    # and the access log as they were (a derivative made on first fetch is only a cache).
    rows_before = api.state(victim)
    for path, ops in doc["paths"].items():
        for method in ops:
            if method in ("get", "head"):
                url = path.replace("{image_id}", img["id"]).replace("{key}", "x")
                api.client.request(method, url + "?w=200", headers=victim, follow_redirects=False)
    after = api.state(victim)
    assert after[1:] == rows_before[1:]
    assert {k for k in after[0] - rows_before[0] if not k.startswith("derived/")} == set()
    assert owner_view(api, victim, img["id"]) == before[1]


def test_no_redirect_leaves_for_a_place_the_client_names(api: Api) -> None:
    """J86: no route takes a ``next``/``continue``/``redirect`` target; the only redirects
    the app makes (a derivative on S3) go to the blob store it is configured with."""
    h = api.signup()
    img = api.upload(h, ("r.png", make_image("PNG", (30, 30)))).json()["images"][0]
    targets = ["//evil.example", "https:evil.example", "javascript:alert(1)", "\\/\\/evil.example"]
    for path in ("/", "/api/auth/login", "/api/auth/me", "/docs", "/static/index.html"):
        for target in targets:
            query = urlencode({"next": target, "continue": target, "redirect": target})
            r = api.client.get(f"{path}?{query}", headers=h, follow_redirects=False)
            assert not 300 <= r.status_code < 400, (path, target)
            assert "location" not in r.headers, (path, target)
    store = api.settings.s3_endpoint_url
    for url in (img["thumbnailUrl"], img["previewUrl"]):
        split = urlsplit(url)
        r = api.client.get(f"{split.path}?{split.query}", follow_redirects=False)
        if r.status_code == 302:
            assert store and r.headers["location"].startswith(store + "/"), r.headers["location"]
        else:
            assert r.status_code == 200 and "location" not in r.headers
    variant = f"/api/images/{img['id']}/variant?w=200&next=//evil.example"
    r = api.client.get(variant, headers=h, follow_redirects=False)
    if r.status_code == 302:
        assert store and r.headers["location"].startswith(store + "/")
