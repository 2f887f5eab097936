"""What only a real `pixvault serve` shows: its log, and paths decoded once by a real server.

G60, F50 and I82: no password, bearer token or link signature is written to the server's
output (its access log included, which prints every request's path and query). I74: a
double-encoded path reaches the app decoded once, and is then refused (the test client
decodes twice, so tests/security/test_signed_links.py cannot show this).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.cli.server import clean_env, serve
from tests.conftest import PASSWORD
from tests.imagegen import make_image


def test_the_server_log_holds_no_secret_and_paths_are_decoded_once(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    secrets: list[str] = [PASSWORD, "wrong-password-here"]
    with serve(clean_env(tmp_path / "data"), log) as base, httpx.Client(base_url=base) as c:
        creds = {"email": "logs@example.com", "password": PASSWORD}
        assert c.post("/api/auth/register", json=creds).status_code == 201
        bad = {**creds, "password": "wrong-password-here"}
        assert c.post("/api/auth/login", json=bad).status_code == 401
        token = c.post("/api/auth/login", json=creds).json()["accessToken"]
        secrets.append(token)
        h = {"Authorization": f"Bearer {token}"}
        up = c.post("/api/images/upload", headers=h, files=[("files", ("a.png", make_image()))])
        assert up.status_code == 200, up.text
        img = up.json()["images"][0]
        signed = c.post(
            "/api/images/presigned-url",
            headers=h,
            json={"imageId": img["id"], "purpose": "download"},
        ).json()["url"]
        links = [img["url"], img["thumbnailUrl"], img["previewUrl"], signed]
        answers = [c.get("/api/images/user", headers=h), up]
        for url in links:
            got = c.get(url)
            assert got.status_code == 200, (url, got.text)
            assert c.head(url).status_code == 200
            secrets += parse_qs(urlsplit(url).query)["sig"]
            answers.append(got)
        assert c.get(f"/api/images/{img['id']}/access-log", headers=h).status_code == 200

        # Decoded once by the server: a double-encoded "/" is not a "/", so no key matches.
        split = urlsplit(img["url"])
        owner, name = split.path.removeprefix("/files/").split("/")
        for path in (f"/files/{owner}%252F{name}", f"/files/{owner}%252f{name}"):
            r = c.get(f"{path}?{split.query}")
            assert r.status_code == 403, (path, r.status_code)
            answers.append(r)
        r = c.get(f"/files/{owner}%2F{name}?{split.query}")  # decodes once to the very key
        assert r.status_code in (200, 403)
        if r.status_code == 200:
            assert r.content == answers[2].content  # that same image, nothing else

        assert c.post("/api/auth/logout", headers=h).status_code == 200
        assert c.get("/api/auth/me", headers=h).status_code == 401
    # No answer but the sign-in itself ever carries the token (not in a URL either).
    for answer in answers:
        assert token not in answer.text and token not in str(answer.headers)
    out = log.read_text()
    assert '"GET /files/' in out and '"GET /derived/' in out  # the access log is on
    leaked = [s[:12] + "…" for s in secrets if s in out]
    assert not leaked, f"the server log holds {leaked}:\n{out[-2000:]}"
