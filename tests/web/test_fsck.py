"""The repair pass on both stacks: what a crash between the store and the database leaves is
found, and with ``repair`` fixed, without touching uploads still in flight."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PIL import Image

from pixvault.container import build_container
from pixvault.core import keys
from pixvault.core.repair.service import Options, Report
from pixvault.metadata.schema import tag_counts, users
from tests.conftest import Api

NOW = timedelta(0)


def jpeg(color: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), color).save(out, "JPEG")
    return out.getvalue()


def fsck(api: Api, *, repair: bool = False, grace: timedelta = NOW) -> Report:
    assert api.container.derivatives.wait_idle(timeout=60)
    return api.container.repair.run(Options(repair=repair, grace=grace))


def upload(api: Api, h: dict[str, str], name: str = "a.jpg") -> dict[str, str]:
    r = api.upload(h, (name, jpeg()))
    assert r.status_code == 200, r.text
    image: dict[str, str] = r.json()["images"][0]
    assert api.container.derivatives.wait_idle(timeout=60)
    return image


def put_bytes(api: Api, key: str, data: bytes, tmp: Path) -> None:
    src = tmp / "blob"
    src.write_bytes(data)
    api.container.blobs.put(key, src, size=len(data), content_type="image/jpeg")


def quota_used(api: Api, h: dict[str, str]) -> int:
    user = api.container.database.user_repo.get(api.user_id(h))
    assert user is not None
    return user.quota_used


def test_a_healthy_store_is_clean_and_repair_changes_nothing(api: Api) -> None:
    h = api.signup()
    for name in ("a.jpg", "b.jpg"):
        upload(api, h, name)
    before = api.state(h)
    report = fsck(api)
    assert report.problems_left == 0, report.as_dict()
    assert report.rows_seen == 2 and report.users_seen == 1
    assert report.keys_seen == 6  # two originals, two thumbnails, two previews
    assert fsck(api, repair=True).problems_left == 0
    assert api.state(h) == before


def test_bytes_left_by_a_crashed_delete_go_once_past_the_grace_period(api: Api) -> None:
    h = api.signup()
    image = upload(api, h)
    kept = upload(api, h, "kept.jpg")
    # A crash after the row's delete, before its bytes': the row and quota are gone.
    gone = api.container.database.image_repo.delete_and_refund(api.user_id(h), image["id"])
    assert gone is not None
    left = {k for k in api.container.blobs.iter_keys() if image["id"] in k}
    assert len(left) == 3

    young = fsck(api, repair=True, grace=timedelta(hours=1))
    assert young.too_young == 3 and young.problems_left == 0
    assert {k for k in api.container.blobs.iter_keys() if image["id"] in k} == left

    report = fsck(api)
    assert report.orphan_originals.found == 1 and report.orphan_derivatives.found == 2
    assert report.orphan_originals.samples == [gone.storage_key]
    assert report.problems_left == 3
    repaired = fsck(api, repair=True)
    assert repaired.orphan_originals.repaired == 1 and repaired.problems_left == 0
    assert not [k for k in api.container.blobs.iter_keys() if image["id"] in k]
    # The other image is untouched and still reads back.
    assert api.fetch(kept["url"]).status_code == 200
    assert fsck(api).problems_left == 0


def test_bytes_of_a_crashed_upload_go_and_its_reservation_is_refunded(
    api: Api, tmp_path: Path
) -> None:
    h = api.signup()
    upload(api, h)
    uid = api.user_id(h)
    used = quota_used(api, h)
    # A crash after the reserve and the put, before the rows: a reservation and lone bytes.
    reservation = keys.new_id()
    users_repo = api.container.database.user_repo
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    assert users_repo.reserve_quota(uid, 5000, reservation=reservation, now=two_hours_ago)
    orphan = keys.storage_key(uid, keys.new_id(), "jpg")
    put_bytes(api, orphan, jpeg(), tmp_path)
    assert quota_used(api, h) == used + 5000

    # Within the grace period both count as an upload in flight: nothing to fix.
    live = fsck(api, grace=timedelta(hours=3))
    assert live.problems_left == 0 and live.too_young == 1

    report = fsck(api, repair=True, grace=timedelta(hours=1))
    assert report.stale_reservations.found == 1 and report.quota_drift.found == 1
    assert report.orphan_originals.found == 0  # its id is seconds old: still in its grace
    assert quota_used(api, h) == used
    assert fsck(api, repair=True).orphan_originals.repaired == 1
    assert orphan not in set(api.container.blobs.iter_keys())
    assert fsck(api).problems_left == 0
    # The upload that lost its reservation to the repair cannot land half-way later.
    users_repo.release_quota(uid, 5000, reservation=reservation)
    assert quota_used(api, h) == used


def test_a_young_reservation_is_an_upload_in_flight_not_drift(api: Api) -> None:
    h = api.signup()
    upload(api, h)
    uid = api.user_id(h)
    used = quota_used(api, h)
    assert api.container.database.user_repo.reserve_quota(
        uid, 700, reservation=keys.new_id(), now=datetime.now(UTC)
    )
    report = fsck(api, repair=True, grace=timedelta(hours=1))
    assert report.problems_left == 0 and report.quota_drift.found == 0
    assert quota_used(api, h) == used + 700


def test_quota_drift_is_recomputed_from_the_stored_sizes(api: Api) -> None:
    h = api.signup()
    first = upload(api, h)
    second = upload(api, h, "b.jpg")
    with api.container.database.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == api.user_id(h)).values(quota_used=12345))
    report = fsck(api)
    assert report.quota_drift.found == 1 and report.quota_drift.repaired == 0
    assert quota_used(api, h) == 12345
    assert fsck(api, repair=True).quota_drift.repaired == 1
    assert quota_used(api, h) == int(first["size"]) + int(second["size"])


def test_a_wrong_image_count_is_reported_and_recomputed(api: Api) -> None:
    """The gallery's total is a counter; a hand edit or a bug that moves it is drift too."""
    h = api.signup()
    upload(api, h)
    upload(api, h, "b.jpg")
    with api.container.database.engine.begin() as conn:
        conn.execute(users.update().where(users.c.id == api.user_id(h)).values(image_count=7))
    total = api.client.get("/api/images/user", headers=h).json()["pagination"]["total"]
    assert total == 7
    report = fsck(api)
    assert report.quota_drift.found == 1 and report.quota_drift.repaired == 0
    assert fsck(api, repair=True).quota_drift.repaired == 1
    assert fsck(api).quota_drift.found == 0
    assert api.client.get("/api/images/user", headers=h).json()["pagination"]["total"] == 2


def test_lost_bytes_are_marked_missing_shown_to_their_owner_and_deletable(
    api: Api, tmp_path: Path
) -> None:
    h = api.signup()
    image = upload(api, h)
    row = api.container.database.image_repo.get(api.user_id(h), image["id"])
    assert row is not None
    saved = tmp_path / "saved"
    api.container.blobs.download_to(row.storage_key, saved)
    api.container.blobs.delete(row.storage_key)  # lost: a disk died, a bucket was trimmed

    assert fsck(api).missing_bytes.found == 1
    report = fsck(api, repair=True)
    assert report.missing_bytes.repaired == 1 and report.problems_left == 0
    item = api.client.get("/api/images/user", headers=h).json()["images"][0]
    assert item["status"] == "missing"
    assert "missing" in item["failureReason"]
    again = fsck(api, repair=True)  # reported once, not "repaired" again and again
    assert again.problems_left == 0 and again.missing_bytes.found == 1
    # No link serves half a file: the original is gone, the thumbnail is the neutral image.
    sign = api.client.post("/api/images/presigned-url", json={"imageId": image["id"]}, headers=h)
    assert sign.status_code == 400 and sign.json()["code"] == "not_ready"
    assert "missing" in sign.json()["error"]
    neutral = api.client.get(item["thumbnailUrl"].removeprefix(str(api.client.base_url)))
    assert neutral.status_code == 200 and len(neutral.content) < 200  # the 64×64 grey WebP
    # Restored from a backup: back to ready.
    put_bytes(api, row.storage_key, saved.read_bytes(), tmp_path)
    found = fsck(api, repair=True)
    assert found.found_again.repaired == 1
    detail = api.client.get(f"/api/images/{image['id']}", headers=h).json()["image"]
    assert detail["status"] == "ready" and detail["failureReason"] is None
    assert api.fetch(detail["url"]).content == saved.read_bytes()
    # Either way its owner can delete it, and is refunded.
    assert api.client.delete(f"/api/images/{image['id']}", headers=h).status_code == 200
    assert quota_used(api, h) == 0


def test_lost_derivatives_of_ready_images_are_made_again(api: Api) -> None:
    h = api.signup()
    image = upload(api, h)
    uid = api.user_id(h)
    thumb = keys.derived_key(uid, image["id"], "thumb", "webp")
    api.container.blobs.delete(thumb)
    report = fsck(api)
    assert report.missing_derivatives.found == 1 and report.problems_left == 1
    assert fsck(api, repair=True).missing_derivatives.repaired == 1
    assert api.container.blobs.exists(thumb)
    assert fsck(api).problems_left == 0


def test_one_user_only(api: Api, tmp_path: Path) -> None:
    mine, theirs = api.signup(), api.signup()
    upload(api, mine)
    upload(api, theirs)
    orphan = keys.storage_key(api.user_id(theirs), keys.new_id(), "jpg")
    put_bytes(api, orphan, jpeg(), tmp_path)
    only_mine = api.container.repair.run(
        Options(repair=True, grace=NOW, owner_id=api.user_id(mine))
    )
    assert only_mine.problems_left == 0 and only_mine.users_seen == 1
    assert only_mine.keys_seen == 3 and only_mine.rows_seen == 1
    assert orphan in set(api.container.blobs.iter_keys())  # not mine to judge
    assert fsck(api).orphan_originals.samples == [orphan]


def test_keys_pixvault_never_makes_are_left_alone(local_api: Api) -> None:
    api = local_api
    h = api.signup()
    upload(api, h)
    store_root = api.settings.data_dir / "blobs"
    assert store_root.is_dir()
    (store_root / "README.txt").write_text("notes of the operator")
    report = fsck(api, repair=True)
    assert report.foreign_keys == 1 and report.problems_left == 0
    assert (store_root / "README.txt").exists()


def test_counts_in_sql_match_after_many_uploads(api: Api) -> None:
    h = api.signup()
    for i in range(3):
        upload(api, h, f"{i}.jpg")
    with api.container.database.engine.begin() as conn:
        total = conn.scalar(sa.text("SELECT count(*) FROM quota_reservations"))
    assert total == 0  # every upload ended its reservation with its rows


def test_the_scheduled_pass_runs_in_one_process_at_a_time(api_factory: Any, tmp_path: Path) -> None:
    api = api_factory(repair_interval=3600, repair_grace=60)
    schedule = api.container.repair_schedule
    assert schedule is not None and schedule._thread.is_alive()  # started with the app
    h = api.signup()
    upload(api, h)
    other = build_container(api.settings)  # a second server process on the same stack
    try:
        assert other.repair_schedule is not None
        with api.container.database.engine.begin() as conn:
            conn.execute(users.update().values(quota_used=1))
        assert schedule.run_once()  # takes the lease for the interval, repairs
        assert quota_used(api, h) > 1
        assert not other.repair_schedule.run_once()  # the lease is held: no second pass
        assert other.repair_schedule.runs == 0
        # The holder died: once its lease runs out, another process takes the next round.
        later = datetime.now(UTC) + timedelta(hours=2)
        repo = api.container.database.repair_repo
        assert repo.take_lease("repair", "someone-else", later, later + timedelta(hours=1))
        assert not repo.take_lease("repair", "a-third", later, later + timedelta(hours=1))
    finally:
        other.close()
    assert api_factory(repair_interval=None).container.repair_schedule is None


def gallery_total(api: Api, h: dict[str, str], query: str) -> int:
    answer = api.client.get(f"/api/images/user?{query}", headers=h).json()
    total: int = answer["pagination"]["total"]
    return total


def test_a_wrong_tag_count_is_reported_and_recomputed(api: Api) -> None:
    """A one-tag filter's total is a counter too; drift in it is found and fixed."""
    h = api.signup()
    for name in ("a.jpg", "b.jpg"):
        r = api.upload(h, (name, jpeg()), tags=json.dumps(["sea"]))
        assert r.status_code == 200, r.text
    with api.container.database.engine.begin() as conn:
        conn.execute(tag_counts.update().values(image_count=5))
    assert gallery_total(api, h, "tags=sea") == 5
    report = fsck(api)
    assert report.quota_drift.found == 1 and report.quota_drift.repaired == 0
    assert fsck(api, repair=True).quota_drift.repaired == 1
    assert fsck(api).problems_left == 0
    assert gallery_total(api, h, "tags=sea") == 2


def test_a_name_index_out_of_step_is_found_and_rebuilt(local_api: Api) -> None:
    """SQLite's name search index (FTS5) is kept by triggers; if it loses an entry (a hand
    edit, a bug), that image cannot be found by name until the repair rebuilds the index."""
    api = local_api
    h = api.signup()
    upload(api, h, "Lighthouse.jpg")
    upload(api, h, "harbour.jpg")
    assert gallery_total(api, h, "search=lighthouse") == 1
    with api.container.database.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO image_names_fts (image_names_fts, rowid, name) "
            "SELECT 'delete', seq, name FROM image_names WHERE name = 'lighthouse.jpg'"
        )
        conn.exec_driver_sql("DELETE FROM image_names WHERE name = 'harbour.jpg'")
    assert gallery_total(api, h, "search=lighthouse") == 0
    assert gallery_total(api, h, "search=harbour") == 0
    report = fsck(api)
    assert report.search_index.found == 1 and report.problems_left == 1
    assert fsck(api, repair=True).search_index.repaired == 1
    assert fsck(api).problems_left == 0
    assert gallery_total(api, h, "search=lighthouse") == 1
    assert gallery_total(api, h, "search=harbour") == 1
