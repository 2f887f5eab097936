"""Upload throughput with background derivatives on vs off, through a real ``pixvault serve``.

The same 1.8 MB camera JPEG (4000×3000, EXIF with a GPS position, so the metadata stripper
works on every upload) is POSTed by ``wrk`` (a Lua script builds the multipart body once) on
8 connections. ``on`` is the default server: every upload queues a thumbnail + preview render
(~0.4 s of CPU each, far more than the upload's own work), so the worker pool is busy from the
first request to the last. ``off`` is ``PIXVAULT_BACKGROUND_DERIVATIVES=false``: nothing is
rendered. A fresh server per run (so one run's backlog cannot load the next), the two modes in
turns, median of the runs. The target (pipeline issue): ``on`` within 10% of ``off``.
"""

from __future__ import annotations

import io
import statistics
import tempfile
from pathlib import Path

from PIL import Image, ImageFilter

from bench import live
from bench.pipeline import camera_exif

CONNECTIONS = 8
SECONDS = 4
ROUNDS = 3
_LUA = """
local f = assert(io.open(os.getenv("PIXVAULT_BENCH_FILE"), "rb"))
local data = f:read("*all")
f:close()
local boundary = "pixvault-bench-boundary"
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("PIXVAULT_BENCH_TOKEN")
wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
wrk.body = "--" .. boundary .. "\\r\\n"
  .. 'Content-Disposition: form-data; name="files"; filename="photo.jpg"\\r\\n'
  .. "Content-Type: image/jpeg\\r\\n\\r\\n" .. data .. "\\r\\n--" .. boundary .. "--\\r\\n"
"""


def camera_jpeg(path: Path) -> int:
    """A 4000×3000 JPEG of about 1.8 MB with camera EXIF and a GPS position."""
    size = (4000, 3000)
    noise = Image.effect_noise(size, 40).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    Image.blend(noise, gradient, 0.5).save(out, "JPEG", quality=85, exif=camera_exif())
    path.write_bytes(out.getvalue())
    return len(out.getvalue())


def _run(photo: Path, script: Path, background: bool) -> tuple[float, int]:
    """(uploads/s, renders finished by the end) on a fresh server."""
    with live.serve(background_derivatives=str(background).lower(), workers="1") as server:
        env = {"PIXVAULT_BENCH_FILE": str(photo), "PIXVAULT_BENCH_TOKEN": server.token}
        url = f"{server.base}/api/images/upload"
        live.wrk(url, connections=2, seconds=1, script=script, env=env)  # warm-up
        rate = live.wrk(url, connections=CONNECTIONS, seconds=SECONDS, script=script, env=env)
        metrics = server.client.get("/metrics").text
    renders = sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics.splitlines()
        if line.startswith("pixvault_derivative_renders_total")
    )
    return rate, renders


def rows() -> list[str]:
    """The table's lines (or one line saying why it was not measured)."""
    try:
        live.wrk_path()
    except live.Skipped as exc:
        return [f"upload throughput: not measured ({exc})"]
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        size = camera_jpeg(photo)
        script = Path(tmp) / "upload.lua"
        script.write_text(_LUA)
        rates: dict[bool, list[float]] = {True: [], False: []}
        renders: list[int] = []
        try:
            for _ in range(ROUNDS):
                for background in (True, False):
                    rate, made = _run(photo, script, background)
                    rates[background].append(rate)
                    if background:
                        renders.append(made)
        except live.Skipped as exc:
            return [f"upload throughput: not measured ({exc})"]
    on, off = statistics.median(rates[True]), statistics.median(rates[False])
    mb = size / 1e6
    return [
        f"upload throughput ({mb:.1f} MB JPEG, wrk {CONNECTIONS} connections, {SECONDS} s, "
        f"median of {ROUNDS} fresh servers each)",
        f"{'':34} {'uploads/s':>10} {'MB/s':>8}",
        f"{'background derivatives on':34} {on:10.1f} {on * mb:8.1f}",
        f"{'background derivatives off':34} {off:10.1f} {off * mb:8.1f}",
        f"on/off {on / off:.2f} (target >= 0.90); renders finished during an 'on' run: "
        f"{statistics.median(renders)} (the pool was busy throughout)",
    ]


def main() -> None:
    print("\n".join(rows()))


if __name__ == "__main__":
    main()
