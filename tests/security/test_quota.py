"""Section K: quota and business logic, on both stacks.

The seed contract wins over the catalogue where they differ: an upload is 200 (not 201), quota
exceeded is 413 ``quota_exceeded`` with "quota" in the error (not 403), a delete is 200. The
quota is reserved with one conditional ``UPDATE`` in the metadata database before any byte is
stored, and ended in the transaction that inserts the rows (``reserve_quota``, table
``quota_reservations``). Covered elsewhere and cited in docs/security.md: the all-or-nothing
batch (``tests/web/test_upload.py``), 16 racing uploads on live servers (``tests/cli/``) and 8
concurrent deletes of one image (``tests/web/test_gallery.py``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa

from pixvault.core import keys
from pixvault.core.auth import token_hash
from pixvault.metadata.schema import quota_reservations
from tests import invariants
from tests.conftest import Api
from tests.imagegen import make_image
from tests.security.oracles import assert_no_leak, snapshot

HOUR = timedelta(hours=1)


def account(api: Api) -> tuple[dict[str, str], str]:
    """A fresh account and a bearer token for it (headers, user id). Made through the
    repositories: sign-up and sign-in are section G's, and each Argon2 hash costs ~0.2 s."""
    user = api.container.database.user_repo.create(
        user_id=keys.new_id(),
        email=f"k-{secrets.token_hex(6)}@example.com",
        password_hash="never used",
        quota_limit=api.settings.default_quota,
        now=datetime.now(UTC),
    )
    return another_device(api, user.id), user.id


def another_device(api: Api, user_id: str) -> dict[str, str]:
    """A second bearer token for an account, as a sign-in on another device would mint, without
    paying for another Argon2 verification."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    api.container.database.token_repo.add(
        token_hash=token_hash(token), user_id=user_id, created_at=now, expires_at=now + HOUR
    )
    return {"Authorization": f"Bearer {token}"}


def _quota(api: Api, headers: dict[str, str]) -> dict[str, int]:
    r = api.client.get("/api/auth/me", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json()["user"]["storageQuota"])


def _refused_for_quota(r: httpx2.Response, api: Api) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "quota_exceeded" and "quota" in r.json()["error"].lower()
    assert_no_leak(r, api)


def _originals(api: Api) -> list[str]:
    return [k for k in api.container.blobs.iter_keys() if keys.parse_storage_key(k)]


def test_k88_one_byte_over_is_refused_and_exactly_full_is_accepted(api: Api) -> None:
    """The limit is inclusive and byte-exact: used + size <= limit passes, one byte more does
    not, and nothing of the refused upload is kept."""
    a = make_image("PNG", (30, 30), noise=0)
    b = make_image("PNG", (31, 31), noise=0)
    h, uid = account(api)
    users = api.container.database.user_repo
    users.set_quota(uid, len(a) + len(b) - 1)
    assert api.upload(h, ("a.png", a)).status_code == 200
    before = snapshot(api, [h], [])
    _refused_for_quota(api.upload(h, ("b.png", b)), api)  # over by exactly one byte
    assert snapshot(api, [h], []) == before
    users.set_quota(uid, len(a) + len(b))
    r = api.upload(h, ("b.png", b))
    assert r.status_code == 200, r.text
    assert r.json()["images"][0]["size"] == len(b)  # nothing stripped: charged as sent
    assert _quota(api, h) == {"used": len(a) + len(b), "limit": len(a) + len(b)}
    full = snapshot(api, [h], [])
    _refused_for_quota(api.upload(h, ("tiny.gif", make_image("GIF", (1, 1), noise=0))), api)
    assert snapshot(api, [h], []) == full


def test_k90_fifty_parallel_uploads_from_three_devices_never_overrun_the_quota(
    api_factory: Callable[..., Api],
) -> None:
    """50 uploads, each fitting alone, race through three tokens of one account: the accepted
    bytes fit, `used` equals them with no reservation left over (INV4, no repair pass), and
    no refused upload would have fitted at the end (no spurious 413)."""
    api = api_factory(background_derivatives=False)
    h, uid = account(api)
    devices = [h, another_device(api, uid), another_device(api, uid)]
    files = [make_image("PNG", (8 + i % 10, 8 + i // 10), noise=0) for i in range(50)]
    quota = sum(map(len, files)) // 3
    api.container.database.user_repo.set_quota(uid, quota)
    assert max(map(len, files)) < quota

    def send(i: int) -> httpx2.Response:
        r: httpx2.Response = api.upload(devices[i % 3], (f"{i}.png", files[i]))
        return r

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(send, range(50)))
    accepted = {i: r.json()["images"][0] for i, r in enumerate(answers) if r.status_code == 200}
    refused = [i for i, r in enumerate(answers) if r.status_code != 200]
    for i in refused:
        _refused_for_quota(answers[i], api)
    assert accepted and refused
    used = sum(len(files[i]) for i in accepted)
    assert used <= quota
    assert _quota(api, h) == {"used": used, "limit": quota}
    assert all(used + len(files[i]) > quota for i in refused), "a refused upload would fit"
    assert len(_originals(api)) == len(accepted)  # refused uploads stored nothing
    invariants.check(
        api.container,
        {image["id"]: hashlib.sha256(files[i]).hexdigest() for i, image in accepted.items()},
        repaired=False,
    )
    with api.container.database.engine.connect() as conn:
        held = conn.execute(sa.select(sa.func.count()).select_from(quota_reservations))
        assert held.scalar_one() == 0


def test_k91_k92_identical_uploads_are_two_charged_images_and_derivatives_are_free(
    api: Api,
) -> None:
    """No deduplication: the same bytes sent twice at once are two rows and two objects,
    each charged. Derivatives (thumbnails, preview, variants) are never charged. Two
    concurrent deletes of one image: one 200, one 404, and exactly that image refunded."""
    h, _ = account(api)
    data = make_image("PNG", (300, 200), noise=0.3)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: api.upload(h, ("same.png", data)), range(2)))
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    first, second = (r.json()["images"][0] for r in answers)
    assert first["id"] != second["id"]
    stored = _originals(api)
    assert len(stored) == 2
    assert all(api.fetch(image["url"]).content == data for image in (first, second))
    assert _quota(api, h)["used"] == 2 * len(data)

    for link in ("thumbnailUrl", "thumbnail2xUrl", "previewUrl"):
        r = api.fetch(first[link], follow_redirects=False)
        if r.status_code == 302:  # S3: the app sends the browser on to the store
            r = api.fetch(r.headers["location"])
        assert r.status_code == 200, link
    variant = api.client.get(
        f"/api/images/{first['id']}/variant?w=200&format=jpeg", headers=h, follow_redirects=False
    )
    assert variant.status_code in (200, 302)
    assert api.container.derivatives.wait_idle(timeout=60)
    derived = [k for k in api.container.blobs.iter_keys() if keys.parse_derived_key(k)]
    assert len([k for k in derived if first["id"] in k]) >= 4
    assert _quota(api, h)["used"] == 2 * len(data)  # derivatives are not charged

    def delete(_: int) -> int:
        return api.client.delete(f"/api/images/{first['id']}", headers=h).status_code

    with ThreadPoolExecutor(2) as pool:
        assert sorted(pool.map(delete, range(2))) == [200, 404]
    assert _quota(api, h)["used"] == len(data)  # refunded once, and only its own size
    assert [k for k in api.container.blobs.iter_keys() if first["id"] in k] == []
    assert api.fetch(second["url"]).content == data


def test_k95_a_lowered_quota_blocks_new_uploads_and_deletes_nothing(api: Api) -> None:
    """An operator lowers the limit (there is no admin API: it is ``UserRepo.set_quota`` or SQL)
    below what is stored, and while an upload is in flight. The quota is decided once, when the
    upload reserves it: an upload already holding its reservation finishes; every later one is
    refused until deletes bring the account under the new limit. No image is ever removed."""
    a, b, c = (make_image("PNG", (20 + i, 20), noise=0) for i in range(3))
    h, uid = account(api)
    users = api.container.database.user_repo
    kept = [api.upload(h, (n, d)).json()["images"][0] for n, d in (("a.png", a), ("b.png", b))]

    users.set_quota(uid, 1)  # far below what is stored
    before = snapshot(api, [h], [(h, i["id"]) for i in kept])
    _refused_for_quota(api.upload(h, ("c.png", c)), api)
    assert snapshot(api, [h], [(h, i["id"]) for i in kept]) == before
    assert [api.fetch(i["url"]).content for i in kept] == [a, b]

    blobs = api.container.blobs
    real_put = blobs.put

    def put_then_lower(key: str, path: Path, **kwargs: Any) -> None:
        real_put(key, path, **kwargs)
        users.set_quota(uid, 1)  # the operator acts while the upload is between steps

    users.set_quota(uid, 10**9)
    blobs.put = put_then_lower  # type: ignore[method-assign]
    try:
        r = api.upload(h, ("c.png", c))
    finally:
        blobs.put = real_put  # type: ignore[method-assign]
    assert r.status_code == 200, r.text  # it reserved under the old limit
    assert _quota(api, h) == {"used": len(a) + len(b) + len(c), "limit": 1}
    d = make_image("GIF", (1, 1), noise=0)
    over = snapshot(api, [h], [])
    _refused_for_quota(api.upload(h, ("d.gif", d)), api)
    assert snapshot(api, [h], []) == over
    listed = api.client.get("/api/images/user", headers=h).json()["images"]
    assert sorted(i["size"] for i in listed) == sorted(map(len, (a, b, c)))  # all still there

    limit = len(b) + len(c) + len(d)
    users.set_quota(uid, limit)
    _refused_for_quota(api.upload(h, ("d.gif", d)), api)  # still over: a is in the way
    assert api.client.delete(f"/api/images/{kept[0]['id']}", headers=h).status_code == 200
    assert _quota(api, h) == {"used": len(b) + len(c), "limit": limit}
    assert api.upload(h, ("d.gif", d)).status_code == 200  # under the limit again
    assert _quota(api, h) == {"used": limit, "limit": limit}
