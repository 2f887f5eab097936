"""One mapping from errors to HTTP, middleware included; bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from pixvault.core.errors import Unavailable
from pixvault.web.errors import UNAVAILABLE_RETRY_AFTER
from tests.conftest import Api
from tests.imagegen import make_image

ApiFactory = Callable[..., Api]


def _fail(*_: Any, **__: Any) -> Any:
    raise Unavailable("database down")


def test_deeply_nested_tags_are_400_not_a_recursion_error(api: Api) -> None:
    h = api.signup()
    nested = "[" * 50_000 + "]" * 50_000  # within the field cap, far past the JSON recursion
    r = api.upload(h, ("a.png", make_image("PNG", (8, 8))), tags=nested[:60_000])
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_input" and "tags" in r.json()["error"]
    r = api.upload(h, ("a.png", make_image("PNG", (8, 8))), tags=json.dumps(["fine"]))
    assert r.status_code == 200


def test_rate_limit_answer_comes_from_the_one_mapping(api_factory: ApiFactory) -> None:
    api = api_factory(rate_limit="1/minute")
    api.client.get("/api/config")
    r = api.client.get("/api/config")
    assert r.status_code == 429
    assert r.json() == {"error": "Rate limit exceeded", "code": "rate_limited"}
    assert r.headers.get_list("retry-after") == [r.headers["ratelimit-reset"]]
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_token_check_outage_in_middleware_is_503_with_one_retry_after(
    local_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = local_api.signup()
    monkeypatch.setattr(local_api.container.auth, "authenticate", _fail)
    r = local_api.client.get("/api/images/user", headers=h)
    assert r.status_code == 503
    assert r.json() == {"error": "database down", "code": "unavailable"}
    assert r.headers.get_list("retry-after") == [str(UNAVAILABLE_RETRY_AFTER)]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_readiness_failure_is_the_mapped_503(
    local_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_api.container.database, "ping", _fail)
    r = local_api.client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"error": "database down", "code": "unavailable"}
    assert r.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER)
    assert local_api.client.get("/healthz").json() == {"status": "ok"}


def test_an_unexpected_error_is_json_500_with_the_security_headers(
    local_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("/secret/path/in/a/message")

    h = local_api.signup()
    monkeypatch.setattr(local_api.container.images, "list", boom)
    r = local_api.client.get("/api/images/user", headers=h)
    assert r.status_code == 500
    assert r.json() == {"error": "Internal server error", "code": "internal"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "/secret/path" not in r.text
