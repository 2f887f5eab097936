"""One contract for every metadata adapter: SQLite and PostgreSQL.

Each test runs once per adapter, so both databases are proven to behave alike. PostgreSQL is
the session's throwaway database (``tests.services.postgres``), emptied before each test;
without a server those cases skip (fail under CI). Adapters and helpers live in
``metadata_support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from pixvault.core import paging
from pixvault.core.errors import Conflict, NotFound, Unavailable
from pixvault.core.keys import new_id, storage_key
from pixvault.core.models import (
    AccessEntry,
    ImageQuery,
    ImageStatus,
    PhotoMetadata,
    Purpose,
    User,
)
from pixvault.core.ports import ImagePatch
from pixvault.metadata.engine import make_engine
from pixvault.metadata.repos import SqlDatabase
from tests.contract.metadata_support import (
    ADAPTERS,
    NOW,
    Repos,
    ids,
    make_image,
    make_user,
    make_user_record,
    open_repos,
    page_ids,
    run_threads,
    used_quota,
)


@pytest.fixture(params=ADAPTERS)
def repos(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repos]:
    with open_repos(request.param, request, tmp_path) as adapter:
        yield adapter


# --- users -------------------------------------------------------------------------------


def test_first_user_is_admin_and_later_users_are_not(repos: Repos) -> None:
    first, second = make_user(repos), make_user(repos)
    assert first.is_admin
    assert not second.is_admin
    assert repos.users.get(first.id) == first
    assert repos.users.get(second.id) == second


def test_concurrent_registrations_make_exactly_one_admin(repos: Repos) -> None:
    users = run_threads(8, lambda i: make_user(repos))
    assert sum(user.is_admin for user in users) == 1
    stored = [repos.users.get(user.id) for user in users]
    assert sum(bool(user and user.is_admin) for user in stored) == 1


def test_duplicate_email_is_a_conflict_case_insensitively(repos: Repos) -> None:
    make_user(repos, "Ann@Example.com")
    with pytest.raises(Conflict, match="Email already registered"):
        make_user(repos, "aNN@example.COM")


def test_email_is_stored_lowercased_and_found_case_insensitively(repos: Repos) -> None:
    user = make_user(repos, "Bob@Example.COM")
    assert user.email == "bob@example.com"
    creds = repos.users.get_credentials("BOB@example.com")
    assert creds is not None
    assert creds.user == user
    assert creds.password_hash == "hash"
    assert repos.users.get_credentials("nobody@example.com") is None
    assert repos.users.get(new_id()) is None


def test_timestamps_come_back_as_aware_utc(repos: Repos) -> None:
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    user = repos.users.create(
        user_id=new_id(), email="tz@example.com", password_hash="h", quota_limit=1, now=plus_two
    )
    stored = repos.users.get(user.id)
    assert stored is not None
    assert stored.created_at == NOW
    assert stored.created_at.utcoffset() == timedelta(0)
    with pytest.raises(ValueError, match="naive"):
        repos.users.create(
            user_id=new_id(),
            email="naive@example.com",
            password_hash="h",
            quota_limit=1,
            now=NOW.replace(tzinfo=None),
        )


def test_reserve_quota_is_all_or_nothing(repos: Repos) -> None:
    user = make_user(repos, quota_limit=100)
    assert repos.users.reserve_quota(user.id, 60)
    assert not repos.users.reserve_quota(user.id, 41)
    assert repos.users.reserve_quota(user.id, 40)  # exactly at the limit fits
    assert repos.users.reserve_quota(user.id, 0)  # nothing always fits
    assert not repos.users.reserve_quota(user.id, 1)
    assert not repos.users.reserve_quota(new_id(), 1)
    assert used_quota(repos, user) == 100


def test_release_quota_never_goes_below_zero(repos: Repos) -> None:
    user = make_user(repos, quota_limit=100)
    repos.users.reserve_quota(user.id, 30)
    repos.users.release_quota(user.id, 10)
    assert used_quota(repos, user) == 20
    repos.users.release_quota(user.id, 50)
    assert used_quota(repos, user) == 0


def test_concurrent_reservations_never_overrun_the_quota(repos: Repos) -> None:
    limit = 1000
    user = make_user(repos, quota_limit=limit)
    sizes = [90 + 7 * i for i in range(16)]  # sums to 2280: only some can fit

    def reserve(i: int) -> list[int]:
        return [sizes[i] for _ in range(3) if repos.users.reserve_quota(user.id, sizes[i])]

    granted = [n for got in run_threads(16, reserve) for n in got]
    assert used_quota(repos, user) == sum(granted)
    # Someone was refused, so what is left is less than the largest size.
    assert limit - max(sizes) < sum(granted) <= limit


def test_set_quota_and_set_admin(repos: Repos) -> None:
    make_user(repos)
    user = make_user(repos, quota_limit=10)
    repos.users.set_quota(user.id, 500)
    repos.users.set_admin(user.id, True)
    stored = repos.users.get(user.id)
    assert stored is not None
    assert (stored.quota_limit, stored.is_admin) == (500, True)
    assert repos.users.reserve_quota(user.id, 500)
    repos.users.set_admin(user.id, False)
    assert repos.users.get(user.id) == User(
        id=user.id,
        email=user.email,
        is_admin=False,
        quota_used=500,
        quota_limit=500,
        created_at=NOW,
    )


# --- tokens ------------------------------------------------------------------------------


def test_token_resolves_to_its_user_until_expiry(repos: Repos) -> None:
    user = make_user(repos)
    repos.tokens.add(
        token_hash="a" * 64, user_id=user.id, created_at=NOW, expires_at=NOW + timedelta(hours=1)
    )
    assert repos.tokens.user_for("a" * 64, NOW) == user
    assert repos.tokens.user_for("a" * 64, NOW + timedelta(minutes=59)) == user
    assert repos.tokens.user_for("a" * 64, NOW + timedelta(hours=1)) is None
    assert repos.tokens.user_for("b" * 64, NOW) is None


def test_revoked_token_resolves_to_nobody(repos: Repos) -> None:
    user = make_user(repos)
    for h in ("a" * 64, "b" * 64):
        repos.tokens.add(
            token_hash=h, user_id=user.id, created_at=NOW, expires_at=NOW + timedelta(days=1)
        )
    repos.tokens.revoke("a" * 64)
    repos.tokens.revoke("a" * 64)  # twice is fine
    repos.tokens.revoke("c" * 64)  # unknown is fine
    assert repos.tokens.user_for("a" * 64, NOW) is None
    assert repos.tokens.user_for("b" * 64, NOW) == user


def test_token_for_a_missing_user_or_twice_is_a_conflict(repos: Repos) -> None:
    user = make_user(repos)
    later = NOW + timedelta(days=1)
    repos.tokens.add(token_hash="a" * 64, user_id=user.id, created_at=NOW, expires_at=later)
    with pytest.raises(Conflict):
        repos.tokens.add(token_hash="a" * 64, user_id=user.id, created_at=NOW, expires_at=later)
    with pytest.raises(Conflict):
        repos.tokens.add(token_hash="b" * 64, user_id=new_id(), created_at=NOW, expires_at=later)


# --- images ------------------------------------------------------------------------------


def test_added_images_come_back_whole_to_their_owner_only(repos: Repos) -> None:
    owner, other = make_user(repos), make_user(repos)
    image = make_image(owner, "Holiday.PNG", tags=("sea", "beach", "sea"), is_public=True)
    repos.images.add_many([image])
    expected = replace(image, tags=("beach", "sea"))  # a set of tags, sorted
    assert repos.images.get(owner.id, image.id) == expected
    assert repos.images.get_by_key(image.storage_key) == expected
    assert repos.images.get(other.id, image.id) is None
    assert repos.images.get(owner.id, new_id()) is None
    assert repos.images.get_by_key(storage_key(owner.id, new_id(), "png")) is None


def test_pipeline_fields_round_trip(repos: Repos) -> None:
    """Upload checksums, date taken (with its zone normalised to UTC), camera metadata, a
    failure reason and a placeholder come back as stored; absent ones come back None."""
    owner = make_user(repos)
    taken = NOW.astimezone(timezone(timedelta(hours=-7)))
    full = make_image(
        owner,
        upload_md5="1" * 32,
        upload_sha256="2" * 64,
        taken_at=taken,
        photo=PhotoMetadata(camera_make="Apple", camera_model="iPhone 15", iso=64),
        failure_reason="cannot decode pixels",
        placeholder="3OcRJYB4d3h/iIeHeEh3eIhw+j3A",
        status=ImageStatus.FAILED,
    )
    bare = make_image(owner, photo=PhotoMetadata())
    repos.images.add_many([full, bare])
    got = repos.images.get(owner.id, full.id)
    assert got == full
    assert got is not None and got.taken_at is not None
    assert got.taken_at.utcoffset() == timedelta(0) and got.taken_at == taken
    assert repos.images.get(owner.id, bare.id) == replace(bare, photo=None)


def test_add_many_stores_all_or_nothing(repos: Repos) -> None:
    owner = make_user(repos)
    existing = make_image(owner)
    repos.images.add_many([existing])
    fresh = make_image(owner, tags=("a",))
    clash = make_image(owner, storage_key=existing.storage_key, tags=("b",))
    with pytest.raises(Conflict):
        repos.images.add_many([fresh, clash])
    assert repos.images.get(owner.id, fresh.id) is None
    assert repos.images.list(owner.id, ImageQuery()) == ([existing], 1, True)
    assert repos.images.list(owner.id, ImageQuery(tags=("a", "b"))) == ([], 0, True)
    with pytest.raises(Conflict):  # an owner that does not exist
        repos.images.add_many([make_image(make_user_record())])


def test_list_is_newest_first_and_paged(repos: Repos) -> None:
    owner, other = make_user(repos), make_user(repos)
    batch = [make_image(owner, f"{i}.png") for i in range(5)]
    repos.images.add_many(batch)
    repos.images.add_many([make_image(other)])
    newest_first = ids(batch)[::-1]
    assert page_ids(repos, owner, page=1, limit=2) == (newest_first[:2], 5)
    assert page_ids(repos, owner, page=2, limit=2) == (newest_first[2:4], 5)
    assert page_ids(repos, owner, page=3, limit=2) == (newest_first[4:], 5)
    assert page_ids(repos, owner, page=4, limit=2) == ([], 5)
    assert page_ids(repos, owner, page=1, limit=20) == (newest_first, 5)


def test_every_page_matches_slicing_whichever_end_it_is_counted_from(repos: Repos) -> None:
    """Pages in the older half are read oldest-first and turned round: each one must still be
    exactly its slice of the newest-first list, with or without the peeked extra row."""
    owner = make_user(repos)
    batch = [make_image(owner, f"{i}.png", tags=("t",) if i % 3 else ()) for i in range(11)]
    repos.images.add_many(batch)
    everything = ids(batch)[::-1]
    tagged = [image.id for image in batch if image.tags][::-1]
    for limit in (1, 2, 3, 4, 11, 12):
        for page in range(1, 13 // limit + 3):
            start = (page - 1) * limit
            for peek in (False, True):
                want = everything[start : start + limit + peek]
                q = ImageQuery(page=page, limit=limit, peek=peek)
                assert ids(repos.images.list(owner.id, q)[0]) == want, (limit, page, peek)
                q = ImageQuery(page=page, limit=limit, peek=peek, tags=("t",))
                got = ids(repos.images.list(owner.id, q)[0])
                assert got == tagged[start : start + limit + peek], (limit, page, peek)


def test_keyset_pages_stay_put_while_images_come_and_go(repos: Repos) -> None:
    """``after_id`` continues after the last image seen: an upload or a delete between two
    requests neither repeats nor skips anything (offsets would do both)."""
    owner, other = make_user(repos), make_user(repos)
    batch = [make_image(owner, f"{i}.png") for i in range(7)]
    repos.images.add_many(batch)
    repos.images.add_many([make_image(other)])
    newest_first = ids(batch)[::-1]

    first, total, _ = repos.images.list(owner.id, ImageQuery(limit=3, peek=True))
    assert ids(first) == newest_first[:4] and total == 7  # one more row: another page follows
    repos.images.add_many([make_image(owner, "new.png")])  # newer than everything
    assert repos.images.delete_and_refund(owner.id, newest_first[0]) is not None
    after = newest_first[2]
    second, total, _ = repos.images.list(owner.id, ImageQuery(limit=3, after_id=after, page=9))
    assert ids(second) == newest_first[3:6] and total == 7  # page is ignored; 7 - 1 + 1
    last, _, _ = repos.images.list(owner.id, ImageQuery(limit=3, after_id=newest_first[5]))
    assert ids(last) == newest_first[6:]
    # Another user's id as a cursor only positions within the caller's own images.
    theirs = repos.images.list(other.id, ImageQuery())[0][0].id
    mine, _, _ = repos.images.list(owner.id, ImageQuery(after_id=theirs))
    assert ids(mine) == newest_first[1:]


def test_the_unfiltered_total_is_a_counter_kept_with_the_rows(repos: Repos) -> None:
    owner = make_user(repos)
    repos.images.add_many([make_image(owner) for _ in range(3)])
    clash = make_image(
        owner, storage_key=repos.images.list(owner.id, ImageQuery())[0][0].storage_key
    )
    with pytest.raises(Conflict):  # a failed insert counts nothing
        repos.images.add_many([make_image(owner), clash])
    assert repos.images.list(owner.id, ImageQuery())[1] == 3
    first = repos.images.list(owner.id, ImageQuery())[0][0]
    repos.images.delete_and_refund(owner.id, first.id)
    repos.images.delete_and_refund(owner.id, first.id)  # the loser of a race refunds nothing
    assert repos.images.list(owner.id, ImageQuery())[1] == 2


def test_filtered_totals_stop_counting_past_the_cap(
    repos: Repos, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paging, "COUNT_CAP", 4)
    owner = make_user(repos)
    repos.images.add_many([make_image(owner, f"cat {i}.png", tags=("cat",)) for i in range(7)])
    assert repos.images.list(owner.id, ImageQuery(search="cat"))[1:] == (5, False)  # "more"
    repos.images.add_many([make_image(owner, f"dog {i}.png", tags=("dog",)) for i in range(2)])
    assert repos.images.list(owner.id, ImageQuery(tags=("cat", "dog")))[1:] == (5, False)
    # One tag alone: a counter, exact at any size.
    assert repos.images.list(owner.id, ImageQuery(tags=("cat",)))[1:] == (7, True)
    assert repos.images.list(owner.id, ImageQuery(search="cat 3"))[1:] == (1, True)
    assert repos.images.list(owner.id, ImageQuery())[1:] == (9, True)  # the counter is exact


def test_tag_filter_matches_any_tag_once(repos: Repos) -> None:
    owner, other = make_user(repos), make_user(repos)
    both = make_image(owner, tags=("cat", "dog"))
    cat = make_image(owner, tags=("cat",))
    bird = make_image(owner, tags=("bird",))
    untagged = make_image(owner)
    repos.images.add_many([both, cat, bird, untagged])
    repos.images.add_many([make_image(other, tags=("cat",))])
    assert page_ids(repos, owner, tags=("cat", "dog")) == ([cat.id, both.id], 2)
    assert page_ids(repos, owner, tags=("bird", "fish")) == ([bird.id], 1)
    assert page_ids(repos, owner, tags=("fish",)) == ([], 0)
    items, _, _ = repos.images.list(owner.id, ImageQuery(tags=("dog",)))
    assert items[0].tags == ("cat", "dog")  # all tags of a match, sorted


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("%", ["100%.png"]),
        ("_", ["a_b.png"]),
        ("\\", ["back\\slash.png"]),
        (".*", ["dot.*star.png"]),
        ("[ab]", []),
        ("STRASSE", ["Straße.png"]),
        (
            "PNG",
            ["Straße.png", "dot.*star.png", "back\\slash.png", "a_b.png", "axb.png", "100%.png"],
        ),
        ("", ["Straße.png", "dot.*star.png", "back\\slash.png", "a_b.png", "axb.png", "100%.png"]),
    ],
)
def test_search_is_a_literal_case_insensitive_substring(
    repos: Repos, term: str, expected: list[str]
) -> None:
    owner = make_user(repos)
    names = ["100%.png", "axb.png", "a_b.png", "back\\slash.png", "dot.*star.png", "Straße.png"]
    repos.images.add_many([make_image(owner, name) for name in names])
    items, total, _ = repos.images.list(owner.id, ImageQuery(search=term))
    assert [image.original_name for image in items] == expected
    assert total == len(expected)


def test_search_and_tags_combine(repos: Repos) -> None:
    owner = make_user(repos)
    hit = make_image(owner, "Red Cat.jpg", tags=("pets",))
    repos.images.add_many([hit, make_image(owner, "red car.jpg"), make_image(owner, "cat.jpg")])
    assert page_ids(repos, owner, tags=("pets", "x"), search="red") == ([hit.id], 1)


def test_update_replaces_tags_and_visibility_for_the_owner_only(repos: Repos) -> None:
    owner, other = make_user(repos), make_user(repos)
    image = make_image(owner, tags=("old", "keep"))
    repos.images.add_many([image])
    assert repos.images.update(other.id, image.id, ImagePatch(is_public=True)) is None
    assert repos.images.update(owner.id, new_id(), ImagePatch(is_public=True)) is None

    tagged = repos.images.update(owner.id, image.id, ImagePatch(tags=("new", "keep", "new")))
    assert tagged is not None
    assert (tagged.tags, tagged.is_public) == (("keep", "new"), False)
    public = repos.images.update(owner.id, image.id, ImagePatch(is_public=True))
    assert public is not None
    assert (public.tags, public.is_public) == (("keep", "new"), True)
    assert repos.images.get(owner.id, image.id) == public
    assert page_ids(repos, owner, tags=("old",)) == ([], 0)
    cleared = repos.images.update(owner.id, image.id, ImagePatch(tags=()))
    assert cleared is not None
    assert cleared.tags == ()


def test_delete_removes_the_row_and_refunds_its_size(repos: Repos) -> None:
    owner, other = make_user(repos), make_user(repos)
    image = make_image(owner, size=300, tags=("x",))
    repos.users.reserve_quota(owner.id, 500)
    repos.images.add_many([image])
    assert repos.images.delete_and_refund(other.id, image.id) is None
    assert used_quota(repos, owner) == 500

    assert repos.images.delete_and_refund(owner.id, image.id) == image
    assert used_quota(repos, owner) == 200
    assert repos.images.get(owner.id, image.id) is None
    assert repos.images.get_by_key(image.storage_key) is None
    assert page_ids(repos, owner, tags=("x",)) == ([], 0)
    assert repos.images.delete_and_refund(owner.id, image.id) is None
    assert used_quota(repos, owner) == 200


def test_concurrent_deletes_refund_once(repos: Repos) -> None:
    owner = make_user(repos)
    image = make_image(owner, size=300)
    repos.users.reserve_quota(owner.id, 1000)
    repos.images.add_many([image])
    results = run_threads(8, lambda i: repos.images.delete_and_refund(owner.id, image.id))
    assert [r for r in results if r is not None] == [image]
    assert used_quota(repos, owner) == 700


def test_access_log_is_newest_first_and_goes_with_its_image(repos: Repos) -> None:
    owner = make_user(repos)
    image, other_image = make_image(owner), make_image(owner)
    repos.images.add_many([image, other_image])
    entries = [
        AccessEntry(image.id, NOW + timedelta(seconds=i), purpose, f"10.0.0.{i}")
        for i, purpose in enumerate([Purpose.VIEW, Purpose.DOWNLOAD, Purpose.VIEW])
    ]
    for entry in entries:
        repos.images.add_access(entry)
    repos.images.add_access(AccessEntry(other_image.id, NOW, Purpose.VIEW, "::1"))

    assert repos.images.list_access(image.id, 1, 2) == (entries[:0:-1], 3)
    assert repos.images.list_access(image.id, 2, 2) == (entries[:1], 3)
    assert repos.images.list_access(new_id(), 1, 10) == ([], 0)
    with pytest.raises(NotFound):
        repos.images.add_access(AccessEntry(new_id(), NOW, Purpose.VIEW, "::1"))

    repos.images.delete_and_refund(owner.id, image.id)
    assert repos.images.list_access(image.id, 1, 10) == ([], 0)
    assert repos.images.list_access(other_image.id, 1, 10)[1] == 1


def test_ping_answers(repos: Repos) -> None:
    repos.ping()
    repos.images.ping()


# --- SQL only ----------------------------------------------------------------------------


def test_unreachable_sqlite_is_unavailable(tmp_path: Path) -> None:
    db = SqlDatabase(make_engine(f"sqlite:///{tmp_path}"))  # a directory cannot be opened
    try:
        with pytest.raises(Unavailable):
            db.ping()
        with pytest.raises(Unavailable):
            db.image_repo.ping()
        with pytest.raises(Unavailable):
            db.user_repo.get(new_id())
    finally:
        db.close()
