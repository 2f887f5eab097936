"""Gallery filters on every metadata adapter: name search stays a literal, case-insensitive,
owner-scoped substring match whatever index serves it (SQLite: FTS5 trigrams; PostgreSQL:
pg_trgm), and a one-tag filter's total (a counter) follows every change of tags."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixvault.core.models import ImageQuery, User
from pixvault.core.ports import ImagePatch
from pixvault.metadata import search
from tests.contract.metadata_support import (
    ADAPTERS,
    Repos,
    ids,
    make_image,
    make_user,
    open_repos,
    page_ids,
)

# Names full of what FTS5 and LIKE would read as syntax, plus near-misses of each.
TRICKY = [
    '"a" OR b.png',
    "a OR b.png",
    "NEAR(sun sea).jpg",
    "sun sea.jpg",
    "ca*t.png",
    "cat.png",
    "it's.png",
    'say "hi".png',
    "100%.png",
    "100x.png",
    "snake_case.png",
    "snakeXcase.png",
    "^start.png",
    "col:umn.png",
    "(paren).png",
    "back\\slash.png",
    "ÉTÉ Straße.png",
]


@pytest.fixture(params=ADAPTERS)
def repos(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repos]:
    with open_repos(request.param, request, tmp_path) as adapter:
        yield adapter


def names_found(repos: Repos, owner: User, term: str) -> tuple[list[str], int]:
    items, total, _ = repos.images.list(owner.id, ImageQuery(limit=100, search=term))
    return sorted(image.original_name for image in items), total


def reference(names: list[str], term: str) -> list[str]:
    """What name search means: the case-folded term inside the case-folded name."""
    return sorted(name for name in names if term.casefold() in name.casefold())


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ('"a" OR b', ['"a" OR b.png']),
        ("a OR b", ["a OR b.png"]),
        ("NEAR(sun sea)", ["NEAR(sun sea).jpg"]),
        ("ca*", ["ca*t.png"]),
        ("ca*t", ["ca*t.png"]),
        ("it's", ["it's.png"]),
        ('"hi"', ['say "hi".png']),
        ('y "h', ['say "hi".png']),
        ("0%.", ["100%.png"]),
        ("e_c", ["snake_case.png"]),
        ("^st", ["^start.png"]),
        ("col:", ["col:umn.png"]),
        ("(paren)", ["(paren).png"]),
        ("k\\s", ["back\\slash.png"]),
        ("été strasse", ["ÉTÉ Straße.png"]),
        ('"', ['"a" OR b.png', 'say "hi".png']),
        ("*", ["ca*t.png"]),
        ("'s", ["it's.png"]),
    ],
)
def test_search_syntax_of_sql_and_fts_is_literal(
    repos: Repos, term: str, expected: list[str]
) -> None:
    owner = make_user(repos)
    repos.images.add_many([make_image(owner, name) for name in TRICKY])
    assert names_found(repos, owner, term) == (expected, len(expected))
    assert expected == reference(TRICKY, term)  # the table above is what search means


def test_search_equals_a_substring_scan_on_a_mixed_set(repos: Repos) -> None:
    """Many names and terms (1 to 8 characters, so both the indexed path and the short-term
    path on SQLite) against the plain definition; another owner's names never leak."""
    rng = random.Random(7)
    alphabet = "abcAB_%' \"*.ßé0"
    names = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(3, 12))) for _ in range(60)]
    owner, other = make_user(repos), make_user(repos)
    repos.images.add_many([make_image(owner, name) for name in names])
    repos.images.add_many([make_image(other, name) for name in names[:20]])
    terms = {name[i : i + n] for name in names for n in (1, 2, 3, 5, 8) for i in (0, 1)}
    terms |= {"zzz", "ss", "SS", "ß", "é0", "*.", '" '}
    terms = {term.strip() for term in terms if term.strip()}
    for term in sorted(terms):
        want = reference(names, term)
        assert names_found(repos, owner, term) == (want, len(want)), term


def test_many_matches_page_the_same_whichever_way_they_are_found(
    repos: Repos, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``NARROW_MAX`` matches SQLite walks the owner's images instead of gathering the
    index's candidates: the pages, their order and the totals are the same."""
    owner = make_user(repos)
    batch = [make_image(owner, f"beach {i:02d}.jpg") for i in range(9)]
    batch += [make_image(owner, f"other {i}.jpg") for i in range(4)]
    random.Random(3).shuffle(batch)  # inserted out of id order: the index's order is not
    repos.images.add_many(batch)  # the gallery's
    hits = sorted((i.id for i in batch if "beach" in i.original_name), reverse=True)

    def pages() -> list[tuple[list[str], int]]:
        return [page_ids(repos, owner, page=n, limit=4, search="each") for n in (1, 2, 3)]

    expected = [(hits[0:4], 9), (hits[4:8], 9), (hits[8:], 9)]
    assert pages() == expected
    monkeypatch.setattr(search, "NARROW_MAX", 2)
    assert pages() == expected


def test_a_new_name_is_found_and_a_deleted_one_is_not(repos: Repos) -> None:
    owner = make_user(repos)
    first = make_image(owner, "Lighthouse at dusk.jpg")
    repos.images.add_many([first, make_image(owner, "harbour.jpg")])
    assert names_found(repos, owner, "lighthouse") == (["Lighthouse at dusk.jpg"], 1)
    second = make_image(owner, "lighthouse again.jpg")
    repos.images.add_many([second])
    assert names_found(repos, owner, "LIGHTHOUSE")[1] == 2
    assert repos.images.delete_and_refund(owner.id, first.id) is not None
    assert names_found(repos, owner, "lighthouse") == (["lighthouse again.jpg"], 1)
    repos.images.add_many([make_image(owner, "Lighthouse at dusk.jpg")])  # the same name again
    assert names_found(repos, owner, "at dusk") == (["Lighthouse at dusk.jpg"], 1)


def test_search_combined_with_tags(repos: Repos) -> None:
    owner = make_user(repos)
    red = make_image(owner, "red lighthouse.jpg", tags=("sea",))
    blue = make_image(owner, "blue lighthouse.jpg", tags=("sky", "sea"))
    repos.images.add_many([red, blue, make_image(owner, "lighthouse.jpg", tags=("land",))])
    assert page_ids(repos, owner, tags=("sea",), search="lighthouse") == ([blue.id, red.id], 2)
    found = page_ids(repos, owner, tags=("sky", "fog"), search="hous")
    assert found == ([blue.id], 1)
    assert page_ids(repos, owner, tags=("land",), search="red") == ([], 0)


def tag_total(repos: Repos, owner: User, tag: str) -> int:
    return repos.images.list(owner.id, ImageQuery(tags=(tag,)))[1]


def test_a_tags_total_follows_uploads_edits_and_deletes(repos: Repos) -> None:
    owner, other = make_user(repos), make_user(repos)
    batch = [make_image(owner, tags=("cat",)) for _ in range(3)]
    batch += [make_image(owner, tags=("cat", "dog"))]
    repos.images.add_many(batch)
    repos.images.add_many([make_image(other, tags=("cat",))])
    assert (tag_total(repos, owner, "cat"), tag_total(repos, owner, "dog")) == (4, 1)
    assert tag_total(repos, other, "cat") == 1

    repos.images.update(owner.id, batch[0].id, ImagePatch(tags=("dog", "bird")))
    assert [tag_total(repos, owner, t) for t in ("cat", "dog", "bird")] == [3, 2, 1]
    repos.images.update(owner.id, batch[0].id, ImagePatch(tags=("dog", "bird")))  # no change
    assert [tag_total(repos, owner, t) for t in ("cat", "dog", "bird")] == [3, 2, 1]
    repos.images.delete_and_refund(owner.id, batch[3].id)
    assert [tag_total(repos, owner, t) for t in ("cat", "dog", "bird")] == [2, 1, 1]
    repos.images.update(owner.id, batch[0].id, ImagePatch(tags=()))
    assert [tag_total(repos, owner, t) for t in ("cat", "dog", "bird")] == [2, 0, 0]
    assert tag_total(repos, owner, "never") == 0
    # Each total equals what the page lists.
    items, total, _ = repos.images.list(owner.id, ImageQuery(tags=("cat",)))
    assert total == len(items) == 2 and ids(items) == [batch[2].id, batch[1].id]
