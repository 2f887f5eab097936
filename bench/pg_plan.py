"""Do the gallery queries use the PostgreSQL indexes? ``python -m bench.pg_plan`` shows it.

Creates a throwaway database on the local server (``PIXVAULT_BENCH_PG_ADMIN_URL``, default
``postgresql://postgres@127.0.0.1:5432/postgres``), migrates it with the app's own upgrade,
seeds ~30,000 images (20,000 of them one user's, the rest spread over 49 others) with tags
and an access log, runs VACUUM ANALYZE, then prints ``EXPLAIN (ANALYZE, BUFFERS)`` for the SQL
the repos really send (captured with ``before_cursor_execute`` while calling them) and a
one-line summary per query. The database is dropped at the end, also on errors.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from pixvault.core.keys import new_id, storage_key
from pixvault.core.models import Image, ImageQuery, ImageStatus
from pixvault.metadata.engine import make_engine
from pixvault.metadata.migrate import upgrade
from pixvault.metadata.repos import SqlDatabase
from pixvault.metadata.schema import access_log

ADMIN_URL = os.environ.get(
    "PIXVAULT_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
USERS = 50
MAIN_IMAGES = 20_000
OTHER_IMAGES = 200  # per other user
WORDS = (  # noqa: SIM905 (a word list reads better as words)
    "holiday beach birthday cat dog sunset mountain city family party snow forest river "
    "garden portrait street night food concert wedding"
).split()
TAGS = [f"tag{i:02d}" for i in range(40)] + ["sunset", "dog"]
NOW = datetime(2025, 6, 1, tzinfo=UTC)
PARTS = ("count", "page", "tags of page")  # the order the repo sends its statements
_rng = random.Random(42)


@contextmanager
def temporary_database() -> Iterator[str]:
    """A new database on the admin URL's server, dropped (WITH FORCE) on exit."""
    libpq = make_url(ADMIN_URL).set(drivername="postgresql")
    name = f"pixvault_bench_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield libpq.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _image(owner_id: str, n: int) -> Image:
    image_id = new_id()
    name = f"{_rng.choice(WORDS)} {_rng.choice(WORDS)} IMG_{n:05d}.jpg"
    # Zipf-ish: a few tags are common, most rare; a quarter of images have none.
    tags = {TAGS[min(int(_rng.paretovariate(1.2)) - 1, len(TAGS) - 1)] for _ in range(3)}
    return Image(
        id=image_id,
        owner_id=owner_id,
        storage_key=storage_key(owner_id, image_id, "jpg"),
        original_name=name,
        content_type="image/jpeg",
        size=1000,
        width=100,
        height=100,
        md5="0" * 32,
        sha256="f" * 64,
        tags=tuple(tags) if _rng.random() > 0.25 else (),
        is_public=False,
        status=ImageStatus.READY,
        uploaded_at=NOW,
    )


def seed(db: SqlDatabase) -> tuple[str, str, str, str]:
    """Users, images and views; returns the main user, a user of 200 images, the most viewed
    image (5,000 views) and an image of 20 views."""
    owners = []
    for i in range(USERS):
        owner_id = new_id()
        db.user_repo.create(
            user_id=owner_id,
            email=f"u{i}@example.com",
            password_hash="x",
            quota_limit=1 << 40,
            now=NOW,
        )
        owners.append(owner_id)
    main = owners[0]
    # Interleave owners in batches so the table is not sorted by owner (as in real life).
    plan = [main] * MAIN_IMAGES + [o for o in owners[1:] for _ in range(OTHER_IMAGES)]
    _rng.shuffle(plan)
    main_ids: list[str] = []
    for start in range(0, len(plan), 2000):
        batch = [_image(owner, start + k) for k, owner in enumerate(plan[start : start + 2000])]
        db.image_repo.add_many(batch)
        main_ids += [image.id for image in batch if image.owner_id == main]
    hot = main_ids[len(main_ids) // 2]
    viewed = [hot] * 5000 + [i for i in _rng.sample(main_ids, 400) for _ in range(20)]
    _rng.shuffle(viewed)  # views of one image are spread over time, not in one burst
    rows = [
        {
            "image_id": image_id,
            "accessed_at": NOW + timedelta(seconds=k),
            "purpose": "view",
            "ip": "10.0.0.1",
        }
        for k, image_id in enumerate(viewed)
    ]
    with db.engine.begin() as conn:
        conn.execute(access_log.insert(), rows)
    return main, owners[1], hot, viewed[-1] if viewed[-1] != hot else viewed[-2]


def capture(engine: Engine, call: Callable[[], object]) -> list[tuple[str, Any]]:
    """The (SQL, parameters) pairs ``call`` sends through ``engine``."""
    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]


def explain(engine: Engine, statement: str, params: Any) -> str:
    query = "EXPLAIN (ANALYZE, BUFFERS) " + statement
    with engine.connect() as conn:
        conn.exec_driver_sql(query, params).all()  # warm-up: report the steady state
        return "\n".join(row[0] for row in conn.exec_driver_sql(query, params))


_ACCESS = re.compile(
    r"(Index Only Scan(?: Backward)?|Index Scan(?: Backward)?) using (\w+)"
    r"|Bitmap Index Scan on (\w+)|Seq Scan on (\w+)"
)


def summary(label: str, plan: str) -> str:
    """``label  ms  access paths``: which indexes (or sequential scans) the plan reads."""
    paths = []
    for scan, index, bitmap, table in _ACCESS.findall(plan):
        if scan:
            paths.append(f"{scan} {index}")
        elif bitmap:
            paths.append(f"Bitmap Index Scan {bitmap}")
        else:
            paths.append(f"SEQ SCAN {table}")
    found = re.search(r"Execution Time: ([\d.]+) ms", plan)
    ms = float(found.group(1)) if found else float("nan")
    return f"{label:44} {ms:8.3f} ms  {'; '.join(dict.fromkeys(paths))}"


def main() -> None:
    started = time.perf_counter()
    with temporary_database() as url:
        upgrade(url)
        db = SqlDatabase(make_engine(url))
        try:
            main_id, small_id, hot, cold = seed(db)
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE)")  # stats, and the visibility map
            seeded = time.perf_counter() - started
            print(f"seeded {MAIN_IMAGES + (USERS - 1) * OTHER_IMAGES} images in {seeded:.1f} s")
            engine = db.engine

            def gallery(owner: str = main_id, **query: Any) -> Callable[[], object]:
                return lambda: db.image_repo.list(owner, ImageQuery(**query))

            cases: list[tuple[str, Callable[[], object]]] = [
                ("newest first", gallery(limit=50)),
                ("newest first, user of 200", gallery(small_id, limit=50)),
                ("deep page 200", gallery(page=200, limit=50)),
                ("tags sunset|dog (rare)", gallery(limit=50, tags=("sunset", "dog"))),
                ("tag tag00 (common)", gallery(limit=50, tags=("tag00",))),
                ("search 'beach' (common)", gallery(limit=50, search="beach")),
                ("search 'beach', user of 200", gallery(small_id, limit=50, search="beach")),
                ("search 'img_01234' (rare)", gallery(limit=50, search="IMG_01234")),
                ("search 'ca' (2 chars)", gallery(limit=50, search="ca")),
                ("access log, 5000 views", lambda: db.image_repo.list_access(hot, 1, 50)),
                ("access log, 20 views", lambda: db.image_repo.list_access(cold, 1, 50)),
            ]
            lines: list[str] = []
            for label, call in cases:
                statements = capture(engine, call)
                for (statement, params), part in zip(statements, PARTS, strict=False):
                    plan = explain(engine, statement, params)
                    print(f"\n=== {label}: {part} ===\n{statement}\n-- {params}\n{plan}")
                    lines.append(summary(f"{label}: {part}", plan))
            print("\n=== summary ===")
            print("\n".join(lines))
        finally:
            db.close()


if __name__ == "__main__":
    main()
