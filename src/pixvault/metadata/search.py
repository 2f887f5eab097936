"""The gallery's filters as SQL: name search through an index on both backends, and filtered
totals that cost a lookup rather than a count where the schema keeps one.

Name search means exactly one thing everywhere: ``search_name LIKE '%term%' ESCAPE '\\'`` on
the case-folded name (``rules.search_key``), owner-scoped. The LIKE is always in the query and
decides; an index only narrows the rows it is tried on:

- PostgreSQL: its planner uses the pg_trgm GIN index (migration 0002) for that LIKE itself.
- SQLite: the LIKE alone scans every row of the owner (100,000 rows: ~100-200 ms), so terms of
  3+ characters first look up candidates in the FTS5 trigram table (``schema.SEARCH_DDL``) as
  one quoted phrase, which in a trigram index is a substring match. Shorter terms have no
  trigram to look up; they keep the LIKE over the owner's rows (such terms match most names,
  so a page stops early; the count stops at the cap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Connection

from pixvault.core import paging
from pixvault.metadata import rules
from pixvault.metadata.schema import image_tags, images, tag_counts, users

MIN_INDEXED = 3
"""The trigram tokenizer indexes runs of 3 characters; a shorter phrase matches nothing."""
NARROW_MAX = 2_000
"""SQLite: up to this many matches, a page is picked from the index's candidates (all of them
are gathered first); beyond it, matches are dense enough that walking the owner's images
newest first and testing each name finds a page sooner (page 1 of "img" over 100,000 names:
~400 ms from 100,000 candidates, ~1 ms walking)."""

_names = sa.table(
    "image_names", sa.column("seq"), sa.column("image_id"), sa.column("owner_id"), sa.column("name")
)
_fts = sa.table("image_names_fts", sa.column("rowid"), sa.column("image_names_fts"))


def fts_phrase(term: str) -> str:
    """An FTS5 query for ``term`` as one literal string: inside double quotes nothing is
    syntax (OR, NEAR, *, ^, parentheses) but the double quote, which is written twice."""
    return '"' + term.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Filter:
    """One gallery query's tag and name conditions for one owner, on one backend."""

    dialect: str
    owner_id: str
    tags: tuple[str, ...]
    term: str

    @property
    def _key(self) -> str:
        return rules.search_key(self.term)

    @property
    def _indexed(self) -> bool:
        """Whether SQLite's trigram table can find this term's candidates."""
        return self.dialect == "sqlite" and len(self._key) >= MIN_INDEXED

    def _like(self, column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        return column.like(rules.like_pattern(self._key), escape="\\")

    @property
    def _one_tag(self) -> bool:
        return len(set(self.tags)) == 1 and not self.term

    @property
    def key(self) -> sa.ColumnElement[str]:
        """The image-id column a page is picked by: for one tag alone the tag index's own (a
        page is then one walk of that index, nothing gathered first), else ``images.id``."""
        return image_tags.c.image_id if self._one_tag else images.c.id

    def _tagged(self) -> sa.Select[Any]:
        return sa.select(image_tags.c.image_id).where(
            image_tags.c.owner_id == self.owner_id, image_tags.c.tag.in_(set(self.tags))
        )

    def _has_tag(self, image_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
        """Per row, by the (image_id, tag) key: cheap when a name search already picked few
        rows, where ``IN (tagged)`` would first gather every tagged image."""
        tag = image_tags.c
        return sa.exists().where(tag.image_id == image_id, tag.tag.in_(set(self.tags)))

    def where(self, total: int) -> list[sa.ColumnElement[bool]]:
        """Conditions for a page (on the table of ``key``), knowing the ``total`` counted."""
        if self._one_tag:
            tag = image_tags.c
            return [tag.owner_id == self.owner_id, tag.tag == self.tags[0]]
        found: list[sa.ColumnElement[bool]] = [images.c.owner_id == self.owner_id]
        if self.tags and not self.term:
            found.append(images.c.id.in_(self._tagged()))
        elif self.tags:
            found.append(self._has_tag(images.c.id))
        if self.term:
            # The LIKE decides what matches; the index only says where to try it.
            found.append(self._like(images.c.search_name))
            if self._indexed and total <= NARROW_MAX:
                found.append(images.c.id.in_(self._candidates()))
        return found

    def _candidates(self) -> sa.Select[Any]:
        """The owner's names containing the term, driven by the trigram index (lazily, in
        index order, so a LIMIT above it stops the lookup early)."""
        matching = _fts.c.image_names_fts.op("MATCH")(fts_phrase(self._key))
        return (
            sa.select(_names.c.image_id)
            .select_from(_fts.join(_names, _names.c.seq == _fts.c.rowid))
            .where(matching, _names.c.owner_id == self.owner_id, self._like(_names.c.name))
        )

    def total_query(self) -> tuple[sa.Select[Any], bool]:
        """The query for a page's ``total``, and whether its answer is exact whatever its size.

        Counters where the schema keeps them (all images: ``users.image_count``; one tag:
        ``tag_counts``); otherwise a count that stops one past ``paging.COUNT_CAP``, over an
        index alone where one answers (tags only: image_tags; SQLite names: the trigrams).
        """
        cap = paging.COUNT_CAP + 1
        if not self.tags and not self.term:
            return sa.select(users.c.image_count).where(users.c.id == self.owner_id), True
        if not self.term:
            if self._one_tag:
                one = tag_counts.c
                counter = sa.select(one.image_count).where(
                    one.owner_id == self.owner_id, one.tag == self.tags[0]
                )
                return counter, True
            matches = self._tagged().distinct().limit(cap)
        elif self._indexed:
            matches = self._candidates()
            if self.tags:
                matches = matches.where(self._has_tag(_names.c.image_id))
            matches = matches.limit(cap)
        else:
            matches = sa.select(images.c.id).where(*self.where(total=cap)).limit(cap)
        return sa.select(sa.func.count()).select_from(matches.subquery()), False


def check_sqlite_index(conn: Connection, *, repair: bool) -> int:
    """How many images SQLite's name index has wrong (a missing, extra or stale
    ``image_names`` row, or an FTS index out of step with it: counted as every row); with
    ``repair``, set ``image_names`` right and rebuild the FTS index from it.

    Triggers keep both in every write, so drift means a hand edit, a bug, or a restore of a
    partial copy; the check reads every row (~0.5 s per 100,000 images)."""
    names = sa.table("image_names", *(sa.column(c) for c in ("image_id", "owner_id", "name")))
    wrong = sa.or_(
        names.c.image_id.is_(None),
        names.c.owner_id.is_distinct_from(images.c.owner_id),
        names.c.name.is_distinct_from(images.c.search_name),
    )
    joined = images.outerjoin(names, names.c.image_id == images.c.id)
    stale_rows = sa.select(images.c.id).select_from(joined).where(wrong)
    extra_rows = sa.select(names.c.image_id).where(
        ~sa.exists().where(images.c.id == names.c.image_id)
    )
    found = len(conn.execute(stale_rows.union(extra_rows)).all())
    try:
        # 'integrity-check' with rank 1 also compares the index with its content table.
        conn.exec_driver_sql(
            "INSERT INTO image_names_fts (image_names_fts, rank) VALUES ('integrity-check', 1)"
        )
    except exc.DatabaseError:
        found = found or int(
            conn.execute(sa.select(sa.func.count()).select_from(images)).scalar_one()
        )
    if repair and found:
        conn.exec_driver_sql(
            "DELETE FROM image_names WHERE image_id NOT IN (SELECT id FROM images) OR "
            "image_id IN (SELECT id FROM images WHERE images.id = image_names.image_id AND "
            "(images.owner_id IS NOT image_names.owner_id OR "
            "images.search_name IS NOT image_names.name))"
        )
        conn.exec_driver_sql(
            "INSERT INTO image_names (image_id, owner_id, name) "
            "SELECT id, owner_id, search_name FROM images "
            "WHERE id NOT IN (SELECT image_id FROM image_names) ORDER BY id"
        )
        conn.exec_driver_sql("INSERT INTO image_names_fts (image_names_fts) VALUES ('rebuild')")
    return found
