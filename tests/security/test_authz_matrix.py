"""Section H as a matrix: every route that reads (or acts on) one image, for every principal.

Principals: the owner; another signed-in user (with images of their own); anonymous; the
owner's own token after sign-out (revoked); the owner's own token past its expiry. Targets:
the owner's image, an id that never existed, an image the owner deleted, and a malformed id.

For everyone but the owner, the owner's image must answer *exactly* as the missing one does
(same status, body and headers), nothing may be stored or changed (N0), and nothing of the
owner may show (L0). The owner's own cells must succeed, so the matrix cannot pass by
refusing everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from pixvault.core import keys, signing
from pixvault.core.auth import token_hash
from tests.conftest import PASSWORD, TEST_SECRET, Api
from tests.imagegen import make_image
from tests.security.oracles import MISSING_ID, assert_no_leak, same_answer, snapshot

OWNER_EMAIL = "owner-{n}@example.com"
SECRET_NAME = "owner-secret-holiday.png"
SECRET_TAG = "owner-private-tag"


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    path: str  # "{id}" is the target
    body: dict[str, Any] | None = None
    query: str = ""

    def send(self, api: Api, headers: dict[str, str], target: str) -> httpx2.Response:
        body = None
        if self.body is not None:
            body = json.loads(json.dumps(self.body).replace("{id}", target))
        url = self.path.replace("{id}", target) + self.query
        # A variant on S3 is a redirect to the store: the answer itself is what is judged.
        return api.client.request(
            self.method, url, headers=headers, json=body, follow_redirects=False
        )


# Every operation that takes an image id (a new one must be added here: see the test below).
OPS = [
    Op("detail", "GET", "/api/images/{id}"),
    Op("access-log", "GET", "/api/images/{id}/access-log"),
    Op("variant", "GET", "/api/images/{id}/variant", query="?w=200&format=jpeg"),
    Op("sign-view", "POST", "/api/images/presigned-url", {"imageId": "{id}"}),
    Op(
        "sign-download",
        "POST",
        "/api/images/presigned-url",
        {"imageId": "{id}", "purpose": "download"},
    ),
    Op("update", "PATCH", "/api/images/{id}", {"tags": ["pwned"], "isPublic": True}),
    Op("delete", "DELETE", "/api/images/{id}"),
]


@dataclass
class World:
    owner: dict[str, str]
    owner_id: str
    owner_email: str
    other: dict[str, str]
    image: dict[str, Any]  # the owner's image, as uploaded
    other_image: dict[str, Any]
    deleted: dict[str, Any]  # an image the owner uploaded and deleted
    principals: dict[str, dict[str, str]]  # every principal but the owner

    def private(self) -> list[str]:
        """What of the owner no other principal may ever see."""
        return [
            self.owner_email,
            self.owner_id,
            self.image["id"],
            SECRET_NAME,
            SECRET_TAG,
            self.image["uploadChecksums"]["sha256"],
        ]


_n = iter(range(10**6))


def _world(api: Api) -> World:
    email = OWNER_EMAIL.format(n=next(_n))
    owner = api.signup(email)
    owner_id = api.user_id(owner)
    up = api.upload(
        owner, (SECRET_NAME, make_image("PNG", (90, 60))), tags=json.dumps([SECRET_TAG])
    )
    assert up.status_code == 200, up.text
    image = up.json()["images"][0]
    r = api.client.post("/api/images/presigned-url", headers=owner, json={"imageId": image["id"]})
    assert r.status_code == 200  # the access log is not empty
    deleted = api.upload(owner, ("gone.png", make_image("PNG", (30, 20)))).json()["images"][0]
    assert api.client.delete(f"/api/images/{deleted['id']}", headers=owner).status_code == 200

    other = api.signup()
    other_image = api.upload(other, ("mine.png", make_image("GIF", (20, 20)))).json()["images"][0]

    # The owner's own second session, signed out: revoked.
    r = api.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    revoked = {"Authorization": f"Bearer {r.json()['accessToken']}"}
    assert api.client.post("/api/auth/logout", headers=revoked).status_code == 200
    # The owner's own token, past its expiry (stored as sign-in stores one, expired 1 s ago).
    stale = "expired-" + keys.new_id()
    now = datetime.now(UTC)
    api.container.database.token_repo.add(
        token_hash=token_hash(stale),
        user_id=owner_id,
        created_at=now - timedelta(hours=2),
        expires_at=now - timedelta(seconds=1),
    )
    return World(
        owner=owner,
        owner_id=owner_id,
        owner_email=email,
        other=other,
        image=image,
        other_image=other_image,
        deleted=deleted,
        principals={
            "other user": other,
            "anonymous": {},
            "revoked token": revoked,
            "expired token": {"Authorization": f"Bearer {stale}"},
        },
    )


@pytest.fixture
def world(api: Api) -> World:
    return _world(api)


EXPECTED = {"other user": 404, "anonymous": 401, "revoked token": 401, "expired token": 401}


def _body_fields(doc: dict[str, Any], op: dict[str, Any]) -> set[str]:
    schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = schema.get("schema", {})
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def test_every_image_operation_is_in_the_matrix(local_api: Api) -> None:
    """Enumerated from the OpenAPI document: an operation on an image id added later must be
    added to OPS (and so to the matrix) or this fails."""
    doc = local_api.client.get("/openapi.json").json()
    takes_id = {
        (method.upper(), path.replace("{image_id}", "{id}"))
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if "{image_id}" in path or "imageId" in _body_fields(doc, op)
    }
    assert takes_id == {(op.method, op.path) for op in OPS}


def test_someone_elses_image_answers_exactly_like_a_missing_one(api: Api, world: World) -> None:
    w = world
    targets = {"missing": MISSING_ID, "deleted": w.deleted["id"], "malformed": "not-an-image-id"}
    before = snapshot(api, [w.owner, w.other], [(w.owner, w.image["id"])])
    other_saw: dict[str, httpx2.Response] = {}
    for who, headers in w.principals.items():
        for op in OPS:
            cell = f"{op.name} as {who}"
            got = op.send(api, headers, w.image["id"])
            assert got.status_code == EXPECTED[who], (cell, got.status_code, got.text)
            code = "not_found" if who == "other user" else "unauthenticated"
            assert got.json()["code"] == code, (cell, got.text)
            for label, target in targets.items():
                try:
                    same_answer(got, op.send(api, headers, target))
                except AssertionError as exc:
                    raise AssertionError(f"{cell}: differs from a {label} image: {exc}") from None
            assert_no_leak(got, api, *w.private())
            if who == "other user":
                other_saw[op.name] = got
    # N0: no row, blob, quota, spool file, tag, flag or access-log entry changed.
    assert snapshot(api, [w.owner, w.other], [(w.owner, w.image["id"])]) == before

    # Listing and search are scoped to the caller (H68): the owner's name and tag find nothing.
    # So is naming the owner in the query (there is no cursor to tamper with: pages are numbers).
    named = f"?owner={w.owner_id}&user_id={w.owner_id}&ownerId={w.owner_id}&limit=100"
    for query in (named, f"?search={SECRET_NAME[:12]}", f"?tags={SECRET_TAG}"):
        r = api.client.get(f"/api/images/user{query}", headers=w.other)
        assert r.status_code == 200
        want = [w.other_image["id"]] if query == named else []
        assert [i["id"] for i in r.json()["images"]] == want, query
        for needle in w.private():
            assert needle not in r.text, (query, needle)
    mine = api.client.get(f"/api/images/user?search={SECRET_NAME[:12]}", headers=w.owner)
    assert [i["id"] for i in mine.json()["images"]] == [w.image["id"]]

    # The owner's own cells succeed (the matrix does not pass by refusing everyone), and the
    # owner's "missing" is the very answer the other user got for the owner's image.
    for op in OPS:
        got = op.send(api, w.owner, w.image["id"])
        assert got.status_code in (200, 302), (op.name, got.text)
        same_answer(op.send(api, w.owner, MISSING_ID), other_saw[op.name])


def _link(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    query = dict(part.split("=", 1) for part in split.query.split("&"))
    return split.path, query


def test_derivative_links_cannot_be_pointed_at_someone_elses_image(api: Api, world: World) -> None:
    """A thumbnail link is a capability for one key. Another user who knows the owner's ids
    and holds valid links of their own cannot turn one into a link to the owner's image: the
    answer is the one a link to a missing image gets, whatever credentials come with it."""
    w = world
    before = snapshot(api, [w.owner, w.other], [(w.owner, w.image["id"])])
    for field in ("thumbnailUrl", "thumbnail2xUrl", "previewUrl"):
        path, query = _link(w.other_image[field])
        name = path.rsplit("/", 1)[1]
        forged = f"/derived/{w.owner_id}/{w.image['id']}/{name}"
        missing = f"/derived/{w.owner_id}/{MISSING_ID}/{name}"
        qs = f"?exp={query['exp']}&sig={query['sig']}"
        for headers in (w.other, {}, w.owner):
            got = api.client.get(forged + qs, headers=headers)
            assert got.status_code == 403, (field, got.text)
            same_answer(got, api.client.get(missing + qs, headers=headers))
            assert_no_leak(got, api, SECRET_NAME, SECRET_TAG, w.owner_email)
    assert snapshot(api, [w.owner, w.other], [(w.owner, w.image["id"])]) == before

    # A link the server really signed, for an image deleted since or never there: one 404,
    # and no derivative is made for it.
    exp = int(datetime.now(UTC).timestamp()) + 600
    answers = []
    for image_id in (w.deleted["id"], MISSING_ID):
        key = keys.derived_key(w.owner_id, image_id, "thumb", "webp")
        sig = signing.sign(TEST_SECRET.encode(), key, exp, "inline")
        answers.append(api.client.get(f"/{key}?exp={exp}&sig={sig}"))
    assert answers[0].status_code == 404
    same_answer(*answers)
    assert not list(api.container.blobs.iter_keys(f"derived/{w.owner_id}/{w.deleted['id']}/"))


def test_clients_cannot_write_server_fields(local_api: Api) -> None:
    """H65 (BOPLA): fields the server owns, sent on sign-up or on an image update, are
    ignored; only tags and the public flag change, and nothing moves to another account."""
    api = local_api
    api.signup()  # the first account is the admin: the next one must not make itself one
    r = api.client.post(
        "/api/auth/register",
        json={
            "email": "bopla@example.com",
            "password": PASSWORD,
            "isAdmin": True,
            "is_admin": True,
            "storageQuota": {"used": 0, "limit": 10**15},
            "quotaLimit": 10**15,
            "id": MISSING_ID,
        },
    )
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["isAdmin"] is False and user["id"] != MISSING_ID
    assert user["storageQuota"] == {"used": 0, "limit": api.settings.default_quota}
    h = api.signup()
    other = api.signup()
    other_id = api.user_id(other)
    image = api.upload(h, ("kept.png", make_image("PNG", (30, 20)))).json()["images"][0]
    before = snapshot(api, [h, other], [(h, image["id"])])
    server_owned = {
        "ownerId": other_id,
        "owner_id": other_id,
        "size": 1,
        "storageKey": "../../etc/passwd",
        "storage_key": f"{other_id}/{MISSING_ID}.png",
        "sha256": "0" * 64,
        "checksums": {"md5": "0" * 32, "sha256": "0" * 64},
        "uploadedAt": "2000-01-01T00:00:00.000Z",
        "status": "failed",
        "contentType": "text/html",
        "originalName": "evil.html",
        "dimensions": {"width": 1, "height": 1},
        "quotaUsed": 0,
    }
    r = api.client.patch(
        f"/api/images/{image['id']}", headers=h, json={"tags": ["new"], **server_owned}
    )
    assert r.status_code == 200, r.text
    after = snapshot(api, [h, other], [(h, image["id"])])
    assert after[:2] == before[:2]  # blobs, rows, quota, spool of both accounts
    assert isinstance(after[2], dict) and isinstance(before[2], dict)
    assert {**before[2]["image"], "tags": ["new"]} == after[2]["image"]
    assert api.client.get("/api/images/user", headers=other).json()["images"] == []


def test_the_same_bytes_from_two_accounts_are_two_private_images(local_api: Api) -> None:
    """H69: no cross-account deduplication to leak through: each upload of the same bytes is
    its own image with the same answer shape and no "already exists" hint; each is charged;
    deleting one leaves the other whole."""
    api = local_api
    data = make_image("PNG", (70, 50), noise=0.3)
    a, b = api.signup(), api.signup()
    ra, rb = (api.upload(h, ("same.png", data)) for h in (a, b))
    assert ra.status_code == rb.status_code == 200
    ia, ib = ra.json()["images"][0], rb.json()["images"][0]
    assert ia["id"] != ib["id"] and ia.keys() == ib.keys()
    for text in (ra.text, rb.text):
        assert "exist" not in text.lower() and "duplicate" not in text.lower()
    assert api.state(a)[2] == api.state(b)[2] == len(data)
    assert [i["id"] for i in api.client.get("/api/images/user", headers=b).json()["images"]] == [
        ib["id"]
    ]
    assert api.client.delete(f"/api/images/{ia['id']}", headers=a).status_code == 200
    assert api.fetch(ib["url"]).content == data
    assert api.client.get(f"/api/images/{ib['id']}", headers=b).status_code == 200
