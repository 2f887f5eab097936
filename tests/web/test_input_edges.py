"""Input an outside test run found turning into 500s, and Unicode that did not match itself.

Each case runs on both stacks (PostgreSQL refuses NUL in text; its OFFSET is a 64-bit int) and
must answer a JSON 4xx with the security headers, leaving the connection usable.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import pytest

from tests.conftest import PASSWORD, Api
from tests.imagegen import make_image

ApiFactory = Callable[..., Api]


def _json_4xx(r: httpx2.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["x-content-type-options"] == "nosniff"
    body: dict[str, Any] = r.json()
    assert body["error"] and body["code"]
    return body


def _still_serves(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    "email",
    [
        "nul\x00@example.com",
        "zero\u200bwidth@example.com",
        "bidi\u202e@example.com",
        "bell\x07@example.com",
        "line\u2028sep@example.com",
    ],
)
def test_invisible_characters_in_an_email_are_400(api: Api, email: str) -> None:
    for route in ("/api/auth/register", "/api/auth/login"):
        r = api.client.post(route, json={"email": email, "password": PASSWORD})
        assert _json_4xx(r)["code"] == "invalid_input"
    _still_serves(api)


def test_one_address_typed_two_ways_is_one_account(api: Api) -> None:
    composed = unicodedata.normalize("NFC", "José@Example.com")
    decomposed = unicodedata.normalize("NFD", "josé@example.com")
    assert composed != decomposed
    api.signup(composed)
    r = api.client.post("/api/auth/register", json={"email": decomposed, "password": PASSWORD})
    assert r.status_code == 409
    r = api.client.post("/api/auth/login", json={"email": decomposed, "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["user"]["email"] == unicodedata.normalize("NFC", "josé@example.com")


@pytest.mark.parametrize(
    "query",
    ["search=a%00b", "tags=a%00b", "tags=ok,%E2%80%8Bx", "search=%E2%80%AEgpj.exe"],
)
def test_control_characters_in_gallery_filters_are_400(api: Api, query: str) -> None:
    h = api.signup()
    _json_4xx(api.client.get(f"/api/images/user?{query}", headers=h))
    _still_serves(api)


@pytest.mark.parametrize("page", [10**12, 2**63, 10**30])
def test_huge_page_is_400_not_a_database_overflow(api: Api, page: int) -> None:
    h = api.signup()
    image_id = api.upload(h, ("a.png", make_image("PNG", (8, 8)))).json()["images"][0]["id"]
    _json_4xx(api.client.get(f"/api/images/user?page={page}", headers=h))
    _json_4xx(api.client.get(f"/api/images/{image_id}/access-log?page={page}", headers=h))
    last = api.client.get("/api/images/user?page=1000000", headers=h)
    assert last.status_code == 200 and last.json()["images"] == []
    _still_serves(api)


def test_decomposed_search_and_tag_find_composed_names(api: Api) -> None:
    """macOS input produces NFD; names and tags are stored NFC."""
    h = api.signup()
    r = api.upload(h, ("café.png", make_image("PNG", (8, 8))), tags=json.dumps(["crème brûlée"]))
    assert r.status_code == 200, r.text
    for query in (
        {"search": unicodedata.normalize("NFD", "CAFÉ")},
        {"tags": unicodedata.normalize("NFD", "Crème Brûlée")},
    ):
        found = api.client.get("/api/images/user", params=query, headers=h).json()
        assert [i["originalName"] for i in found["images"]] == ["café.png"], query


@pytest.mark.parametrize("exp", ["²", "①", "١٢٣", "９９９９９９９９９９"])
def test_non_ascii_digits_in_a_signed_link_expiry_are_403(local_api: Api, exp: str) -> None:
    api = local_api
    h = api.signup()
    url = api.upload(h, ("a.png", make_image("PNG", (8, 8)))).json()["images"][0]["url"]
    path = httpx2.URL(url).path
    r = api.client.get(path, params={"exp": exp, "disp": "inline", "sig": "0" * 64})
    assert _json_4xx(r, 403)["code"] == "invalid_signature"
    _still_serves(api)


def test_parallel_wrong_passwords_cannot_beat_the_per_email_limit(
    api_factory: ApiFactory,
) -> None:
    """20 guesses at once for one account, each from its own IP behind a trusted proxy, with
    a limit of 5: exactly 5 are checked, the rest are refused before the password check."""
    api = api_factory(auth_rate_limit="5/minute", trusted_proxies="127.0.0.1")
    api.client.post("/api/auth/register", json={"email": "v@example.com", "password": PASSWORD})

    def guess(i: int) -> int:
        r = api.client.post(
            "/api/auth/login",
            json={"email": "v@example.com", "password": f"wrong-{i}-password"},
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
        )
        return r.status_code

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(guess, range(20)))
    assert sorted(codes) == [401] * 5 + [429] * 15


def test_successful_sign_ins_do_not_use_up_the_per_email_budget(
    api_factory: ApiFactory,
) -> None:
    api = api_factory(auth_rate_limit="3/minute", trusted_proxies="127.0.0.1")
    creds = {"email": "w@example.com", "password": PASSWORD}
    api.client.post("/api/auth/register", json=creds)
    ips = iter(f"198.51.100.{i}" for i in range(1, 50))

    def login(password: str) -> int:
        r = api.client.post(
            "/api/auth/login",
            json={**creds, "password": password},
            headers={"X-Forwarded-For": next(ips)},
        )
        return r.status_code

    assert [login("wrong password!") for _ in range(2)] == [401, 401]
    assert [login(PASSWORD) for _ in range(4)] == [200] * 4
    assert [login("wrong password!") for _ in range(2)] == [401, 429]
