"""Every error is JSON with a message and a stable code; nothing leaks."""

from __future__ import annotations

import pytest

from tests.conftest import Api


def test_unknown_route_is_json_404(api: Api) -> None:
    r = api.client.get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not found", "code": "not_found"}


def test_wrong_method_is_json_405_with_allow(api: Api) -> None:
    r = api.client.put("/api/images/upload")
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed" and "allow" in r.headers


@pytest.mark.parametrize("body", [b"{", b"[]", b'{"email": 1}'])
def test_malformed_json_is_400(api: Api, body: bytes) -> None:
    r = api.client.post(
        "/api/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert set(r.json()) == {"error", "code"}
    assert "Traceback" not in r.text


def test_health_and_readiness(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").status_code == 200


def test_readiness_fails_when_blob_root_is_unusable(local_api: Api) -> None:
    api = local_api
    root = api.container.blobs.root  # type: ignore[attr-defined]
    root.rmdir() if root.exists() and not any(root.iterdir()) else None
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a directory")
    try:
        r = api.client.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]
    finally:
        root.unlink()


def test_openapi_describes_the_api(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in [
        "/api/images/upload",
        "/api/images/user",
        "/api/images/presigned-url",
        "/api/images/{image_id}",
        "/api/images/{image_id}/access-log",
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/logout",
        "/api/auth/me",
    ]:
        assert path in spec["paths"], path
    assert (
        "multipart/form-data"
        in spec["paths"]["/api/images/upload"]["post"]["requestBody"]["content"]
    )
    assert api.client.get("/docs").status_code == 200


def test_placeholder_page_has_strict_csp(api: Api) -> None:
    r = api.client.get("/")
    assert r.status_code == 200 and "pixvault" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
