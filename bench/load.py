"""Mixed traffic against real ``pixvault serve`` processes, with ``wrk`` (issue 9, "Load").

``python -m bench.load [--seconds 60] [--clients 32 128] [--stack embedded shared]``

Routes and their share of the clients (wrk connections; each connection sends its next
request as soon as the previous answer is in, so the share of *requests* follows latency):

- list 60 %: ``GET /api/images/user?limit=20``
- sign 15 %: ``POST /api/images/presigned-url {"imageId"}`` (an image of the kept pool)
- download 15 %: ``GET`` a signed link of a kept image (on the S3 stack that link points at
  SeaweedFS itself: the bytes never pass through pixvault)
- upload 8 %: ``POST /api/images/upload``, one small camera JPEG with a GPS position (so the
  metadata stripper works), multipart
- delete 2 %: ``DELETE /api/images/{id}``, each id of the delete pool once

Stacks: ``embedded`` is one server on SQLite + local disk; ``shared`` is two servers sharing a
PostgreSQL database of the bench's own (127.0.0.1:5432, created and dropped here), a private
SeaweedFS (``weed mini``, started as the tests start it) and Redis (127.0.0.1:6379, under a key
prefix of the bench's own, deleted afterwards). Each (stack, clients) configuration gets fresh
servers and fresh data.

Per configuration: pre-upload a kept pool of images (20 small PNGs per request), sign a
download link for each (valid for hours); pre-upload a delete pool and run the whole mix for a
short calibration (which also warms the servers up); size the delete pool for the real run from
the delete rate seen there (x3, and a delete script that runs dry says so instead of reusing an
id); wait until background renders are done; then start one ``wrk -t1`` per route and server,
all at once, for the same duration. Each wrk runs a Lua script whose ``response()`` counts
statuses and whose ``done()`` writes them, the socket errors and a quantile grid of its latency
histogram to a file; quantiles of two processes of a route are merged from those grids.

Afterwards, once renders have finished: every image not deleted is still a row and still
listed over HTTP, every acknowledged upload is there, deletes took effect, a sample of bytes
reads back identical (in-process through ``tests.invariants.check``, which also checks that
quota used equals the sum of sizes and that the spool is empty, and over HTTP through fresh
signed links), and the peak RSS (``VmHWM``) of each server process and its children (render
workers). The servers' rate limit is raised (bench/live.py) so no 429 is expected; any would be
shown in a column of its own, apart from the errors. ``--keep`` keeps the wrk outputs, Lua
scripts and server logs. All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from PIL import Image

from bench import live
from bench.pipeline import camera_exif

if TYPE_CHECKING:
    from tests.services.seaweed import SeaweedServer

SECONDS = 60
"""Length of each measured run (``--seconds``)."""
CLIENTS = (32, 128)
MIX = {"list": 0.60, "sign": 0.15, "download": 0.15, "upload": 0.08, "delete": 0.02}
KEPT = 200
"""Images that are never deleted: sign and download pick among them."""
CALIBRATION_SECONDS = 5
CALIBRATION_POOL = 600
DELETE_MARGIN = 3.0
"""The delete pool holds this many times the deletes the calibration rate predicts."""
BATCH = 20
LINK_TTL = 6 * 3600
LIST_P99_TARGET_MS = 100.0
QUIET_TIMEOUT = 300.0
READBACK_SAMPLE = 40
INVARIANT_SAMPLE = 300
WRK_TIMEOUT = "10s"
UPLOAD_NAME = "load.jpg"

# --- Lua --------------------------------------------------------------------------------------

_COMMON = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

statuses = {}
uploaded = {}
consumed = 0
exhausted = 0
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LOAD_TOKEN")

function count(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function lines(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then table.insert(out, line) end
  end
  return out
end

function init(args)
  math.randomseed(os.time() + tonumber(os.getenv("LOAD_SEED") or "0"))
end

function done(summary, latency, requests)
  local f = assert(io.open(os.getenv("LOAD_REPORT"), "w"))
  f:write("requests ", summary.requests, "\n")
  f:write("duration_us ", summary.duration, "\n")
  local e = summary.errors
  f:write("socket ", e.connect, " ", e.read, " ", e.write, " ", e.timeout, "\n")
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("statuses")) do f:write("status ", status, " ", n, "\n") end
    f:write("consumed ", t:get("consumed"), "\n")
    f:write("exhausted ", t:get("exhausted"), "\n")
    for _, id in ipairs(t:get("uploaded")) do f:write("uploaded ", id, "\n") end
  end
  if summary.requests > 0 then
    for i = 1, 198 do
      f:write(string.format("q %.1f %d\n", i * 0.5, latency:percentile(i * 0.5)))
    end
    for i = 1, 10 do
      f:write(string.format("q %.1f %d\n", 99 + i * 0.1, latency:percentile(99 + i * 0.1)))
    end
  end
  f:close()
end
"""

_SCRIPTS = {
    "list": r"""
function response(status, headers, body)
  count(status)
end
""",
    "sign": r"""
local ids = lines(os.getenv("LOAD_IDS"))
wrk.headers["Content-Type"] = "application/json"
function request()
  local body = '{"imageId":"' .. ids[math.random(#ids)] .. '"}'
  return wrk.format("POST", "/api/images/presigned-url", nil, body)
end
function response(status, headers, body)
  count(status)
end
""",
    "download": r"""
local paths = lines(os.getenv("LOAD_IDS"))
wrk.headers["Authorization"] = nil
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function response(status, headers, body)
  count(status)
end
""",
    "upload": r"""
local f = assert(io.open(os.getenv("LOAD_FILE"), "rb"))
local data = f:read("*all")
f:close()
local boundary = "pixvault-load-boundary"
wrk.method = "POST"
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\r\n"
  .. 'Content-Disposition: form-data; name="files"; filename="UPLOAD_NAME"\r\n'
  .. "Content-Type: image/jpeg\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
function response(status, headers, body)
  count(status)
  if status == 200 then
    local id = string.match(body, '"id"%s*:%s*"([^"]+)"')
    if id then table.insert(uploaded, id) end
  end
end
""".replace("UPLOAD_NAME", UPLOAD_NAME),
    # Each id once, in order. wrk calls request() once before the run to check the script, so
    # one id is "consumed" without being sent. Out of ids, it asks for an id that cannot
    # exist (a 404, counted apart as ``exhausted``) rather than repeat one.
    "delete": r"""
local ids = lines(os.getenv("LOAD_IDS"))
function request()
  if consumed < #ids then
    consumed = consumed + 1
    return wrk.format("DELETE", "/api/images/" .. ids[consumed])
  end
  exhausted = exhausted + 1
  return wrk.format("DELETE", "/api/images/pool-exhausted")
end
function response(status, headers, body)
  count(status)
end
""",
}
_PATHS = {
    "list": "/api/images/user?limit=20",
    "sign": "/api/images/presigned-url",
    "download": "/",
    "upload": "/api/images/upload",
    "delete": "/api/images/",
}

# --- data -------------------------------------------------------------------------------------


def split(clients: int) -> dict[str, int]:
    """Connections per route: the mix's shares of ``clients``, at least 1 each, largest
    remainders first (32 -> list 19, sign 5, download 5, upload 2, delete 1)."""
    exact = {route: share * clients for route, share in MIX.items()}
    out = {route: max(1, math.floor(value)) for route, value in exact.items()}
    order = sorted(exact, key=lambda r: exact[r] - math.floor(exact[r]), reverse=True)
    for route in order[: max(0, clients - sum(out.values()))]:
        out[route] += 1
    return out


def small_pngs(n: int) -> list[bytes]:
    """``n`` distinct 64x48 noise PNGs (about 9 KB each)."""
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.frombytes("RGB", (64, 48), os.urandom(64 * 48 * 3)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def camera_jpeg() -> bytes:
    """A 320x240 JPEG (about 20 KB) with camera EXIF and a GPS position."""
    noise = Image.effect_noise((320, 240), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
    buf = io.BytesIO()
    Image.blend(noise, gradient, 0.5).save(buf, "JPEG", quality=85, exif=camera_exif())
    return buf.getvalue()


def pre_upload(servers: Sequence[live.Live], count: int) -> dict[str, str]:
    """``count`` new images, 20 PNGs a request, 4 requests at a time over the servers in
    turn: image id -> sha256 of its bytes (PNGs without metadata are stored as sent)."""

    def batch(i: int) -> dict[str, str]:
        n = min(BATCH, count - i * BATCH)
        pngs = small_pngs(n)
        files = [("files", (f"pre-{i}-{j}.png", data, "image/png")) for j, data in enumerate(pngs)]
        r = servers[i % len(servers)].client.post("/api/images/upload", files=files)
        if r.status_code != 200:
            raise live.Skipped(f"pre-upload answered {r.status_code}: {r.text[:200]}")
        out = {}
        for image, data in zip(r.json()["images"], pngs, strict=True):
            if image["size"] != len(data):
                raise live.Skipped("a pre-uploaded PNG was stored with other bytes")
            out[image["id"]] = hashlib.sha256(data).hexdigest()
        return out

    found: dict[str, str] = {}
    with ThreadPoolExecutor(4) as pool:
        for part in pool.map(batch, range(math.ceil(count / BATCH))):
            found.update(part)
    return found


def signed_links(server: live.Live, ids: Sequence[str]) -> tuple[str, list[str]]:
    """(origin, path?query of a download link per id), all links on the same origin."""
    origins, paths = set(), []
    for image_id in ids:
        r = server.client.post(
            "/api/images/presigned-url",
            json={"imageId": image_id, "purpose": "download", "expiresIn": LINK_TTL},
        )
        r.raise_for_status()
        url = urlsplit(r.json()["url"])
        origins.add(f"{url.scheme}://{url.netloc}")
        paths.append(f"{url.path}?{url.query}")
    if len(origins) != 1:
        raise live.Skipped(f"signed links on several origins: {sorted(origins)}")
    return origins.pop(), paths


def _counter(server: live.Live) -> int:
    text = server.client.get("/metrics").text
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith(("pixvault_derivative_renders_total", "pixvault_derivative_failures"))
    )


def wait_quiet(servers: Sequence[live.Live]) -> float:
    """Until no server finished a background render for 2 s (bounded); seconds waited."""
    start = time.monotonic()
    last, still = [-1] * len(servers), 0
    while time.monotonic() - start < QUIET_TIMEOUT:
        now = [_counter(s) for s in servers]
        still = still + 1 if now == last else 0
        if still >= 4:
            break
        last = now
        time.sleep(0.5)
    return time.monotonic() - start


# --- wrk --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One wrk process."""

    route: str
    origin: str
    """scheme://host:port of a server (or, for S3 download links, of the store)."""
    connections: int
    token: str
    ids: Path | None = None
    """The ids (or link paths) its Lua script reads."""


@dataclass
class Report:
    """What one wrk process saw, or several of a route merged."""

    connections: int = 0
    requests: int = 0
    seconds: float = 0.0
    socket: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    consumed: int = 0
    exhausted: int = 0
    uploaded: list[str] = field(default_factory=list)
    grid: list[tuple[float, float]] = field(default_factory=list)
    """(latency in µs, requests it stands for): a quantile grid of the latency histogram."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    def errors(self) -> int:
        """Answers other than 2xx/3xx and 429, plus socket errors (connect, read, write and
        timeouts; wrk counts none for the requests it abandons when the run ends)."""
        bad = sum(n for s, n in self.statuses.items() if not 200 <= s < 400 and s != 429)
        return bad + sum(self.socket.values())

    def percentile(self, p: float) -> float:
        """Milliseconds: wrk's own percentile for one process; for several, from their
        grids weighted by their request counts (exact at the grid's points, 0.5 % apart up to
        p99, 0.1 % above)."""
        points = sorted(self.grid)
        total = sum(weight for _, weight in points)
        cum = 0.0
        for value, weight in points:
            cum += weight
            if cum >= p / 100 * total * (1 - 1e-9):
                return value / 1000
        return math.nan

    def add(self, other: Report) -> None:
        self.connections += other.connections
        self.requests += other.requests
        self.seconds = max(self.seconds, other.seconds)
        self.socket.update(other.socket)
        self.statuses.update(other.statuses)
        self.consumed += other.consumed
        self.exhausted += other.exhausted
        self.uploaded += other.uploaded
        self.grid += other.grid


def _parse(path: Path, connections: int) -> Report:
    report = Report(connections=connections)
    quantiles: list[tuple[float, int]] = []
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        parts = rest.split()
        if kind == "requests":
            report.requests = int(parts[0])
        elif kind == "duration_us":
            report.seconds = int(parts[0]) / 1e6
        elif kind == "socket":
            names = ("connect", "read", "write", "timeout")
            report.socket.update({k: int(v) for k, v in zip(names, parts, strict=True)})
        elif kind == "status":
            report.statuses[int(parts[0])] += int(parts[1])
        elif kind == "consumed":
            report.consumed += int(parts[0])
        elif kind == "exhausted":
            report.exhausted += int(parts[0])
        elif kind == "uploaded":
            report.uploaded.append(parts[0])
        elif kind == "q":
            quantiles.append((float(parts[0]), int(parts[1])))
    prev = 0.0
    for q, value in quantiles:
        report.grid.append((value, report.requests * (q - prev) / 100))
        prev = q
    report.socket = +report.socket  # drops the zero counts
    return report


def run_mix(
    run: Sequence[Target], seconds: float, work: Path, env: dict[str, str]
) -> list[tuple[Target, Report]]:
    """One ``wrk -t1 --latency`` per target, all started at once, each for ``seconds``."""
    work.mkdir(parents=True, exist_ok=True)
    scripts = {}
    for route, body in _SCRIPTS.items():
        scripts[route] = work / f"{route}.lua"
        scripts[route].write_text(_COMMON + body)
    running = []
    for n, target in enumerate(run):
        report, out = work / f"{n}-{target.route}.report", work / f"{n}-{target.route}.out"
        report.unlink(missing_ok=True)
        wenv = {
            **os.environ,
            **env,
            "LOAD_REPORT": str(report),
            "LOAD_SEED": str(secrets.randbelow(1 << 30)),
            "LOAD_IDS": str(target.ids or ""),
            "LOAD_TOKEN": target.token,
        }
        args = [live.wrk_path(), "-t1", f"-c{target.connections}", f"-d{seconds:g}s"]
        args += ["--timeout", WRK_TIMEOUT, "--latency", "-s", str(scripts[target.route])]
        with out.open("w") as fh:
            proc = subprocess.Popen(
                [*args, target.origin + _PATHS[target.route]],
                env=wenv,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
            )
        running.append((target, proc, report, out))
    results = []
    failed = []
    for target, proc, report, out in running:
        try:
            code = proc.wait(seconds + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        if code != 0 or not report.is_file():
            failed.append(f"wrk for {target.route} exited with {code}: {out.read_text()[-400:]}")
        else:
            results.append((target, _parse(report, target.connections)))
    if failed:
        raise live.Skipped("; ".join(failed))
    return results


def merge(results: Sequence[tuple[Target, Report]]) -> dict[str, Report]:
    """Per route, in the mix's order."""
    merged = {route: Report() for route in MIX}
    for target, report in results:
        merged[target.route].add(report)
    return merged


# --- stacks -----------------------------------------------------------------------------------


@dataclass
class Stack:
    name: str
    servers: list[live.Live]
    settings: dict[str, Any]
    """``Settings`` for an in-process container on the servers' data (the first one's spool)."""


EMBEDDED = "embedded"
SHARED = "shared"
TITLES = {
    EMBEDDED: "embedded: SQLite + local disk, 1 server process",
    SHARED: "shared: PostgreSQL + SeaweedFS + Redis, 2 server processes",
}
REDIS_URL = "redis://127.0.0.1:6379/0"


class Unavailable(Exception):
    """A part of the shared stack cannot be had; the message says why."""


@contextmanager
def embedded_stack() -> Iterator[Stack]:
    with live.serve() as server:
        yield Stack(EMBEDDED, [server], {"data_dir": server.data_dir})


@contextmanager
def seaweed(workdir: Path) -> Iterator[SeaweedServer]:
    """A private ``weed mini`` started by the tests' own code (tests/services/seaweed.py),
    after checking that PostgreSQL and Redis answer."""
    try:
        import pytest

        from tests.services.postgres import admin_url, reachable
        from tests.services.redis import answers
        from tests.services.seaweed import start_seaweed
    except ImportError as exc:
        raise Unavailable(f"cannot import the tests' service helpers: {exc}") from None
    if (why := reachable(admin_url())) is not None:
        raise Unavailable(f"PostgreSQL at {admin_url()} does not answer: {why}")
    if not answers(REDIS_URL):
        raise Unavailable(f"Redis at {REDIS_URL} does not answer")
    try:
        process, server = start_seaweed(workdir)
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise Unavailable(str(exc)) from None
    try:
        yield server
    finally:
        process.stop()


@contextmanager
def shared_stack(weed: SeaweedServer) -> Iterator[Stack]:
    """Two servers on a new database, a new bucket and a Redis key prefix of their own; the
    database is dropped and the Redis keys deleted on exit."""
    import redis

    from tests.services.postgres import admin_url, scratch_database

    prefix = f"pixvault-load-{secrets.token_hex(4)}"
    settings: dict[str, Any] = {
        "storage_url": f"s3://{weed.new_bucket()}",
        "s3_endpoint_url": weed.endpoint_url,
        "s3_region": weed.region,
        "s3_access_key_id": weed.access_key,
        "s3_secret_access_key": weed.secret_key,
        "redis_url": REDIS_URL,
        "redis_key_prefix": prefix,
    }
    with scratch_database(admin_url()) as database_url:
        settings["database_url"] = database_url
        try:
            with ExitStack() as stack:
                first = stack.enter_context(live.serve(**settings))
                second = stack.enter_context(live.serve(register=False, **settings))
                yield Stack(SHARED, [first, second], {**settings, "data_dir": first.data_dir})
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            try:
                for key in client.scan_iter(match=f"{prefix}*", count=1000):
                    client.delete(key)
            finally:
                client.close()


# --- one configuration ------------------------------------------------------------------------


def plan(
    stack: Stack, clients: int, download: tuple[str, Path], kept: Path, pool: list[str], work: Path
) -> list[Target]:
    """The wrk processes of a run: each route's connections split over the servers (an odd
    one goes to each server by turns); download links all point at one origin, so one wrk
    for them; the delete pool is cut into a slice per delete wrk, by connections."""
    work.mkdir(parents=True, exist_ok=True)
    run: list[Target] = []
    n = len(stack.servers)
    for index, (route, conns) in enumerate(split(clients).items()):
        if route == "download":
            run.append(Target(route, download[0], conns, stack.servers[0].token, download[1]))
            continue
        for j, server in enumerate(stack.servers):
            share = conns // n + (1 if (j + index) % n < conns % n else 0)
            if share:
                run.append(Target(route, server.base, share, server.token, kept))
    deleters = [t for t in run if t.route == "delete"]
    total = sum(t.connections for t in deleters)
    start, done = 0, 0
    for number, t in enumerate(deleters):
        done += t.connections
        end = len(pool) * done // total
        path = work / f"delete-{number}.ids"
        path.write_text("".join(f"{i}\n" for i in pool[start:end]))
        run[run.index(t)] = Target(t.route, t.origin, t.connections, t.token, path)
        start = end
    return run


def taken(results: Sequence[tuple[Target, Report]]) -> set[str]:
    """Ids the delete scripts took: sent, or taken by wrk's one check call of ``request()``."""
    out: set[str] = set()
    for target, report in results:
        if target.route == "delete" and target.ids is not None:
            out.update(target.ids.read_text().split()[: report.consumed])
    return out


@dataclass
class Result:
    stack: str
    clients: int
    reports: dict[str, Report]
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Anything lost or inconsistent: empty when nothing was lost."""
    server_errors: list[str] = field(default_factory=list)
    rss: list[str] = field(default_factory=list)


def run_config(make: Any, clients: int, seconds: float, work: Path, jpeg: Path) -> Result:
    """Fresh servers from ``make()``; pools, calibration, the run, then the checks."""
    with make() as stack:
        servers: list[live.Live] = stack.servers
        env = {"LOAD_FILE": str(jpeg)}
        known = pre_upload(servers, KEPT)
        kept = work / "kept.ids"
        kept.write_text("".join(f"{i}\n" for i in known))
        origin, paths = signed_links(servers[0], list(known))
        links = work / "download.paths"
        links.write_text("".join(f"{p}\n" for p in paths))
        download = (origin, links)

        calibration_pool = pre_upload(servers, CALIBRATION_POOL)
        known.update(calibration_pool)
        wait_quiet(servers)
        calibration = run_mix(
            plan(stack, clients, download, kept, list(calibration_pool), work / "cal"),
            CALIBRATION_SECONDS,
            work / "cal",
            env,
        )
        calibrated = merge(calibration)
        rate = calibrated["delete"].ok() / CALIBRATION_SECONDS
        size = max(200, math.ceil(rate * seconds * DELETE_MARGIN))
        if calibrated["delete"].exhausted:  # the rate is a floor: be generous
            size *= 2
        pool = pre_upload(servers, size)
        known.update(pool)
        settle = wait_quiet(servers)
        load = os.getloadavg()[0]
        notes = [
            f"calibration ({CALIBRATION_SECONDS} s, same mix): {rate:.0f} deletes/s -> delete "
            f"pool {size} for {seconds:g} s; renders of the pools settled in {settle:.0f} s; "
            f"load average {load:.1f} on {os.cpu_count()} cores as the run started"
        ]
        results = run_mix(
            plan(stack, clients, download, kept, list(pool), work / "run"),
            seconds,
            work / "run",
            env,
        )
        reports = merge(results)
        settle = wait_quiet(servers)
        notes.append(f"renders queued by the run finished {settle:.0f} s after it")
        result = Result(stack.name, clients, reports, notes)
        everything = [*calibration, *results]
        check(
            stack,
            result,
            known=known,
            taken=taken(everything),
            deleted=sum(r.ok() for t, r in everything if t.route == "delete"),
            uploaded={i for t, r in everything if t.route == "upload" for i in r.uploaded},
            late=2 * split(clients)["upload"],
        )
        for number, server in enumerate(servers):
            result.rss.append(peak_memory(server.pid))
            result.server_errors += server_errors(server)
            shutil.copyfile(server.log, work / f"server-{number}.log")
        return result


# --- checks -----------------------------------------------------------------------------------


def check(
    stack: Stack,
    result: Result,
    *,
    known: dict[str, str],
    taken: set[str],
    deleted: int,
    uploaded: set[str],
    late: int,
) -> None:
    """Nothing lost: rows, listing, acknowledged uploads and deletes, bytes, quota, spool."""
    import sqlalchemy as sa

    from pixvault.container import build_container
    from pixvault.metadata.schema import images, users
    from pixvault.settings import Settings
    from tests import invariants

    problems, notes = result.problems, result.notes
    server = stack.servers[0]
    settings = Settings(**stack.settings, secret_key=live.SECRET_KEY)
    container = build_container(settings)
    try:
        with container.database.engine.connect() as conn:
            rows = {
                r.id: r
                for r in conn.execute(
                    sa.select(images.c.id, images.c.original_name, images.c.size, images.c.status)
                )
            }
            used = sum(conn.execute(sa.select(users.c.quota_used)).scalars())
        listed = list_all(server)
        if set(listed) != set(rows):
            problems.append(
                f"listing ({len(listed)}) differs from the rows ({len(rows)}): "
                f"{len(set(rows) - set(listed))} rows not listed, "
                f"{len(set(listed) - set(rows))} listed without a row"
            )
        if len(listed) != len(set(listed)):
            problems.append(f"the listing repeats {len(listed) - len(set(listed))} images")
        kept = set(known) - taken
        if lost := kept - set(rows):
            problems.append(f"{len(lost)} pre-uploaded images never deleted are gone")
        gone = taken - set(rows)
        if not deleted <= len(gone) <= len(taken):
            problems.append(f"{deleted} deletes acknowledged but {len(gone)} pool images gone")
        if missing := uploaded - set(rows):
            problems.append(f"{len(missing)} acknowledged uploads have no row")
        extra = set(rows) - set(known) - uploaded
        if bad := [i for i in extra if rows[i].original_name != UPLOAD_NAME]:
            problems.append(f"{len(bad)} rows nobody uploaded")
        if len(extra) > late:
            problems.append(f"{len(extra)} unacknowledged uploads stored (at most {late} expected)")
        if not_ready := sum(1 for r in rows.values() if r.status != "ready"):
            problems.append(f"{not_ready} images are not 'ready'")
        sizes = sum(int(r.size) for r in rows.values())
        notes.append(
            f"{len(rows)} images = {len(known)} pre-uploaded - {len(gone)} deleted "
            f"({deleted} acknowledged) + {len(uploaded)} acknowledged uploads + {len(extra)} "
            f"finished after wrk stopped; all listed: {set(listed) == set(rows)}; "
            f"quota used {used} B, sum of sizes {sizes} B"
        )
        sample = random.sample(sorted(kept), min(INVARIANT_SAMPLE, len(kept)))
        try:
            invariants.check(container, {i: known[i] for i in sample}, repaired=False)
            notes.append(
                f"tests.invariants.check: ok ({len(sample)} images' bytes read back from the "
                "store, every row's bytes exist, quota used = sizes, spool empty)"
            )
        except AssertionError as exc:
            problems.append(f"tests.invariants.check: {exc}")
        for other in stack.servers[1:]:
            spool = other.data_dir / "tmp"
            if spool.is_dir() and (left := sorted(p.name for p in spool.iterdir())):
                problems.append(f"the spool of {other.base} is not empty: {left[:5]}")
    finally:
        container.close()
    readback = random.sample(sorted(kept), min(READBACK_SAMPLE, len(kept)))
    for number, image_id in enumerate(readback):
        via = stack.servers[number % len(stack.servers)]
        r = via.client.post("/api/images/presigned-url", json={"imageId": image_id})
        got = httpx.get(r.json()["url"], timeout=30) if r.status_code == 200 else r
        if got.status_code != 200 or hashlib.sha256(got.content).hexdigest() != known[image_id]:
            problems.append(f"image {image_id} did not read back ({got.status_code})")
    checked = sorted(uploaded)[:READBACK_SAMPLE]
    for image_id in checked:
        r = server.client.post("/api/images/presigned-url", json={"imageId": image_id})
        got = httpx.get(r.json()["url"], timeout=30) if r.status_code == 200 else r
        if got.status_code != 200 or not got.content.startswith(b"\xff\xd8"):
            problems.append(f"upload {image_id} did not read back ({got.status_code})")
        elif len(got.content) != int(rows[image_id].size):
            problems.append(f"upload {image_id} read back {len(got.content)} bytes")
    notes.append(
        f"over HTTP: {len(readback)} pre-uploaded images read back byte-identical through new "
        f"signed links, {len(checked)} of the run's uploads read back whole"
    )


def list_all(server: live.Live) -> list[str]:
    """Every image id of the bench user, through the gallery API (100 a page)."""
    ids: list[str] = []
    page = 1
    while True:
        r = server.client.get("/api/images/user", params={"limit": 100, "page": page})
        r.raise_for_status()
        batch = [image["id"] for image in r.json()["images"]]
        ids += batch
        if len(batch) < 100:
            return ids
        page += 1


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def _kib(value: str | None) -> float:
    return int(value.split()[0]) / 1024 if value else math.nan


def peak_memory(pid: int) -> str:
    """Peak RSS (VmHWM) of the server process and of each of its children (render workers,
    multiprocessing's resource tracker)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    own = _kib(_status(pid).get("VmHWM"))
    kids = sorted((_kib(_status(c).get("VmHWM")) for c in children), reverse=True)
    shown = ", ".join(f"{k:.0f}" for k in kids)
    return f"server pid {pid}: {own:.0f} MiB; {len(kids)} children: {shown} MiB"


_ACCESS = re.compile(r'"(\w+) (\S+) HTTP/[\d.]+" (\d{3})')


def server_errors(server: live.Live) -> list[str]:
    """5xx answers, logged errors and the exceptions of tracebacks in the server's log, counted
    by kind."""
    found: Counter[str] = Counter()
    in_traceback = False
    for line in server.log.read_text(errors="replace").splitlines():
        if in_traceback:
            if line.startswith((" ", "\t")) or not line.strip():
                continue
            in_traceback = line.startswith(("During handling", "The above exception"))
            if not in_traceback:
                found[f"traceback ending in {line[:240]}"] += 1
            continue
        if line.startswith("Traceback"):
            in_traceback = True
        elif (access := _ACCESS.search(line)) is not None:
            if access.group(3).startswith("5"):
                path = access.group(2).split("?")[0]
                route = re.sub(r"/[0-9a-zA-Z_-]{16,}", "/{id}", path)
                found[f"{access.group(1)} {route} -> {access.group(3)}"] += 1
        elif line.startswith(("ERROR", "CRITICAL", "WARNING")):
            found[line[:240]] += 1
    out = [f"{server.base}: {n} x {what}" for what, n in found.most_common(12)]
    if any(what.endswith("ClientDisconnect") for what in found):
        out.append(
            f"{server.base}: (ClientDisconnect: wrk closed a connection in the middle of an "
            "upload's body when a run ended; the app logs it as an unhandled error (a 500 nobody "
            "receives) and uvicorn again as 'Exception in ASGI application')"
        )
    return out


# --- output -----------------------------------------------------------------------------------


def table(result: Result, seconds: float) -> list[str]:
    reports = result.reports
    total = sum(r.requests for r in reports.values())
    lines = [
        f"== {TITLES[result.stack]}, {result.clients} clients, {seconds:g} s ==",
        f"{'route':9} {'conns':>5} {'req/s':>8} {'share':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'2xx':>7} {'4xx':>5} {'5xx':>5} {'429':>5} {'socket':>6}",
    ]
    for route, r in reports.items():
        four = sum(n for s, n in r.statuses.items() if 400 <= s < 500 and s != 429)
        five = sum(n for s, n in r.statuses.items() if s >= 500)
        lines.append(
            f"{route:9} {r.connections:5d} {r.rate:8.1f} {r.requests / max(total, 1):6.1%} "
            f"{r.percentile(50):8.1f} {r.percentile(99):8.1f} {r.ok():7d} {four:5d} {five:5d} "
            f"{r.statuses[429]:5d} {sum(r.socket.values()):6d}"
        )
    rate = sum(r.rate for r in reports.values())
    lines.append(f"{'all':9} {result.clients:5d} {rate:8.1f}")
    for route, r in reports.items():
        odd = {s: n for s, n in sorted(r.statuses.items()) if not 200 <= s < 300}
        if odd or r.socket:
            lines.append(f"  {route}: statuses {odd}, socket errors {dict(r.socket)}")
        if r.exhausted:
            lines.append(f"  {route}: the delete pool ran dry: {r.exhausted} requests for none")
    lines += [f"  {note}" for note in result.notes]
    lines += [f"  peak RSS, {line}" for line in result.rss]
    for line in result.server_errors:
        lines.append(f"  server log: {line}")
    for line in result.problems:
        lines.append(f"  LOST/INCONSISTENT: {line}")
    return lines


def verdict(result: Result) -> list[str]:
    errors = sum(r.errors() for r in result.reports.values())
    errors += sum(r.exhausted for r in result.reports.values())  # not the server's, but unclean
    intended = sum(r.statuses[429] for r in result.reports.values())
    out = [
        f"  target zero errors (other than intended 429s: {intended}): "
        f"{'met' if errors == 0 else f'NOT met ({errors})'}",
        f"  target nothing lost: {'met' if not result.problems else 'NOT met'}",
    ]
    if result.clients == 32:
        p99 = result.reports["list"].percentile(99)
        met = "met" if p99 < LIST_P99_TARGET_MS else "NOT met"
        out.append(
            f"  target list p99 < {LIST_P99_TARGET_MS:g} ms at 32 clients: {met} ({p99:.1f} ms)"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=SECONDS, help="each run (default 60)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument(
        "--stack", nargs="+", choices=[EMBEDDED, SHARED], default=[EMBEDDED, SHARED]
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the wrk outputs and server logs (path printed)"
    )
    args = parser.parse_args(argv)
    try:
        live.wrk_path()
    except live.Skipped as exc:
        print(f"load: not measured ({exc})")
        return 1
    jpeg_bytes = camera_jpeg()
    print(
        f"mix of clients {MIX}; uploads: one {len(jpeg_bytes) / 1000:.0f} KB 320x240 JPEG with "
        f"GPS EXIF; pre-uploads: 64x48 PNGs; rate limit {live.RATE_LIMIT} (no 429 expected); "
        f"wrk -t1 per route and server, --timeout {WRK_TIMEOUT}\n",
        flush=True,
    )
    verdicts: list[str] = []
    with ExitStack() as keep:
        if args.keep:
            work = Path(tempfile.mkdtemp(prefix="pixvault-load-"))
            keep.callback(print, f"wrk outputs and server logs kept in {work}")
        else:
            work = Path(keep.enter_context(tempfile.TemporaryDirectory(prefix="pixvault-load-")))
        jpeg = work / UPLOAD_NAME
        jpeg.write_bytes(jpeg_bytes)
        for name in args.stack:
            with ExitStack() as outer:
                if name == EMBEDDED:
                    make: Any = embedded_stack
                else:
                    try:
                        weed = outer.enter_context(seaweed(work / "seaweed"))
                    except Unavailable as exc:
                        print(f"== {TITLES[name]}: skipped ({exc}) ==\n", flush=True)
                        continue
                    make = lambda weed=weed: shared_stack(weed)  # noqa: E731
                for clients in args.clients:
                    run_dir = work / f"{name}-{clients}"
                    run_dir.mkdir()
                    try:
                        result = run_config(make, clients, args.seconds, run_dir, jpeg)
                    except live.Skipped as exc:
                        print(f"== {TITLES[name]}, {clients} clients: not measured ({exc}) ==\n")
                        continue
                    lines = table(result, args.seconds)
                    print("\n".join([*lines, *verdict(result)]) + "\n", flush=True)
                    verdicts += [lines[0], *verdict(result)]
    print("targets:\n" + "\n".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
