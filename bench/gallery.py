"""Gallery listing with 100,000 images, through a real ``pixvault serve``, with ``wrk`` (issue
10, benchmark 2 "Gallery").

``python -m bench.gallery`` (also run by ``make bench``). Per database (SQLite, then
PostgreSQL): a fresh server with an empty data folder (and, for PostgreSQL, a database of its
own on 127.0.0.1:5432, created here, migrated by the server at start, dropped at the end); the
bench user signs up through the API; then 100,000 image rows are written straight into the
database through the app's own repo (``SqlImageRepo.add_many``, 5,000 rows a transaction, so
every column the repo derives stays consistent) and the user's ``quota_used`` set to their
sum. No blob is written: a gallery page signs its links without touching the store.

Rows, each ``GET /api/images/user?limit=20...`` as the bench user: page 1, the middle page,
page 5,000 and the last page (one row when they coincide: 100,000 / 20 = 5,000), ``tags=beach``
(10 % of the images), ``search=lighthouse`` (25 images of 100,000), and ``?cursor=`` from the
``nextCursor`` of the middle page's answer (n/a if the answer has none). The baseline is
``bench.bare_app``: a bare FastAPI app run like ``pixvault serve`` that returns the bytes of
this server's real page-1 answer from memory. ``wrk -t2 -c32 --latency``, ``WRK_SECONDS`` a
run, every row (and the baseline) once per round in turns, ``ROUNDS`` rounds after a short
warm-up of each; medians. Everything stays on 127.0.0.1. Then the best configuration on this
machine: SQLite again with pixvault's default of one process per core (``--workers``) against
the baseline with as many, for page 1, the tag filter and the search.

``query ms``: the row's ``SqlImageRepo.list`` call alone (count, page, tags; what the database
costs without HTTP), in this process on the same database, median of ``QUERY_RUNS`` after the
wrk runs; with ``search=img``, a term in every name, for the broadest search.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from bench import bare_app, live

IMAGES = 100_000
LIMIT = 20
BATCH = 5_000
"""Rows per ``add_many`` call (one transaction, one executemany)."""
TAG = "beach"
TAGGED = 0.10
"""Share of the images tagged ``TAG``; another ``OTHER_TAGGED`` get one of ``OTHER_TAGS``."""
OTHER_TAGS = ("family", "2019", "holiday", "cat")
OTHER_TAGGED = 0.20
SEARCH = "lighthouse"
SEARCH_HITS = 25
"""Images named ``Lighthouse nnnnnn.jpg``, spread evenly over the 100,000 (the rest are
``IMG_nnnnnn.jpg``)."""
DEEP_PAGE = 5_000
CONNECTIONS = 32
THREADS = 2
WRK_SECONDS = 3.0
WARMUP_SECONDS = 1.0
ROUNDS = 2
"""Two databases x 7 targets x (2 x 3 s + 1 s) plus populating, then SQLite again with one
process per core x 4 targets: about 4 minutes on a slow 2-core machine."""
QUERY_RUNS = 30
BROAD = "img"
"""A term in all 100,000 names (timed as a query only: the count stops at its cap)."""
BEST_ROWS = (f"tags={TAG}", f"search={SEARCH}")
"""With one process per core (pixvault's default) only page 1 and these are measured again."""
FEW = 200
"""Fewer requests than this in a run: its p99 is little more than its slowest request."""
PATH = bare_app.PATH
PLACEHOLDER = "1QcSHQRnh493V4dIh4eXh1h4kJUI"
"""A ThumbHash of the size real rows carry (the gallery answer includes it)."""

_RATE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_ERRORS = re.compile(r"Socket errors:.*")
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([0-9.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True, slots=True)
class Sample:
    """One wrk run."""

    rate: float
    p50: float
    """Milliseconds."""
    p99: float


@dataclass
class Target:
    """One measured row: a URL on one of the two servers, and its runs."""

    name: str
    url: str
    deep: bool = False
    """Compared with page 1 (p50 over page 1's p50)."""
    samples: list[Sample] = field(default_factory=list)
    error: str = ""
    params: dict[str, str | int] | None = None
    """The gallery parameters, to time the repo query alone (None: not a pixvault row)."""
    query_ms: float | None = None

    def median(self, attr: str) -> float:
        values: list[float] = [getattr(s, attr) for s in self.samples]
        return statistics.median(values)


@dataclass
class Result:
    title: str
    targets: list[Target]
    notes: list[str]


def wrk(url: str, token: str, seconds: float) -> Sample:
    """``wrk -t2 -c32 --latency`` with the bench user's bearer token (sent to the baseline too,
    so both get the same request bytes); a non-2xx answer or socket error is ``Skipped``."""
    args = [live.wrk_path(), f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s"]
    args += ["--timeout", "10s", "--latency", "-H", f"Authorization: Bearer {token}", url]
    try:
        out = subprocess.run(
            args, capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    except subprocess.SubprocessError as exc:
        raise live.Skipped(f"wrk failed: {exc}") from None
    if (bad := _NON_2XX.search(out)) is not None:
        raise live.Skipped(f"{bad.group(1)} non-2xx answers")
    if (errors := _ERRORS.search(out)) is not None:
        raise live.Skipped(f"wrk: {errors.group(0)}")
    rate = _RATE.search(out)
    found = {p: float(v) * _UNIT_MS[unit] for p, v, unit in _PERCENTILE.findall(out)}
    if rate is None or set(found) != {"50", "99"}:
        raise live.Skipped(f"cannot read wrk's output: {out[-300:]!r}")
    return Sample(float(rate.group(1)), found["50"], found["99"])


# --- data -------------------------------------------------------------------------------------


def populate(database_url: str, email: str) -> list[str]:
    """``IMAGES`` ready JPEG rows for the user of ``email``, newest last; their ids, newest
    first (the gallery's order)."""
    import sqlalchemy as sa

    from pixvault.core import keys
    from pixvault.core.models import Image, ImageStatus, PhotoMetadata
    from pixvault.metadata.engine import MAINTENANCE, make_engine, transaction
    from pixvault.metadata.repos import SqlDatabase
    from pixvault.metadata.schema import users

    rng = random.Random(10)
    hits = {round((k + 0.5) * IMAGES / SEARCH_HITS) for k in range(SEARCH_HITS)}
    photo = PhotoMetadata(
        camera_make="Canon", camera_model="EOS R6", exposure="1/250", iso=200, focal_length=35.0
    )
    engine = make_engine(database_url, timeouts=MAINTENANCE)
    database = SqlDatabase(engine)
    try:
        with engine.connect() as conn:
            owner = conn.execute(sa.select(users.c.id).where(users.c.email == email)).scalar_one()
        ids: list[str] = []
        total = 0
        for start in range(0, IMAGES, BATCH):
            batch = []
            for n in range(start, min(start + BATCH, IMAGES)):
                image_id = keys.new_id()  # time-ordered: the gallery lists by id, newest first
                uploaded = datetime.fromtimestamp(keys.id_time(image_id), UTC)
                draw = rng.random()
                tags = (TAG,) if draw < TAGGED else ()
                if TAGGED <= draw < TAGGED + OTHER_TAGGED:
                    tags = (rng.choice(OTHER_TAGS),)
                size = rng.randrange(1_500_000, 4_500_000)
                name = f"Lighthouse {n:06d}.jpg" if n in hits else f"IMG_{n:06d}.jpg"
                batch.append(
                    Image(
                        id=image_id,
                        owner_id=owner,
                        storage_key=keys.storage_key(owner, image_id, "jpg"),
                        original_name=name,
                        content_type="image/jpeg",
                        size=size,
                        width=4000,
                        height=3000,
                        md5=rng.randbytes(16).hex(),
                        sha256=rng.randbytes(32).hex(),
                        tags=tags,
                        is_public=False,
                        status=ImageStatus.READY,
                        uploaded_at=uploaded,
                        taken_at=uploaded - timedelta(days=3),
                        photo=photo,
                        placeholder=PLACEHOLDER,
                    )
                )
                ids.append(image_id)
                total += size
            database.image_repo.add_many(batch)
        with transaction(engine, write=True) as conn:
            conn.execute(
                users.update()
                .where(users.c.id == owner)
                .values(quota_used=users.c.quota_used + total)
            )
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "postgresql":
                # What autovacuum would do within a minute anyway (and might do mid-run):
                # planner statistics and the visibility map for index-only scans.
                conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                # The server then reads the main file, not a WAL of the whole import. (No
                # ANALYZE: pixvault never runs it on SQLite, so neither does the bench.)
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        engine.dispose()
    ids.reverse()
    return ids


# --- servers ----------------------------------------------------------------------------------


@contextmanager
def bare_server(body: bytes, work: Path, workers: int = 1) -> Iterator[str]:
    """``bench.bare_app`` serving ``body`` on a free port with ``workers`` processes: its base
    URL; stopped on exit."""
    body_file = work / "page1.json"
    body_file.write_bytes(body)
    port = live.free_port()
    env = {**os.environ, bare_app.BODY_ENV: str(body_file)}
    root = Path(__file__).resolve().parent.parent
    with (work / "bare.log").open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.bare_app",
                *("--port", str(port)),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                tail = (work / "bare.log").read_text(errors="replace")[-300:]
                raise live.Skipped(f"bench.bare_app exited with {proc.returncode}: {tail}")
            try:
                got = httpx.get(base + PATH, timeout=5)
                if got.status_code == 200 and got.content == body:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise live.Skipped("bench.bare_app did not start within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        live.stop(proc)


def _get(client: httpx.Client, **params: str | int) -> dict[str, Any]:
    got = client.get(PATH, params={"limit": LIMIT, **params})
    if got.status_code != 200:
        raise live.Skipped(f"GET {PATH} {params} answered {got.status_code}: {got.text[:200]}")
    answer: dict[str, Any] = got.json()
    return answer


def _next_cursor(answer: dict[str, Any]) -> str | None:
    """``nextCursor`` at the top level or inside ``pagination`` (the API is gaining it)."""
    found = answer.get("nextCursor") or answer.get("pagination", {}).get("nextCursor")
    return str(found) if found else None


def _ids(answer: dict[str, Any]) -> list[str]:
    return [image["id"] for image in answer["images"]]


def _check(answer: dict[str, Any], ids: list[str], offset: int, name: str) -> None:
    """``Skipped`` unless ``answer`` lists the images at ``offset`` of ``ids``, in order."""
    got, want = _ids(answer), ids[offset : offset + LIMIT]
    if got != want:
        where = "in another order" if sorted(got) == sorted(want) else "other images"
        raise live.Skipped(
            f"{name} should list the images at {offset:,} to {offset + LIMIT - 1:,} (newest "
            f"first) but lists {where}: got {got[:2]}..., expected {want[:2]}..."
        )


def plan(server: live.Live, ids: list[str], bare: str) -> tuple[list[Target], list[str]]:
    """The rows (the baseline first), after checking each one's answer once; notes."""
    client = server.client
    notes: list[str] = []
    first = _get(client)
    total, pages = first["pagination"]["total"], first["pagination"]["pages"]
    if total != IMAGES:
        raise live.Skipped(f"page 1 says {total} images, not {IMAGES}")
    _check(first, ids, 0, "page 1")
    if not all(image.get("thumbnailUrl") for image in first["images"]):
        raise live.Skipped("page 1 has images without a thumbnailUrl")
    notes.append(
        f"page 1 answered with {IMAGES:,} rows and no blob stored (links are signed, not "
        f"checked); {len(first['images'])} images, thumbnailUrl on each"
    )

    def url(**params: str | int) -> str:
        return f"{server.base}{PATH}?{urlencode({'limit': LIMIT, **params})}"

    middle = pages // 2
    targets = [Target("bare FastAPI, same JSON", bare + PATH + f"?limit={LIMIT}")]
    targets.append(Target("page 1", url(), params={}))
    deep_pages = [(f"page {middle:,} (middle)", middle)]
    if pages == DEEP_PAGE:
        deep_pages.append((f"page {DEEP_PAGE:,} (= last page)", DEEP_PAGE))
    else:
        deep_pages += [(f"page {DEEP_PAGE:,}", DEEP_PAGE), (f"last page ({pages:,})", pages)]
    middle_answer: dict[str, Any] = {}
    for name, page in deep_pages:
        answer = _get(client, page=page)
        _check(answer, ids, (page - 1) * LIMIT, name)
        middle_answer = middle_answer or answer
        targets.append(Target(name, url(page=page), deep=True, params={"page": page}))

    tagged = _get(client, tags=TAG)
    if len(tagged["images"]) != LIMIT or any(TAG not in i["tags"] for i in tagged["images"]):
        raise live.Skipped(f"tags={TAG} did not answer {LIMIT} images tagged {TAG}")
    notes.append(f"tags={TAG}: total {tagged['pagination']['total']:,} in the answer")
    targets.append(Target(f"tags={TAG}", url(tags=TAG), params={"tags": TAG}))
    found = _get(client, search=SEARCH)
    names = [i["originalName"] for i in found["images"]]
    if len(names) != min(LIMIT, SEARCH_HITS) or any(SEARCH not in n.lower() for n in names):
        raise live.Skipped(f"search={SEARCH} answered {names[:3]}...")
    notes.append(f"search={SEARCH}: total {found['pagination']['total']:,} ({SEARCH_HITS} names)")
    targets.append(Target(f"search={SEARCH}", url(search=SEARCH), params={"search": SEARCH}))

    cursor = _next_cursor(middle_answer)
    label = f"cursor after page {middle:,}"
    if cursor is None:
        notes.append(f"{label}: n/a (no cursor paging: page answers carry no nextCursor)")
    else:
        got = client.get(PATH, params={"limit": LIMIT, "cursor": cursor})
        if got.status_code != 200:
            notes.append(f"{label}: n/a (?cursor= answered {got.status_code}: {got.text[:120]})")
        else:
            try:  # a cursor that pages wrongly is a finding, not a reason to drop the table
                _check(got.json(), ids, middle * LIMIT, label)
                targets.append(
                    Target(label, url(cursor=cursor), deep=True, params={"cursor": cursor})
                )
            except live.Skipped as exc:
                notes.append(f"{label}: n/a ({exc})")
    return targets, notes


def measure(targets: list[Target], token: str) -> None:
    """A warm-up run of each, then ``ROUNDS`` rounds of all in turns (so load from elsewhere
    on the machine falls on every row alike). A row that fails keeps its error, no figures."""
    for target in targets:
        try:
            wrk(target.url, token, WARMUP_SECONDS)
        except live.Skipped as exc:
            target.error = str(exc)
    for _ in range(ROUNDS):
        for target in targets:
            if target.error:
                continue
            try:
                target.samples.append(wrk(target.url, token, WRK_SECONDS))
            except live.Skipped as exc:
                target.error = str(exc)


def time_queries(database_url: str, email: str, targets: list[Target]) -> None:
    """Each pixvault row's repo call alone (plus ``search=BROAD``), as the service makes it."""
    import sqlalchemy as sa

    from pixvault.core import paging
    from pixvault.core.models import ImageQuery
    from pixvault.metadata.engine import make_engine
    from pixvault.metadata.repos import SqlDatabase
    from pixvault.metadata.schema import users

    broad = Target(f"search={BROAD} (query only)", "", params={"search": BROAD})
    targets.append(broad)
    database = SqlDatabase(make_engine(database_url))
    try:
        with database.engine.connect() as conn:
            owner = conn.execute(sa.select(users.c.id).where(users.c.email == email)).scalar_one()
        for target in targets:
            if target.params is None:
                continue
            given = target.params
            cursor = str(given.get("cursor", ""))
            query = ImageQuery(
                page=int(given.get("page", 1)),
                limit=LIMIT,
                tags=(str(given["tags"]),) if "tags" in given else (),
                search=str(given.get("search", "")),
                after_id=paging.decode_cursor(cursor) if cursor else None,
                peek=True,
            )
            times = []
            for _ in range(QUERY_RUNS):
                start = time.perf_counter()
                database.image_repo.list(owner, query)
                times.append((time.perf_counter() - start) * 1000)
            target.query_ms = statistics.median(times)
    finally:
        database.close()


def run_database(kind: str, workers: int = 1) -> Result:
    """Server (+ database), data, baseline, checks, measurements; all removed on exit.

    ``workers`` > 1: pixvault and the baseline each run that many processes (the best
    configuration on this machine), and only the rows in ``BEST_ROWS`` are measured."""
    started = time.monotonic()
    with ExitStack() as stack:
        database_url = ""
        if kind == "postgresql":
            import psycopg

            from bench.pg_plan import temporary_database

            try:
                database_url = stack.enter_context(temporary_database())
            except psycopg.Error as exc:
                raise live.Skipped(f"PostgreSQL: {str(exc).strip()[:200]}") from None
        processes = str(workers)
        if database_url:
            server = stack.enter_context(live.serve(database_url=database_url, workers=processes))
        else:  # the server's default: a file in its (new, empty) data folder
            server = stack.enter_context(live.serve(workers=processes))
            database_url = f"sqlite:///{(server.data_dir / 'pixvault.sqlite3').resolve()}"
        t0 = time.monotonic()
        ids = populate(database_url, live.ACCOUNT["email"])
        filled = time.monotonic() - t0
        first = server.client.get(PATH, params={"limit": LIMIT})
        if first.status_code != 200:
            raise live.Skipped(f"page 1 answered {first.status_code}: {first.text[:200]}")
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pixvault-gallery-")))
        bare = stack.enter_context(bare_server(first.content, work, workers))
        targets, notes = plan(server, ids, bare)
        if workers > 1:
            targets = [t for i, t in enumerate(targets) if i < 2 or t.name in BEST_ROWS]
        notes.insert(0, f"populated {IMAGES:,} rows in {filled:.1f} s")
        notes.append(f"page-1 JSON: {len(first.content):,} bytes (the baseline's body)")
        load = os.getloadavg()[0]
        measure(targets, server.token)
        if workers == 1:
            time_queries(database_url, live.ACCOUNT["email"], targets)
        notes.append(f"load average {load:.1f} on {os.cpu_count()} cores as the runs started")
    notes.append(f"this database took {time.monotonic() - started:.0f} s in all")
    title = "SQLite" if kind == "sqlite" else "PostgreSQL"
    processes = "1 server process" if workers == 1 else f"{workers} processes each"
    return Result(f"{title}, local disk, {processes}", targets, notes)


def table(result: Result) -> list[str]:
    lines = [
        f"== {result.title} ==",
        f"{'row':32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x bare':>7} {'p50/p1':>7}"
        f" {'query ms':>8}",
    ]
    bare, first = result.targets[0], result.targets[1]
    for target in result.targets:
        query = f"{target.query_ms:8.2f}" if target.query_ms is not None else f"{'-':>8}"
        if not target.url and target.query_ms is not None:  # timed as a query only
            lines.append(f"{target.name:32} {'':>8} {'':>8} {'':>8} {'':>7} {'':>7} {query}")
            continue
        if not target.samples:
            lines.append(f"{target.name:32} failed: {target.error}")
            continue
        rate = target.median("rate")
        ratio = f"{rate / bare.median('rate'):7.3f}" if bare.samples else f"{'-':>7}"
        if target is bare:
            ratio = f"{'1':>7}"
        versus = f"{'-':>7}"
        if target.deep and first.samples:
            versus = f"{target.median('p50') / first.median('p50'):7.2f}"
        lines.append(
            f"{target.name:32} {rate:8.1f} {target.median('p50'):8.2f} "
            f"{target.median('p99'):8.2f} {ratio} {versus} {query}"
        )
        if target.error:
            lines.append(f"  ({target.name}: a later run failed: {target.error})")
        if rate * WRK_SECONDS < FEW:
            lines.append(f"  ({target.name}: ~{rate * WRK_SECONDS:.0f} requests a run: p99 ~ max)")
    lines += [f"  {note}" for note in result.notes]
    return lines


def main() -> None:
    started = time.monotonic()
    print(
        f"gallery: GET {PATH}?limit={LIMIT} as a user with {IMAGES:,} images; wrk -t{THREADS} "
        f"-c{CONNECTIONS} --latency, {WRK_SECONDS:g} s a run, {ROUNDS} rounds in turns after "
        f"a {WARMUP_SECONDS:g} s warm-up, medians; x bare = req/s over the bare FastAPI "
        "baseline's; p50/p1 = p50 over page 1's p50; query ms = the repo call alone",
        flush=True,
    )
    try:
        live.wrk_path()
    except live.Skipped as exc:
        print(f"gallery: not measured ({exc})")
        return
    best = os.cpu_count() or 1
    runs = [("sqlite", 1), ("postgresql", 1)] + ([("sqlite", best)] if best > 1 else [])
    for kind, workers in runs:
        try:
            lines = table(run_database(kind, workers))
        except live.Skipped as exc:
            lines = [f"== {kind}: not measured ({exc}) =="]
        except Exception as exc:  # one database's failure must not hide the other's table
            lines = [f"== {kind}: failed ({type(exc).__name__}: {exc}) =="]
        print("\n".join(lines) + "\n", flush=True)
    print(f"gallery benchmark: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
