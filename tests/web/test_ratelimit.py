"""Rate limits: per client, shared across the API, not escapable by header games."""

from __future__ import annotations

from tests.conftest import PASSWORD, Api


def test_api_limit_429_with_headers(api_factory: object) -> None:
    api: Api = api_factory(rate_limit="5/minute")  # type: ignore[operator]
    codes = []
    for _ in range(6):
        r = api.client.get("/api/images/user")
        codes.append(r.status_code)
        assert "ratelimit-limit" in r.headers and r.headers["ratelimit-limit"] == "5"
    assert codes == [401] * 5 + [429]
    assert r.json() == {"error": "Rate limit exceeded", "code": "rate_limited"}
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["ratelimit-remaining"] == "0"
    # unmetered routes keep working
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").status_code == 200
    assert api.client.get("/openapi.json").status_code == 200


def test_forwarded_for_from_untrusted_peer_is_ignored(api_factory: object) -> None:
    api: Api = api_factory(rate_limit="3/minute")  # type: ignore[operator]
    for i in range(3):
        api.client.get("/api/config", headers={"X-Forwarded-For": f"10.0.0.{i}"})
    r = api.client.get("/api/config", headers={"X-Forwarded-For": "10.9.9.9"})
    assert r.status_code == 429


def test_trusted_proxy_forwarded_for_is_used(api_factory: object) -> None:
    api: Api = api_factory(  # type: ignore[operator]
        rate_limit="2/minute", trusted_proxies="127.0.0.1/32"
    )
    for ip in ("203.0.113.1", "203.0.113.2"):
        for _ in range(2):
            assert api.client.get("/api/config", headers={"X-Forwarded-For": ip}).status_code == 200
    assert (
        api.client.get("/api/config", headers={"X-Forwarded-For": "203.0.113.1"}).status_code == 429
    )


def test_signed_in_users_have_their_own_budget(api_factory: object) -> None:
    api: Api = api_factory(rate_limit="6/minute")  # type: ignore[operator]
    a = api.signup()  # 2 requests from the IP
    for _ in range(6):
        assert api.client.get("/api/images/user", headers=a).status_code == 200
    assert api.client.get("/api/images/user", headers=a).status_code == 429
    # the anonymous IP budget is separate: 2 used by sign-up, 4 left
    assert api.client.get("/api/config").status_code == 200


def test_login_limit_per_ip(api_factory: object) -> None:
    api: Api = api_factory(auth_rate_limit="3/minute")  # type: ignore[operator]
    codes = [
        api.client.post(
            "/api/auth/login", json={"email": f"x{i}@example.com", "password": "wrongpass"}
        ).status_code
        for i in range(4)
    ]
    assert codes == [401, 401, 401, 429]


def test_failed_logins_count_per_email_across_ips(api_factory: object) -> None:
    api: Api = api_factory(  # type: ignore[operator]
        auth_rate_limit="3/minute", trusted_proxies="127.0.0.1"
    )
    api.client.post(
        "/api/auth/register",
        json={"email": "v@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.250"},
    )
    for i in range(3):
        r = api.client.post(
            "/api/auth/login",
            json={"email": "v@example.com", "password": "guess-000"},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert r.status_code == 401
    r = api.client.post(
        "/api/auth/login",
        json={"email": "v@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.99"},
    )
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_successful_logins_do_not_count_per_email(api_factory: object) -> None:
    api: Api = api_factory(  # type: ignore[operator]
        auth_rate_limit="2/minute", trusted_proxies="127.0.0.1"
    )
    api.client.post(
        "/api/auth/register",
        json={"email": "ok@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.200"},
    )
    for i in range(4):
        r = api.client.post(
            "/api/auth/login",
            json={"email": "ok@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": f"198.51.100.{i}"},
        )
        assert r.status_code == 200
