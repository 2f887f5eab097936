"""Accounts and tokens."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pixvault.core.auth import token_hash
from tests.conftest import PASSWORD, Api


def test_register_login_me_logout(api: Api) -> None:
    r = api.client.post(
        "/api/auth/register", json={"email": "Ann@Example.com", "password": PASSWORD}
    )
    assert r.status_code == 201
    user = r.json()["user"]
    assert r.json()["success"] is True
    assert user["email"] == "ann@example.com" and user["isAdmin"] is True
    assert user["storageQuota"] == {"used": 0, "limit": api.settings.default_quota}
    r = api.client.post("/api/auth/login", json={"email": "ann@example.com", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["tokenType"] == "Bearer" and body["expiresAt"].endswith("Z")
    h = {"Authorization": f"Bearer {body['accessToken']}"}
    assert api.client.get("/api/auth/me", headers=h).json()["user"]["id"] == user["id"]
    assert api.client.post("/api/auth/logout", headers=h).status_code == 200
    r = api.client.get("/api/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["error"]


def test_second_user_is_not_admin(api: Api) -> None:
    api.signup()
    h = api.signup()
    assert api.client.get("/api/auth/me", headers=h).json()["user"]["isAdmin"] is False


@pytest.mark.parametrize(
    ("email", "password"),
    [("not-an-email", PASSWORD), ("a@b", PASSWORD), ("ok@example.com", "short"), ("", "")],
)
def test_register_validation_is_400(api: Api, email: str, password: str) -> None:
    r = api.client.post("/api/auth/register", json={"email": email, "password": password})
    assert r.status_code == 400 and r.json()["error"]


def test_duplicate_email_is_409(api: Api) -> None:
    api.signup("dup@example.com")
    r = api.client.post(
        "/api/auth/register", json={"email": "DUP@example.com", "password": PASSWORD}
    )
    assert r.status_code == 409


def test_closed_registration_is_403(api_factory: object) -> None:
    api: Api = api_factory(allow_registration=False)  # type: ignore[operator]
    r = api.client.post("/api/auth/register", json={"email": "x@example.com", "password": PASSWORD})
    assert r.status_code == 403


def test_wrong_password_and_unknown_email_look_the_same(api: Api) -> None:
    api.signup("known@example.com")
    a = api.client.post(
        "/api/auth/login", json={"email": "known@example.com", "password": "wrong-pass"}
    )
    b = api.client.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "wrong-pass"}
    )
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nonsense", "Basic dXNlcjpwYXNz", "bearer  "]
)
def test_image_routes_need_a_valid_token(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in [
        ("GET", "/api/images/user"),
        ("POST", "/api/images/upload"),
        ("POST", "/api/images/presigned-url"),
        ("DELETE", "/api/images/01900000-0000-7000-8000-000000000000"),
        ("GET", "/api/auth/me"),
    ]:
        r = api.client.request(method, path, headers=headers)
        assert r.status_code == 401, (method, path)
        assert r.json()["error"]


def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    h = api.signup()
    token = h["Authorization"].split()[1]
    with api.container.database.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM tokens"))]
        hashes = [row[0] for row in conn.execute(text("SELECT password_hash FROM users"))]
    assert token not in stored and token_hash(token) in stored
    assert all(h.startswith("$argon2id$") for h in hashes)
