"""GET /api/config: the limits the web app checks before sending are the ones the API enforces."""

from __future__ import annotations

import json
from typing import Any

from pixvault.core.names import MAX_TAG_LENGTH, MAX_TAGS, TAG_SEPARATOR
from tests.conftest import Api
from tests.imagegen import make_image


def _rules(api: Api) -> dict[str, Any]:
    r = api.client.get("/api/config")
    assert r.status_code == 200
    rules: dict[str, Any] = r.json()["tagRules"]
    return rules


def test_config_keeps_its_fields_and_adds_the_tag_rules(api: Api) -> None:
    body = api.client.get("/api/config").json()
    assert set(body) == {
        "success",
        "maxFileSize",
        "maxFilesPerUpload",
        "acceptedTypes",
        "allowRegistration",
        "tagRules",
    }
    assert body["maxFileSize"] == api.settings.max_file_size
    assert body["tagRules"] == {
        "maxTags": MAX_TAGS,
        "maxLength": MAX_TAG_LENGTH,
        "separator": TAG_SEPARATOR,
    }


def test_upload_tag_count_limit_is_the_advertised_one(api: Api) -> None:
    rules, h, png = _rules(api), api.signup(), make_image("PNG", (8, 8))
    most = [f"t{i}" for i in range(rules["maxTags"])]
    r = api.upload(h, ("ok.png", png), tags=json.dumps(most))
    assert r.status_code == 200, r.text
    image_id = r.json()["images"][0]["id"]
    detail = api.client.get(f"/api/images/{image_id}", headers=h).json()["image"]
    assert sorted(detail["tags"]) == sorted(most)
    r = api.upload(h, ("no.png", png), tags=json.dumps([*most, "one-more"]))
    assert r.status_code == 400, r.text
    assert f"At most {rules['maxTags']} tags" in r.json()["error"]


def test_upload_tag_length_limit_is_the_advertised_one(api: Api) -> None:
    rules, h, png = _rules(api), api.signup(), make_image("PNG", (8, 8))
    longest = "x" * rules["maxLength"]
    r = api.upload(h, ("ok.png", png), tags=json.dumps([longest]))
    assert r.status_code == 200, r.text
    r = api.upload(h, ("no.png", png), tags=json.dumps([longest + "x"]))
    assert r.status_code == 400, r.text
    assert "tag" in r.json()["error"].lower()


def test_a_tag_holding_the_separator_is_refused(api: Api) -> None:
    """The web app splits on the separator, so the server must never store a tag holding it."""
    rules, h, png = _rules(api), api.signup(), make_image("PNG", (8, 8))
    r = api.upload(h, ("no.png", png), tags=json.dumps([f"a{rules['separator']}b"]))
    assert r.status_code == 400, r.text
    r = api.upload(h, ("ok.png", png), tags=json.dumps(["a", "b"]))
    image_id = r.json()["images"][0]["id"]
    r = api.client.patch(
        f"/api/images/{image_id}", headers=h, json={"tags": [f"c{rules['separator']}d"]}
    )
    assert r.status_code == 400, r.text


def test_patch_enforces_the_same_tag_rules(api: Api) -> None:
    rules, h = _rules(api), api.signup()
    r = api.upload(h, ("a.png", make_image("PNG", (8, 8))))
    image_id = r.json()["images"][0]["id"]
    url = f"/api/images/{image_id}"
    most = [f"t{i}" for i in range(rules["maxTags"])]
    assert api.client.patch(url, headers=h, json={"tags": most}).status_code == 200
    assert api.client.patch(url, headers=h, json={"tags": [*most, "x"]}).status_code == 400
    too_long = ["y" * (rules["maxLength"] + 1)]
    assert api.client.patch(url, headers=h, json={"tags": too_long}).status_code == 400
