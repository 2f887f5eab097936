"""What the fuzz tests share: seed files, a mutation strategy, and the time bounds.

Seeds are small, valid files of every accepted format (Pillow-made, plus a few from the
corpus), with EXIF GPS, XMP and IPTC where the format carries them, so mutations reach the
metadata code as well as the structure walkers. Mutations are byte flips, overwrites with
boundary values, truncations, insertions, deletions and duplicated slices, biased to the
first bytes, where most structure lives.

Runs are reproducible: no example database, a derandomized seed. Time is bounded twice:
every example must finish within ``EXAMPLE_LIMIT`` (a shrinkable failure, where a hang would
only be a timeout) and every test within ``TEST_LIMIT``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from tests.imagegen import AVIF_SUPPORTED, make_image
from tests.metagen import (
    HEIF_WRITABLE,
    XMP_WITH_GPS,
    exif_bytes,
    iptc_segment,
    jpeg_insert,
    photo,
    png_insert,
)

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "files"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"

EXAMPLE_LIMIT = 2.0
"""Seconds one example may take (files are a few KB: real work is milliseconds)."""
TEST_LIMIT = 60.0
"""Seconds one whole test may take, examples and shrinking included."""


def fuzz_settings(max_examples: int) -> settings:
    """Reproducible and bounded: the same examples on every run, no deadline jitter."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=True,
    )


def bounded(test: Callable[..., None], *args: Any) -> None:
    """Run a ``@given`` test and assert it finished within ``TEST_LIMIT``."""
    start = time.perf_counter()
    test(*args)
    elapsed = time.perf_counter() - start
    assert elapsed < TEST_LIMIT, f"{test.__name__} took {elapsed:.1f} s (limit {TEST_LIMIT} s)"


class Timed:
    """``with Timed():`` around one example's work: fails the example if it ran too long."""

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.start
        if exc[0] is None:
            assert elapsed < EXAMPLE_LIMIT, f"one example took {elapsed:.2f} s"


def _corpus(*names: str) -> list[bytes]:
    return [(CORPUS / name).read_bytes() for name in names]


@functools.cache
def seeds() -> dict[str, list[bytes]]:
    """format (as ``core.media`` names it) -> small valid files of that format."""
    gps = exif_bytes()
    small = (16, 12)
    found: dict[str, list[bytes]] = {
        "JPEG": [
            make_image("JPEG", small, noise=0),
            make_image("JPEG", small, noise=0, progressive=True),
            jpeg_insert(photo("JPEG", size=small, exif=gps, xmp=XMP_WITH_GPS), iptc_segment()),
            *_corpus("gps-xmp.jpg", "cmyk.jpg", "orientation-6.jpg"),
        ],
        "PNG": [
            make_image("PNG", small, noise=0),
            make_image("PNG", small, noise=0, frames=2),
            png_insert(
                photo("PNG", size=small, exif=gps),
                (b"tEXt", b"Location\x00Paris"),
                (b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_WITH_GPS),
            ),
            *_corpus("palette-trns.png"),
        ],
        "GIF": [make_image("GIF", small, noise=0, frames=2), *_corpus("animated.gif")],
        "WEBP": [
            make_image("WEBP", small, noise=0),
            make_image("WEBP", small, noise=0, frames=2),
            photo("WEBP", size=small, exif=gps, xmp=XMP_WITH_GPS),
        ],
        "HEIF": _corpus("gps.heic", "rotated-6.heic", "mif1.heif"),
    }
    if AVIF_SUPPORTED:
        found["AVIF"] = [*_corpus("plain.avif"), photo("AVIF", size=small, exif=gps)]
    if HEIF_WRITABLE:
        found["HEIF"].append(photo("HEIF", size=small, exif=gps, xmp=XMP_WITH_GPS))
    return found


def all_seeds() -> list[tuple[str, bytes]]:
    return [(fmt, data) for fmt, files in seeds().items() for data in files]


BOUNDARY_VALUES = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\x00\x00",
    b"\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x00\x00\x00\x01",
    b"\x00\x00\x00\x08",
)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with one edit (often enough to reach odd corners while the file still passes
    most checks) or up to six, each at a position biased to the start of the file."""
    out = bytearray(data)
    for _ in range(draw(st.one_of(st.just(1), st.integers(1, 6)))):
        size = len(out)
        pos = draw(st.one_of(st.integers(0, min(size, 96)), st.integers(0, size)))
        kind = draw(
            st.sampled_from(["flip", "boundary", "truncate", "insert", "delete", "duplicate"])
        )
        if kind == "flip" and pos < size:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "boundary":
            value = draw(st.sampled_from(BOUNDARY_VALUES))
            out[pos : pos + len(value)] = value
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[pos : pos + draw(st.integers(1, 16))]
        elif kind == "duplicate":
            out[pos:pos] = out[pos : pos + draw(st.integers(1, 64))]
    return bytes(out)


def mutated_seeds() -> st.SearchStrategy[tuple[str, bytes]]:
    """(the seed's format, a mutant of it)."""
    return st.sampled_from(all_seeds()).flatmap(
        lambda seed: st.tuples(st.just(seed[0]), mutations(seed[1]))
    )


MAGICS = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif",
)


def magic_noise() -> st.SearchStrategy[bytes]:
    """A format's magic number followed by random bytes: what reaches the walkers' loops."""
    return st.builds(bytes.__add__, st.sampled_from(MAGICS), st.binary(max_size=512))


def fuzz_inputs() -> st.SearchStrategy[bytes]:
    """Mutated seeds, mostly; magic numbers with noise and plain noise otherwise."""
    return st.one_of(
        mutated_seeds().map(lambda pair: pair[1]),
        magic_noise(),
        st.binary(max_size=256),
    )


def regression_files() -> list[Path]:
    return sorted(p for p in REGRESSIONS.iterdir() if p.is_file() and p.name != "README.md")


def formats_to_try() -> Sequence[str]:
    return ["JPEG", "PNG", "GIF", "WEBP", "AVIF", "HEIF"]
