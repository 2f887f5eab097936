"""Gallery listing, detail, edit, delete, access log, and owner isolation."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import Api
from tests.imagegen import make_image


def _seed(api: Api, h: dict[str, str], names_tags: list[tuple[str, list[str]]]) -> list[str]:
    ids = []
    for name, tags in names_tags:
        r = api.upload(h, (name, make_image("PNG", (10, 10))), tags=json.dumps(tags))
        assert r.status_code == 200, r.text
        ids.append(r.json()["images"][0]["id"])
    return ids


def test_newest_first_with_pagination(api: Api) -> None:
    h = api.signup()
    ids = _seed(api, h, [(f"img{i}.png", []) for i in range(5)])
    r = api.client.get("/api/images/user?page=1&limit=2", headers=h).json()
    assert r["success"] is True
    assert [i["id"] for i in r["images"]] == [ids[4], ids[3]]
    pagination = r["pagination"]
    assert pagination.pop("nextCursor")  # page-number clients can switch to cursors
    assert pagination == {"page": 1, "limit": 2, "total": 5, "pages": 3, "totalExact": True}
    last = api.client.get("/api/images/user?page=3&limit=2", headers=h).json()
    assert last["pagination"]["nextCursor"] is None
    assert [i["id"] for i in last["images"]] == [ids[0]]
    item = last["images"][0]
    assert set(item) >= {
        "id",
        "originalName",
        "url",
        "urlExpiresAt",
        "size",
        "contentType",
        "dimensions",
        "uploadedAt",
        "tags",
        "isPublic",
    }
    assert item["uploadedAt"].endswith("Z")
    beyond = api.client.get("/api/images/user?page=9&limit=2", headers=h).json()
    assert beyond["images"] == [] and beyond["pagination"]["total"] == 5


def test_default_limit_is_20(api: Api) -> None:
    h = api.signup()
    r = api.client.get("/api/images/user", headers=h).json()
    assert r["pagination"] == {
        "page": 1,
        "limit": 20,
        "total": 0,
        "pages": 0,
        "nextCursor": None,
        "totalExact": True,
    }


def test_cursor_paging_neither_repeats_nor_skips_while_images_come_and_go(api: Api) -> None:
    h = api.signup()
    ids = _seed(api, h, [(f"img{i}.png", ["x"] if i % 2 else []) for i in range(5)])
    first = api.client.get("/api/images/user?limit=2", headers=h).json()
    assert [i["id"] for i in first["images"]] == [ids[4], ids[3]]
    cursor = first["pagination"]["nextCursor"]
    _seed(api, h, [("newest.png", [])])  # would push everything one place down an offset
    assert api.client.delete(f"/api/images/{ids[2]}", headers=h).status_code == 200
    rest = api.client.get(f"/api/images/user?limit=2&cursor={cursor}", headers=h).json()
    assert [i["id"] for i in rest["images"]] == [ids[1], ids[0]]
    assert rest["pagination"]["nextCursor"] is None  # nothing older: no empty extra page
    assert rest["pagination"]["total"] == 5
    # Filters apply after a cursor too: only the tagged images older than it.
    tagged = api.client.get(f"/api/images/user?tags=x&cursor={cursor}", headers=h).json()
    assert [i["id"] for i in tagged["images"]] == [ids[1]]


@pytest.mark.parametrize("cursor", ["abc", "aTEuMTIz", "%00", "x" * 64])
def test_a_cursor_the_server_did_not_make_is_400(api: Api, cursor: str) -> None:
    h = api.signup()
    r = api.client.get(f"/api/images/user?cursor={cursor}", headers=h)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_input" and "cursor" in r.json()["error"]


@pytest.mark.parametrize(
    "query", ["page=0", "page=-1", "page=abc", "limit=0", "limit=101", "limit=1.5", "limit="]
)
def test_bad_paging_is_400(api: Api, query: str) -> None:
    h = api.signup()
    r = api.client.get(f"/api/images/user?{query}", headers=h)
    assert r.status_code == 400, r.text
    assert "error" in r.json()


def test_tag_filter_matches_any(api: Api) -> None:
    h = api.signup()
    ids = _seed(api, h, [("a.png", ["cat"]), ("b.png", ["dog", "cat"]), ("c.png", ["bird"])])
    r = api.client.get("/api/images/user?tags=cat,bird", headers=h).json()
    assert sorted(i["id"] for i in r["images"]) == sorted(ids)
    r = api.client.get("/api/images/user?tags=DOG", headers=h).json()
    assert [i["id"] for i in r["images"]] == [ids[1]]
    assert r["pagination"]["total"] == 1


def test_search_is_literal_and_case_insensitive(api: Api) -> None:
    h = api.signup()
    ids = _seed(
        api,
        h,
        [("Holiday_2024.png", []), ("holidayX2024.png", []), ("100%.png", []), ("a.b.png", [])],
    )

    def names(q: str) -> list[str]:
        r = api.client.get("/api/images/user", params={"search": q}, headers=h)
        assert r.status_code == 200, r.text
        return sorted(i["originalName"] for i in r.json()["images"])

    assert names("HOLIDAY") == ["Holiday_2024.png", "holidayX2024.png"]
    assert names("_") == ["Holiday_2024.png"]
    assert names("%") == ["100%.png"]
    assert names("a.b") == ["a.b.png"]
    assert names(".*") == []
    assert names("(") == []
    assert len(ids) == 4


def test_other_users_images_are_invisible(api: Api) -> None:
    alice, bob = api.signup(), api.signup()
    (image_id,) = _seed(api, alice, [("secret.png", [])])
    assert api.client.get("/api/images/user", headers=bob).json()["images"] == []
    for method, path, body in [
        ("GET", f"/api/images/{image_id}", None),
        ("PATCH", f"/api/images/{image_id}", {"isPublic": True}),
        ("DELETE", f"/api/images/{image_id}", None),
        ("GET", f"/api/images/{image_id}/access-log", None),
        ("POST", "/api/images/presigned-url", {"imageId": image_id}),
    ]:
        r = api.client.request(method, path, headers=bob, json=body)
        assert r.status_code == 404, (method, path, r.text)
        missing = path.replace(image_id, "01900000-0000-7000-8000-000000000000")
        if missing != path:
            r2 = api.client.request(method, missing, headers=bob, json=body)
            assert r2.status_code == 404 and r2.json() == r.json()
    assert api.client.get(f"/api/images/{image_id}", headers=alice).status_code == 200


@pytest.mark.parametrize(
    "bad_id", ["nope", "1", "../../etc", "01900000-0000-7000-8000-00000000000g"]
)
def test_malformed_ids_are_404(api: Api, bad_id: str) -> None:
    h = api.signup()
    assert api.client.get(f"/api/images/{bad_id}", headers=h).status_code == 404
    assert api.client.delete(f"/api/images/{bad_id}", headers=h).status_code == 404
    r = api.client.post("/api/images/presigned-url", headers=h, json={"imageId": bad_id})
    assert r.status_code == 404


def test_patch_tags_and_public(api: Api) -> None:
    h = api.signup()
    (image_id,) = _seed(api, h, [("a.png", ["old"])])
    r = api.client.patch(
        f"/api/images/{image_id}", headers=h, json={"tags": [" New ", "new", "b"], "isPublic": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["image"]["tags"] == ["b", "new"] and r.json()["image"]["isPublic"] is True
    listed = api.client.get("/api/images/user?tags=new", headers=h).json()["images"]
    assert [i["id"] for i in listed] == [image_id]
    assert api.client.get("/api/images/user?tags=old", headers=h).json()["images"] == []
    bad = api.client.patch(f"/api/images/{image_id}", headers=h, json={"isPublic": "yes"})
    assert bad.status_code == 400
    bad = api.client.patch(f"/api/images/{image_id}", headers=h, json={"tags": ["x" * 51]})
    assert bad.status_code == 400


def test_delete_removes_bytes_row_and_quota(api: Api) -> None:
    h = api.signup()
    before = api.state(h)
    data = make_image("PNG", (50, 50))
    r = api.upload(h, ("a.png", data))
    img = r.json()["images"][0]
    assert api.state(h)[2] == len(data)
    d = api.client.delete(f"/api/images/{img['id']}", headers=h)
    assert d.status_code == 200
    assert d.json() == {"success": True, "message": "Image deleted successfully"}
    assert api.state(h) == before
    assert api.fetch(img["url"]).status_code == 404
    assert api.client.delete(f"/api/images/{img['id']}", headers=h).status_code == 404


def test_concurrent_deletes_refund_once(api: Api) -> None:
    h = api.signup()
    keep = api.upload(h, ("keep.png", make_image("PNG", (20, 20)))).json()["images"][0]
    img = api.upload(h, ("a.png", make_image("PNG", (40, 40)))).json()["images"][0]
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                lambda _: api.client.delete(f"/api/images/{img['id']}", headers=h).status_code,
                range(8),
            )
        )
    assert sorted(codes) == [200] + [404] * 7
    assert api.state(h)[2] == keep["size"]


def test_access_log_records_presign_calls(api: Api) -> None:
    h = api.signup()
    (image_id,) = _seed(api, h, [("a.png", [])])
    for purpose in ("view", "download", "view"):
        r = api.client.post(
            "/api/images/presigned-url", headers=h, json={"imageId": image_id, "purpose": purpose}
        )
        assert r.status_code == 200
    log = api.client.get(f"/api/images/{image_id}/access-log?limit=2", headers=h).json()
    assert [e["purpose"] for e in log["entries"]] == ["view", "download"]
    assert log["pagination"]["total"] == 3
    assert log["entries"][0]["ip"] == "127.0.0.1"
    assert log["entries"][0]["accessedAt"].endswith("Z")


def test_totals_past_the_count_cap(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broad search says "at least the cap" (``totalExact`` false); one tag has a counter,
    so its total stays exact at any size."""
    from pixvault.core import paging

    monkeypatch.setattr(paging, "COUNT_CAP", 4)
    h = api.signup()
    _seed(api, h, [(f"cat{i}.png", ["cat"]) for i in range(6)])

    def pagination(query: str) -> dict[str, object]:
        r = api.client.get(f"/api/images/user?limit=2&{query}", headers=h)
        assert r.status_code == 200, r.text
        found: dict[str, object] = r.json()["pagination"]
        return found

    searched = pagination("search=cat")
    assert (searched["total"], searched["totalExact"]) == (4, False)
    tagged = pagination("tags=cat")
    assert (tagged["total"], tagged["pages"], tagged["totalExact"]) == (6, 3, True)
    everything = pagination("")
    assert (everything["total"], everything["totalExact"]) == (6, True)
