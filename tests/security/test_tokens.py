"""Section G: credentials. Bearer tokens only (no cookies, no JWTs), stored as SHA-256."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from limits import parse
from sqlalchemy import text

from pixvault.core import keys
from pixvault.core.auth import token_hash
from pixvault.settings import Settings
from tests.conftest import PASSWORD, TEST_SECRET, Api
from tests.imagegen import make_image
from tests.security.oracles import assert_no_leak, snapshot

Credential = tuple[dict[str, str], str]
"""(headers, query string) a request comes with."""


def _bad_credentials(api: Api, email: str, token: str) -> dict[str, Credential]:
    """Every way of coming without a valid ``Authorization: Bearer`` header, the valid token
    itself offered anywhere else included (query string, cookie)."""
    uid = api.user_id({"Authorization": f"Bearer {token}"})
    now = datetime.now(UTC)
    expired = "expired-" + keys.new_id()
    api.container.database.token_repo.add(
        token_hash=token_hash(expired),
        user_id=uid,
        created_at=now - timedelta(days=31),
        expires_at=now - timedelta(seconds=1),
    )
    r = api.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    revoked = r.json()["accessToken"]
    assert api.client.post("/api/auth/logout", headers=_bearer(revoked)).status_code == 200
    cookie = f"token={token}; access_token={token}; session={token}; pixvault={token}"
    return {
        "none": ({}, ""),
        "empty scheme": ({"Authorization": "Bearer"}, ""),
        "garbled": ({"Authorization": "Bearer not-a-token"}, ""),
        "other scheme": ({"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}, ""),
        "token without scheme": ({"Authorization": token}, ""),
        "token plus junk": ({"Authorization": f"Bearer {token}x"}, ""),
        "expired": (_bearer(expired), ""),
        "revoked": (_bearer(revoked), ""),
        "cookie only": ({"Cookie": cookie}, ""),
        "query only": ({}, f"access_token={token}&token={token}"),
    }


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_signed_in_operation_refuses_anything_but_a_live_bearer_token(api: Api) -> None:
    """G54/G57/J87, enumerated from the OpenAPI document (every operation that declares the
    bearer scheme): 401 with ``WWW-Authenticate: Bearer``, the same body whatever was wrong
    with the credential (no oracle for "expired" or "revoked"), nothing stored or changed."""
    email = f"g54-{keys.new_id()}@example.com"
    owner = api.signup(email)
    token = owner["Authorization"].split()[1]
    image = api.upload(owner, ("mine.png", make_image("PNG", (40, 30)))).json()["images"][0]
    doc = api.client.get("/openapi.json").json()
    secured = [
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("security")
    ]
    assert len(secured) >= 9, secured
    credentials = _bad_credentials(api, email, token)
    before = snapshot(api, [owner], [(owner, image["id"])])
    for method, path in secured:
        url = path.replace("{image_id}", image["id"])
        kwargs: dict[str, Any] = {"json": {"imageId": image["id"], "tags": ["x"]}}
        if path == "/api/images/upload":
            kwargs = {"files": [("files", ("a.png", make_image("PNG", (8, 8)), "image/png"))]}
        if path.endswith("/variant"):
            url += "?w=200"
        bodies = set()
        for label, (headers, query) in credentials.items():
            sent = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
            r = api.client.request(method, sent, headers=headers, **kwargs)
            cell = f"{method} {path} with {label}"
            assert r.status_code == 401, (cell, r.status_code, r.text)
            assert r.headers["www-authenticate"] == "Bearer", cell
            assert_no_leak(r, api, token, email)
            bodies.add(r.content)
        assert len(bodies) == 1, (method, path, bodies)
    assert snapshot(api, [owner], [(owner, image["id"])]) == before
    assert api.client.get("/api/auth/me", headers=owner).status_code == 200  # still valid


def test_sign_in_mints_a_fresh_unguessable_token_every_time(local_api: Api) -> None:
    """G57: at least 128 random bits (these are 256), a new token per sign-in whatever the
    client already holds (no fixation), and sign-out ends exactly that token at once."""
    api = local_api
    email = f"g57-{keys.new_id()}@example.com"
    api.signup(email)
    planted = "attacker-chosen-token-value-0123456789abcdef"
    tokens = []
    for headers in ({}, _bearer(planted), {"Cookie": f"token={planted}"}):
        r = api.client.post(
            "/api/auth/login", json={"email": email, "password": PASSWORD}, headers=headers
        )
        assert r.status_code == 200
        tokens.append(r.json()["accessToken"])
        assert "set-cookie" not in r.headers
    assert len(set(tokens)) == 3 and planted not in tokens
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token), token
        assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) >= 16
    assert api.client.get("/api/auth/me", headers=_bearer(planted)).status_code == 401
    assert api.client.post("/api/auth/logout", headers=_bearer(tokens[0])).status_code == 200
    assert api.client.get("/api/auth/me", headers=_bearer(tokens[0])).status_code == 401
    assert api.client.get("/api/auth/me", headers=_bearer(tokens[1])).status_code == 200


def test_a_database_dump_yields_no_token_or_weak_password_hash(local_api: Api) -> None:
    """G59: tokens only as SHA-256 hex; passwords argon2id with at least OWASP's floor
    (19 MiB, 2 passes) and a salt of their own (two equal passwords, two hashes)."""
    api = local_api
    tokens = [api.signup()["Authorization"].split()[1] for _ in range(2)]
    with api.container.database.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM tokens"))]
        hashes = [row[0] for row in conn.execute(text("SELECT password_hash FROM users"))]
        dump = json.dumps(
            [list(map(str, row)) for row in conn.execute(text("SELECT * FROM tokens"))]
        )
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in stored)
    assert all(t not in dump for t in tokens)
    assert {token_hash(t) for t in tokens} <= set(stored)
    assert len(set(hashes)) == len(hashes) == 2
    for h in hashes:
        found = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", h)
        assert found is not None, h
        memory_kib, passes, lanes = map(int, found.groups())
        assert memory_kib >= 19 * 1024 and passes >= 2 and lanes >= 1, h
        assert PASSWORD not in h


def test_default_policy_allows_at_most_100_failed_sign_ins_an_hour() -> None:
    """G55: the budget of failed sign-ins per account, as configured out of the box: the
    tighter of the per-minute limit (over an hour) and the hourly failure limit."""
    default = Settings(_env_file=None, secret_key=TEST_SECRET)  # type: ignore[call-arg]
    budgets = []
    for limit in (default.auth_rate_limit, default.auth_failure_limit):
        item = parse(limit)
        budgets.append(item.amount * 3600 / item.get_expiry())
    assert min(budgets) <= 100, f"{budgets} an hour"


def test_the_hourly_failure_budget_throttles_and_successes_do_not_use_it(
    api_factory: Any,
) -> None:
    api = api_factory(auth_rate_limit="1000/minute", auth_failure_limit="3/hour")
    email = "hourly@example.com"
    assert (
        api.client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD}
        ).status_code
        == 201
    )
    good = {"email": email, "password": PASSWORD}
    for _ in range(5):  # successes give their hit back
        assert api.client.post("/api/auth/login", json=good).status_code == 200
    bad = {"email": email, "password": "wrong-password-1"}
    codes = [api.client.post("/api/auth/login", json=bad).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    locked = api.client.post("/api/auth/login", json=good)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60
