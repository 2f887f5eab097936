"""Issue 10, benchmark 4: the server's peak memory while it receives big uploads.

One ``pixvault serve`` process (``PIXVAULT_BENCH_WORKERS``, default 1; background derivatives
off: their renders run in other processes, sized by the pool, and are not the upload's memory),
SQLite + local disk, 64 MiB file limit. Rows:

- idle: after start-up, sign-in and one warm-up upload of the 1.8 MB camera JPEG (so code that
  the first upload imports is not counted against the big ones);
- one 50 MB image: a 4096×4096 RGB PNG of incompressible pixels with a GPS position in its
  EXIF (so the metadata stripper rewrites it), POSTed once;
- 32 clients at once: 32 connections (threads of the bench) each POST a 10 MB PNG of the same
  kind once, released together by a barrier; the row ends when the last one is answered.

``peak`` is the kernel's high-water mark (``VmHWM``), reset before each load row by writing 5
to ``/proc/PID/clear_refs`` (or, where that is refused, a fresh server per row); the
``anon``/``file`` columns are the highest ``RssAnon``/``RssFile`` seen by sampling every 5 ms
(file pages are the page cache of mapped files: shared, clean and dropped on unmap).
"""

from __future__ import annotations

import io
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from bench import live
from bench.pipeline import camera_exif
from bench.upload import camera_jpeg
from bench.upload_compare import workers

BIG_SIDE = 4096  # 4096² × 3 bytes: 50.3 MB
MANY_SIDE = 1826  # 1826² × 3 bytes: 10.0 MB
MANY_CLIENTS = 32
TARGET_BIG_GROWTH = 16 * 1024**2
TARGET_MANY_TOTAL = 300 * 1024**2
_MIB = 1024**2


def noise_png(path: Path, side: int, seed: int) -> int:
    """An RGB PNG of random (incompressible) pixels with camera EXIF and GPS; its size."""
    pixels = random.Random(seed).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(
        out, "PNG", compress_level=1, exif=camera_exif()
    )
    path.write_bytes(out.getvalue())
    return len(out.getvalue())


def status(pid: int) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of /proc/PID/status, in bytes."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Set ``VmHWM`` back to the current RSS (Linux >= 4.0); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Peaks:
    hwm: int = 0
    anon: int = 0
    file: int = 0


@contextmanager
def sampled(pid: int) -> Iterator[Peaks]:
    """Peak RSS while the block runs: ``VmHWM`` at the end, anon/file from 5 ms sampling."""
    peaks = Peaks()
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now = status(pid)
            peaks.anon = max(peaks.anon, now.get("RssAnon", 0))
            peaks.file = max(peaks.file, now.get("RssFile", 0) + now.get("RssShmem", 0))
            time.sleep(0.005)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()
        peaks.hwm = status(pid)["VmHWM"]


def upload_once(server: live.Live, path: Path) -> None:
    with path.open("rb") as fh:
        answer = server.client.post(
            "/api/images/upload", files=[("files", (path.name, fh, "image/png"))], timeout=120
        )
    if answer.status_code != 200:
        raise live.Skipped(f"upload of {path.name} answered {answer.status_code}: {answer.text}")


def upload_together(server: live.Live, path: Path, clients: int) -> float:
    """``clients`` connections POST ``path`` once each, all started together; seconds taken."""
    data = path.read_bytes()
    start = threading.Barrier(clients)
    failures: list[str] = []

    def one() -> None:
        with httpx.Client(base_url=server.base, timeout=300) as client:
            start.wait()
            answer = client.post(
                "/api/images/upload",
                headers={"Authorization": f"Bearer {server.token}"},
                files=[("files", (path.name, data, "image/png"))],
            )
            if answer.status_code != 200:
                failures.append(f"{answer.status_code}: {answer.text[:200]}")

    began = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise live.Skipped(f"{len(failures)} of {clients} uploads failed: {failures[0]}")
    return time.monotonic() - began


def measure(work: Path) -> list[str]:
    photo, big, many = work / "photo.jpg", work / "big.png", work / "many.png"
    camera_jpeg(photo)
    big_size = noise_png(big, BIG_SIDE, 1)
    many_size = noise_png(many, MANY_SIDE, 2)
    rows: list[tuple[str, int, Peaks]] = []
    notes: list[str] = []
    with live.serve(background_derivatives="false", workers=str(workers())) as server:
        upload_once(server, photo)
        time.sleep(0.5)
        idle = status(server.pid)
        rows.append(
            (
                "idle (after one warm-up upload)",
                idle["VmRSS"],
                Peaks(idle["VmRSS"], idle["RssAnon"], idle["RssFile"] + idle.get("RssShmem", 0)),
            )
        )
        fresh = not reset_peak(server.pid)
        if fresh:
            notes.append("clear_refs refused: VmHWM not reset between rows")
        before = status(server.pid)["VmRSS"]
        with sampled(server.pid) as peaks:
            upload_once(server, big)
        rows.append((f"one {big_size / 1e6:.0f} MB PNG", before, peaks))
        reset_peak(server.pid)
        before = status(server.pid)["VmRSS"]
        with sampled(server.pid) as peaks:
            took = upload_together(server, many, MANY_CLIENTS)
        rows.append((f"{MANY_CLIENTS} clients, {many_size / 1e6:.0f} MB PNGs", before, peaks))
        notes.append(f"{MANY_CLIENTS} clients at once: all answered 200 in {took:.1f} s")
    return table(rows, big_size) + notes


def table(rows: list[tuple[str, int, Peaks]], big_size: int) -> list[str]:
    out = [
        f"server memory (MiB; 1 process per row: {workers()}; peak = VmHWM, reset before each "
        "load row; anon/file = highest sampled RssAnon/RssFile)",
        f"{'':34} {'RSS before':>10} {'peak':>8} {'growth':>8} {'anon':>8} {'file':>8}",
    ]
    for name, before, peaks in rows:
        growth = peaks.hwm - before
        out.append(
            f"{name:34} {before / _MIB:10.1f} {peaks.hwm / _MIB:8.1f} {growth / _MIB:8.1f} "
            f"{peaks.anon / _MIB:8.1f} {peaks.file / _MIB:8.1f}"
        )
    big, many = rows[1], rows[2]
    grew = big[2].hwm - big[1]
    out.append(
        f"target: a {big_size / 1e6:.0f} MB upload raises peak RSS by < 16 MiB -> "
        f"{grew / _MIB:.1f} MiB: {'met' if grew < TARGET_BIG_GROWTH else 'MISSED'}"
    )
    total = many[2].hwm
    out.append(
        f"target: {MANY_CLIENTS} concurrent 10 MB uploads stay < 300 MiB in total -> "
        f"{total / _MIB:.1f} MiB: {'met' if total < TARGET_MANY_TOTAL else 'MISSED'}"
    )
    return out


def rows() -> list[str]:
    try:
        live.wrk_path()
        with tempfile.TemporaryDirectory(prefix="pixvault-memory-") as tmp:
            return measure(Path(tmp))
    except (live.Skipped, httpx.HTTPError) as exc:
        return [f"server memory: not measured ({exc})"]


def main() -> None:
    print("\n".join(rows()), flush=True)


if __name__ == "__main__":
    main()
