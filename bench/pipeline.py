"""The image pipeline table: pixvault's derivatives beside Pillow, pyvips and thumbor.

Every figure is a median of several runs, measured in this run on the same files:

- a 12 MP camera-like JPEG (4000x3000, noise + gradients, quality 90, EXIF with GPS),
- a 2 MP PNG (1732x1155, the same kind of pixels),
- a 12 MP HEIC (4000x3000, made with pillow-heif's x265 encoder).

Columns, per file and output (thumb: longest side 400 px; preview: 1600 px; WebP):

- ``pixvault``: ``ProcessImageProcessor.render`` with one worker process, i.e. the function the
  workers run (``pixvault.processing.render.render``) plus the hop into the worker and back;
- ``in-proc``: that same function called in this process (no hop);
- ``decode``: Pillow's bare full decode, ``Image.open(path).load()``;
- ``pyvips``: ``pyvips.Image.thumbnail_buffer`` of the file's bytes to the same box, then
  ``webpsave_buffer(Q=82)`` (optional: ``pip install 'pyvips[binary]'``);
- ``thumbor``: a fit-in resize to WebP (quality 82) through thumbor's HTTP API
  (``bench/thumbor_baseline.py``).

``thumb+preview`` is what the upload's background job asks for: one ``render`` call making
both (one decode); the baselines make each output from the file, so theirs are the two sums.

A second small table prints metadata stripping (pixvault's stripper) and, with ``wrk``,
serving a stored thumbnail vs an original of the same size.
"""

from __future__ import annotations

import importlib
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType

from PIL import Image

from bench import serving, thumbor_baseline
from pixvault.core.models import IncomingFile
from pixvault.core.pipeline.specs import PREVIEW_SPEC, THUMB_SPEC, RenderSpec
from pixvault.core.privacy import StripMode, prepare
from pixvault.processing import ProcessImageProcessor
from pixvault.processing import render as worker

TARGET_VS_PYVIPS = 1.0
"""A thumbnail costs at most this many times pyvips' thumbnail of the same file."""

SERVING_NOISE = 0.05
"""Run-to-run spread of wrk's req/s here: a derivative this much slower still counts as even."""

Cell = float | str  # milliseconds, or why there is no figure


@dataclass
class Sample:
    label: str
    path: Path
    repeat: int  # timing runs per figure (the HEIC decodes slowly: fewer)
    thumb_repeat: int  # the thumbnail is cheap and the target: more runs, a steadier median
    note: str = ""


@dataclass
class Row:
    sample: str
    output: str
    cells: dict[str, Cell] = field(default_factory=dict)


def _pixels(size: tuple[int, int]) -> Image.Image:
    """Photographic-looking noise over a gradient (a flat image would flatter every codec)."""
    noise = Image.effect_noise(size, 64).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.blend(noise, gradient, 0.5)


def camera_exif() -> Image.Exif:
    """What a camera writes, GPS position included (so the metadata stripper has work)."""
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = "BC-12"  # Model
    exif[0x0112] = 1  # Orientation
    exif.get_ifd(0x8769)[0x9003] = "2024:05:01 12:34:56"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", (13.0, 24.0, 36.0)  # GPSLongitudeRef, GPSLongitude
    return exif


def make_samples(folder: Path) -> list[Sample]:
    """The benchmark files, written to ``folder``."""
    jpeg = folder / "photo.jpg"
    _pixels((4000, 3000)).save(jpeg, "JPEG", quality=90, exif=camera_exif())
    png = folder / "screen.png"
    _pixels((1732, 1155)).save(png, "PNG")
    samples = [Sample("JPEG 12MP", jpeg, 7, 15), Sample("PNG 2MP", png, 5, 11)]
    heic = folder / "phone.heic"
    try:
        import pillow_heif
    except ImportError:
        samples.append(Sample("HEIC 12MP", heic, 0, 0, "pillow-heif is not installed"))
        return samples
    # x265's "ultrafast" preset: the default one spends ~40 s on these noisy 12 MP here.
    pillow_heif.from_pillow(_pixels((4000, 3000))).save(
        heic, format="HEIF", quality=80, enc_params={"preset": "ultrafast"}
    )
    samples.append(Sample("HEIC 12MP", heic, 3, 3))
    return samples


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"failed: {(text[-1].strip() if text else type(exc).__name__)[:110]}"


def interleaved_ms(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, Cell]:
    """Median ms of each function, warmed once, then run in turns (one of each per round), so
    load from elsewhere on the machine falls on every column alike. A function that raises
    gets the reason instead of a figure."""
    cells: dict[str, Cell] = {}
    live: dict[str, Callable[[], object]] = {}
    for name, fn in fns.items():
        try:
            fn()  # warm caches, lazy imports and the worker process
            live[name] = fn
        except Exception as exc:  # a baseline that cannot do this file: say why, in the table
            cells[name] = _reason(exc)
    samples: dict[str, list[float]] = {name: [] for name in live}
    for _ in range(repeat):
        for name, fn in list(live.items()):
            start = time.perf_counter()
            try:
                fn()
            except Exception as exc:
                cells[name] = _reason(exc)
                del live[name]
                continue
            samples[name].append((time.perf_counter() - start) * 1000)
    for name in live:
        cells[name] = statistics.median(samples[name])
    return {name: cells[name] for name in fns}


def _pyvips() -> ModuleType | str:
    try:  # untyped and optional: imported by name, so mypy needs neither it nor stubs
        pyvips = importlib.import_module("pyvips")
    except (ImportError, OSError):
        return "pyvips not installed"
    pyvips.cache_set_max(0)  # no operation cache: every call decodes the file again
    return pyvips


def _vips_thumbs(vips: ModuleType, data: bytes, sides: Sequence[int]) -> None:
    """pyvips' shrink-on-load thumbnail into each ``side`` box, encoded as pixvault's WebP."""
    for side in sides:
        thumb = vips.Image.thumbnail_buffer(data, side, height=side, size="down")
        thumb.webpsave_buffer(Q=82)


def _thumbor_fetches(server: thumbor_baseline.Thumbor, name: str, sides: Sequence[int]) -> None:
    for side in sides:
        server.fetch(name, side)


def _decode(path: Path) -> None:
    with Image.open(path) as im:
        im.load()


OUTPUTS: dict[str, tuple[RenderSpec, ...]] = {
    "thumb 400": (THUMB_SPEC,),
    "preview 1600": (PREVIEW_SPEC,),
    "thumb+preview": (THUMB_SPEC, PREVIEW_SPEC),
}


def _measure_sample(
    sample: Sample,
    work: Path,
    pool: ProcessImageProcessor,
    vips: ModuleType | str,
    thumbor: thumbor_baseline.Thumbor | str,
) -> list[Row]:
    if sample.repeat == 0:
        return [Row(sample.label, name, dict.fromkeys(COLUMNS, sample.note)) for name in OUTPUTS]
    rows = []
    data = sample.path.read_bytes()
    outs = [work / "out-0.webp", work / "out-1.webp"]
    for output, specs in OUTPUTS.items():
        sides = [s.box[0] for s in specs]
        targets = outs[: len(specs)]
        fns: dict[str, Callable[[], object]] = {
            "pixvault": partial(pool.render, sample.path, specs, targets),
            "in-proc": partial(worker.render, str(sample.path), specs, [str(t) for t in targets]),
            "decode": partial(_decode, sample.path),
        }
        if not isinstance(vips, str):
            fns["pyvips"] = partial(_vips_thumbs, vips, data, sides)
        if not isinstance(thumbor, str):
            fns["thumbor"] = partial(_thumbor_fetches, thumbor, sample.path.name, sides)
        repeat = sample.thumb_repeat if specs == (THUMB_SPEC,) else sample.repeat
        cells = interleaved_ms(fns, repeat)
        if isinstance(vips, str):
            cells["pyvips"] = vips
        if isinstance(thumbor, str):
            cells["thumbor"] = thumbor
        rows.append(Row(sample.label, output, cells))
    return rows


COLUMNS = ("pixvault", "in-proc", "decode", "pyvips", "thumbor")


def _fmt(cell: Cell) -> str:
    return f"{cell:.1f}" if isinstance(cell, float) else "n/a"


def _ratio(a: Cell, b: Cell) -> str:
    return f"{a / b:.2f}" if isinstance(a, float) and isinstance(b, float) else "-"


def _strip_rows(sample: Sample) -> list[tuple[str, float, str, float]]:
    """pixvault's stripper on the 12 MP JPEG (read, rewrite, spool + hash) vs a full decode."""
    size = sample.path.stat().st_size
    received = IncomingFile(sample.path.name, sample.path, size, "", "")
    with Image.open(sample.path) as im:
        assert im.getexif().get_ifd(0x8825), "the sample JPEG should carry GPS"
    for mode in (StripMode.GPS, StripMode.ALL):
        done = prepare(received, "JPEG", mode)
        try:
            assert done.stripped, f"the sample JPEG had nothing to strip in mode {mode}"
            with Image.open(done.stored.path) as im:
                assert not im.getexif().get_ifd(0x8825), f"GPS left in mode {mode}"
        finally:
            done.discard()

    def strip(mode: StripMode) -> None:
        prepare(received, "JPEG", mode).discard()

    cells = interleaved_ms(
        {
            "gps": partial(strip, StripMode.GPS),
            "all": partial(strip, StripMode.ALL),
            "decode": partial(_decode, sample.path),
        },
        sample.repeat * 2,
    )
    rows = []
    for name in ("gps", "all"):
        ms, decode_ms = cells[name], cells["decode"]
        if not (isinstance(ms, float) and isinstance(decode_ms, float)):
            raise RuntimeError(f"metadata stripping could not be timed: {cells}")
        rows.append((f"strip metadata ({name}), 12 MP JPEG", ms, "full decode", decode_ms))
    return rows


def main() -> None:
    started = time.perf_counter()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pixvault-bench-") as tmp_name, ExitStack() as stack:
        work = Path(tmp_name)
        samples = make_samples(work)
        vips = _pyvips()
        thumbor: thumbor_baseline.Thumbor | str
        try:
            thumbor = stack.enter_context(thumbor_baseline.running(work))
        except thumbor_baseline.Unavailable as exc:
            thumbor = f"thumbor not measured: {exc}"
        pool = ProcessImageProcessor(1)
        stack.callback(pool.close)
        rows: list[Row] = []
        for sample in samples:
            rows.extend(_measure_sample(sample, work, pool, vips, thumbor))
        extra = _strip_rows(samples[0])
        try:
            thumb_rps, original_rps, body = serving.measure(samples[0].path, work)
            rps_ratio = thumb_rps / original_rps
            verdict = "met" if rps_ratio >= 1 - SERVING_NOISE else "MISSED"
            serving_line = (
                f"serve stored thumbnail ({body} B)    {thumb_rps:7.0f} req/s   "
                f"same-size original {original_rps:7.0f} req/s   ratio {rps_ratio:4.2f}\n"
                f"target: a stored derivative serves at >= the original's req/s "
                f"(within {SERVING_NOISE:.0%}) -> {verdict}"
            )
        except serving.Skipped as exc:
            serving_line = f"serving a stored derivative vs an original: not measured ({exc})"

    if isinstance(vips, str):
        notes.append(vips)
    else:
        notes.append(f"pyvips {vips.__version__}, libvips {vips.version(0)}.{vips.version(1)}")
    if isinstance(thumbor, str):
        notes.append(thumbor)
    else:
        notes.append(f"thumbor {thumbor.version} (file loader, no storage, via HTTP)")
    header = (
        f"{'pipeline (ms, median)':14} {'':14} {'pixvault':>9} {'in-proc':>8} {'decode':>8} "
        f"{'pyvips':>8} {'thumbor':>8} {'px/vips':>8} {'px/thumb':>8} {'px/decode':>9}"
    )
    print(f"\n{header}")
    for row in rows:
        c = row.cells
        print(
            f"{row.sample:14} {row.output:14} {_fmt(c['pixvault']):>9} {_fmt(c['in-proc']):>8} "
            f"{_fmt(c['decode']):>8} {_fmt(c['pyvips']):>8} {_fmt(c['thumbor']):>8} "
            f"{_ratio(c['pixvault'], c['pyvips']):>8} {_ratio(c['pixvault'], c['thumbor']):>8} "
            f"{_ratio(c['pixvault'], c['decode']):>9}"
        )
    missing: dict[str, dict[str, None]] = {}  # why a cell is n/a -> where
    for row in rows:
        for column, cell in row.cells.items():
            if isinstance(cell, str):
                missing.setdefault(cell, {})[f"{row.sample} {column}"] = None
    for reason, where in missing.items():
        notes.append(f"n/a in {', '.join(where)}: {reason}")
    print()
    for row in rows:
        if row.output != "thumb 400":
            continue
        ratio = _ratio(row.cells["pixvault"], row.cells["pyvips"])
        if ratio == "-":
            verdict = "not measured (no pyvips figure)"
        else:
            met = float(ratio) <= TARGET_VS_PYVIPS
            verdict = f"{ratio}x pyvips: {'met' if met else 'MISSED'}"
        print(f"target: {row.sample} thumbnail <= {TARGET_VS_PYVIPS:.1f}x pyvips -> {verdict}")
    print()
    print(f"{'measured':40} {'ms':>8}   {'baseline':28} {'ms':>8} {'ratio':>7}")
    for name, ms, base_name, base_ms in extra:
        print(f"{name:40} {ms:8.2f}   {base_name:28} {base_ms:8.2f} {ms / base_ms:7.2f}")
    print(serving_line)
    print()
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    print(f"note: pipeline bench took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
