"""Issue 10, benchmark 1: uploads/s of one camera JPEG through the API, against thumbor's upload
endpoint and against the hash + write + fsync floor, measured in turns in the same run.

The same 1.8 MB JPEG (``bench.upload.camera_jpeg``: 4000×3000, EXIF with a GPS position, so
every pixvault upload is also stripped) is POSTed by ``wrk`` with a Lua script that builds the
multipart body once:

- pixvault: ``POST /api/images/upload`` (field ``files``) on a fresh ``pixvault serve`` per
  round, background derivatives off (they run in other processes; ``bench.upload`` measures
  what they cost an upload), on the embedded stack (SQLite + local disk) and on PostgreSQL +
  SeaweedFS (S3); the bench user's quota is 1 TiB and identical bytes may be uploaded again;
- thumbor 7.8: ``POST /image`` (field ``media``), ``UPLOAD_ENABLED`` with its file storage;
- the floor: ``bench.upload_floor``, one process per core, hashing and fsyncing the same bytes.

Server process count: ``PIXVAULT_BENCH_WORKERS`` (default 1) for pixvault (``--workers``) and
thumbor (``--processes``) alike; the "best configuration" rows run both with one per core (at
the larger client count; ``PIXVAULT_BENCH_BEST=0`` leaves them out).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import live, thumbor_baseline
from bench.upload import camera_jpeg

CLIENTS = (8, 32)
SECONDS = 3.0
WARMUP_SECONDS = 1.0
ROUNDS = 2
MIN_FREE_DISK = 4 * 1024**3
"""Bytes that must be free before a run starts (a run stores up to ~0.5 GB)."""
EMBEDDED = "embedded: SQLite + disk"
SHARED = "PostgreSQL + SeaweedFS"
THUMBOR = "thumbor 7.8, file storage"
_LUA = """
local f = assert(io.open(os.getenv("PIXVAULT_BENCH_FILE"), "rb"))
local data = f:read("*all")
f:close()
local boundary = "pixvault-bench-boundary"
local token = os.getenv("PIXVAULT_BENCH_TOKEN") or ""
wrk.method = "POST"
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\\r\\n"
  .. 'Content-Disposition: form-data; name="' .. os.getenv("PIXVAULT_BENCH_FIELD")
  .. '"; filename="photo.jpg"\\r\\n'
  .. "Content-Type: image/jpeg\\r\\n\\r\\n" .. data .. "\\r\\n--" .. boundary .. "--\\r\\n"
"""
_THUMBOR_UPLOAD = (
    "UPLOAD_ENABLED = True\n"
    "UPLOAD_PHOTO_STORAGE = 'thumbor.storages.file_storage'\n"
    "FILE_STORAGE_ROOT_PATH = {root!r}\n"
)


def workers() -> int:
    """Server processes for the one-process rows (``PIXVAULT_BENCH_WORKERS``, default 1)."""
    return max(1, int(os.environ.get("PIXVAULT_BENCH_WORKERS", "1")))


@dataclass
class Results:
    """Uploads/s per (row, clients), one figure per round."""

    rates: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, row: str, clients: int, rate: float) -> None:
        self.rates.setdefault((row, clients), []).append(rate)

    def median(self, row: str, clients: int) -> float | None:
        runs = self.rates.get((row, clients))
        return statistics.median(runs) if runs else None


@dataclass(frozen=True)
class Target:
    """One thing wrk can POST the photo to."""

    url: str
    field: str
    token: str = ""


def check_disk(folder: Path) -> None:
    free = shutil.disk_usage(folder).free
    if free < MIN_FREE_DISK:
        raise live.Skipped(f"only {free / 1024**3:.1f} GiB free under {folder}")


def post(target: Target, photo: Path, script: Path, clients: int, seconds: float) -> float:
    env = {
        "PIXVAULT_BENCH_FILE": str(photo),
        "PIXVAULT_BENCH_TOKEN": target.token,
        "PIXVAULT_BENCH_FIELD": target.field,
    }
    check_disk(photo.parent)
    return live.wrk(target.url, connections=clients, seconds=seconds, script=script, env=env)


def floor(photo: Path, folder: Path, processes: int) -> float:
    """Files/s of ``processes`` floor scripts timing the same window; their files deleted."""
    folder.mkdir(exist_ok=True)
    start = time.time() + 1.0  # after every interpreter has started
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.upload_floor", str(photo), str(folder)),
                *(f"{start:.3f}", f"{SECONDS:g}"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        done = sum(int(p.communicate(timeout=SECONDS + 60)[0]) for p in procs)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return done / SECONDS


@contextmanager
def shared_services(work: Path) -> Iterator[dict[str, str]]:
    """A scratch PostgreSQL database and a private SeaweedFS (the tests' own helpers), as
    ``PIXVAULT_*`` settings; raises ``Skipped`` when either cannot be had."""
    try:
        import pytest

        from tests.services.postgres import admin_url, reachable, scratch_database
        from tests.services.seaweed import start_seaweed
    except ImportError as exc:
        raise live.Skipped(f"cannot import the tests' service helpers: {exc}") from None
    if (why := reachable(admin_url())) is not None:
        raise live.Skipped(f"PostgreSQL at {admin_url()} does not answer: {why}")
    try:
        process, weed = start_seaweed(work)
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise live.Skipped(str(exc)) from None
    try:
        with scratch_database(admin_url(), migrate=False) as database_url:
            yield {
                "database_url": database_url,
                "storage_url": f"s3://{weed.new_bucket()}",
                "s3_endpoint_url": weed.endpoint_url,
                "s3_region": weed.region,
                "s3_access_key_id": weed.access_key,
                "s3_secret_access_key": weed.secret_key,
            }
    finally:
        process.stop()


def empty_bucket(settings: dict[str, str]) -> None:
    """Delete what a round uploaded to the bucket (SeaweedFS' files are deleted at the end)."""
    import boto3

    client: Any = boto3.client(
        "s3",
        endpoint_url=settings["s3_endpoint_url"],
        region_name=settings["s3_region"],
        aws_access_key_id=settings["s3_access_key_id"],
        aws_secret_access_key=settings["s3_secret_access_key"],
    )
    bucket = settings["storage_url"].removeprefix("s3://")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


def run_pixvault(
    results: Results,
    row: str,
    files: tuple[Path, Path],
    clients: tuple[int, ...],
    *,
    first: bool,
    processes: int,
    **settings: str,
) -> None:
    """A fresh server (its data folder is deleted when it stops), a warm-up, then each
    client count once."""
    photo, script = files
    with live.serve(
        register=first, background_derivatives="false", workers=str(processes), **settings
    ) as server:
        target = Target(f"{server.base}/api/images/upload", "files", server.token)
        post(target, photo, script, 2, WARMUP_SECONDS)
        for n in clients:
            results.add(row, n, post(target, photo, script, n, SECONDS))


def run_thumbor(
    results: Results, row: str, files: tuple[Path, Path], clients: tuple[int, ...], url: str
) -> None:
    """A warm-up, then each client count once; what it stored is deleted after each run."""
    photo, script = files
    target = Target(url, "media")
    post(target, photo, script, 2, WARMUP_SECONDS)
    for n in clients:
        try:
            results.add(row, n, post(target, photo, script, n, SECONDS))
        finally:
            for stored in photo.parent.glob("thumbor-*/uploads"):
                shutil.rmtree(stored, ignore_errors=True)


def start_thumbor(stack: ExitStack, root: Path, processes: int) -> str:
    """thumbor with its upload endpoint, in a folder of its own; its upload URL."""
    root.mkdir()
    config = _THUMBOR_UPLOAD.format(root=str(root / "uploads"))
    thumbor = stack.enter_context(
        thumbor_baseline.running(root, extra_config=config, processes=processes)
    )
    return f"http://127.0.0.1:{thumbor.port}/image"


def measure(work: Path) -> Results:
    """Every row, ``ROUNDS`` times in turns."""
    photo = work / "photo.jpg"
    camera_jpeg(photo)
    script = work / "upload.lua"
    script.write_text(_LUA)
    files = (photo, script)
    results = Results()
    n = workers()
    cores = os.cpu_count() or 1
    best = cores > n and os.environ.get("PIXVAULT_BENCH_BEST", "1") != "0"
    with ExitStack() as stack:
        thumbor: dict[int, str] = {}
        try:
            for count in (n, cores) if best else (n,):
                thumbor[count] = start_thumbor(stack, work / f"thumbor-{count}", count)
        except thumbor_baseline.Unavailable as exc:
            results.notes.append(f"thumbor: not measured ({exc})")
        try:
            shared: dict[str, str] | None = stack.enter_context(shared_services(work / "weed"))
        except live.Skipped as exc:
            shared = None
            results.notes.append(f"{SHARED}: not measured ({exc})")
        for round_no in range(ROUNDS):
            results.add("floor", 0, floor(photo, work / "floor", cores))
            if n in thumbor:
                run_thumbor(results, THUMBOR, files, CLIENTS, thumbor[n])
            run_pixvault(results, EMBEDDED, files, CLIENTS, first=True, processes=n)
            if shared is not None:
                run_pixvault(
                    results, SHARED, files, CLIENTS, first=round_no == 0, processes=n, **shared
                )
                empty_bucket(shared)
            if best:  # one process per core on both sides, at the larger client count only
                if cores in thumbor:
                    run_thumbor(results, best_row(THUMBOR), files, CLIENTS[-1:], thumbor[cores])
                run_pixvault(
                    results, best_row(EMBEDDED), files, CLIENTS[-1:], first=True, processes=cores
                )
    return results


def best_row(row: str) -> str:
    return f"{row.split(',')[0]}, {os.cpu_count()} processes"


def table(results: Results, size: int) -> list[str]:
    mb = size / 1e6
    n = workers()
    floor_rate = results.median("floor", 0)
    out = [
        f"upload: {mb:.1f} MB camera JPEG (GPS EXIF) by wrk -t1, {SECONDS:g} s a run, "
        f"{ROUNDS} rounds in turns after a warm-up, medians; {n} server process(es) unless "
        "named; x thumbor / x floor = uploads/s over theirs in the same run",
        f"{'clients':>7}  {'':34} {'uploads/s':>9} {'MB/s':>7} {'x thumbor':>9} {'x floor':>8}",
    ]

    def line(clients: int, row: str, thumbor: float | None) -> None:
        rate = results.median(row, clients)
        if rate is None:
            return
        vs_thumbor = f"{rate / thumbor:9.2f}" if thumbor else f"{'-':>9}"
        vs_floor = f"{rate / floor_rate:8.2f}" if floor_rate else f"{'-':>8}"
        out.append(f"{clients:7d}  {row:34} {rate:9.1f} {rate * mb:7.1f} {vs_thumbor} {vs_floor}")

    for clients in CLIENTS:
        thumbor = results.median(THUMBOR, clients)
        for row in (EMBEDDED, SHARED, THUMBOR):
            line(clients, row, thumbor)
    best_thumbor = results.median(best_row(THUMBOR), CLIENTS[-1])
    for row in (best_row(EMBEDDED), best_row(THUMBOR)):
        line(CLIENTS[-1], row, best_thumbor)
    if floor_rate is not None:
        out.append(
            f"floor: md5 + sha256 + write + fsync of the same bytes, {os.cpu_count()} processes "
            f"(one per core): {floor_rate:.1f} files/s, {floor_rate * mb:.1f} MB/s"
        )
    embedded = results.median(EMBEDDED, CLIENTS[0])
    thumbor = results.median(THUMBOR, CLIENTS[0])
    if embedded and thumbor and floor_rate:
        out.append(
            f"targets ({CLIENTS[0]} clients, embedded): >= 1.0x thumbor -> "
            f"{embedded / thumbor:.2f}x: {'met' if embedded >= thumbor else 'MISSED'}; "
            f"within 1.5x of the floor -> floor/pixvault {floor_rate / embedded:.2f}: "
            f"{'met' if floor_rate <= 1.5 * embedded else 'MISSED'}"
        )
    return out + results.notes


def rows() -> list[str]:
    """The table's lines, or one line saying why it was not measured."""
    try:
        live.wrk_path()
        with tempfile.TemporaryDirectory(prefix="pixvault-upload-") as tmp:
            started = time.monotonic()
            results = measure(Path(tmp))
            size = (Path(tmp) / "photo.jpg").stat().st_size
            took = time.monotonic() - started
    except live.Skipped as exc:
        return [f"upload comparison: not measured ({exc})"]
    return [*table(results, size), f"  (took {took:.0f} s)"]


def main() -> None:
    print("\n".join(rows()), flush=True)


if __name__ == "__main__":
    main()
