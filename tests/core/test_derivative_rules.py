"""Derivative rules in the core: keys, specs, Accept negotiation, ThumbHash, single-flight."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pixvault.core import keys
from pixvault.core.pipeline import specs, thumbhash
from pixvault.core.pipeline.flight import SingleFlight


def test_derived_keys_have_their_own_prefix_and_strict_shape() -> None:
    owner, image = keys.new_id(), keys.new_id()
    key = keys.derived_key(owner, image, "thumb", "webp")
    assert key == f"derived/{owner}/{image}/thumb.webp"
    assert key.startswith(keys.derived_prefix(owner, image))
    assert keys.is_blob_key(key) and not keys.is_storage_key(key)
    assert keys.parse_derived_key(key) == (owner, image, "thumb", "webp")
    for bad in (
        f"derived/{owner}/{image}/../thumb.webp",
        f"derived/{owner}/{image}/thumb.png",
        f"derived/{owner}/{image}/other.webp",
        f"derived/{owner}/thumb.webp",
        f"/derived/{owner}/{image}/thumb.webp",
    ):
        assert not keys.is_blob_key(bad), bad
    with pytest.raises(ValueError, match="refusing"):
        keys.derived_key(owner, "../x", "thumb", "webp")


def test_only_allowed_names_map_to_specs() -> None:
    assert specs.spec_for("thumb", "webp") == specs.THUMB_SPEC
    assert specs.spec_for("thumb", "jpg") is None
    assert specs.spec_for("w800", "avif") == specs.variant_spec(800, "AVIF")
    assert specs.spec_for("w300", "webp") is None  # not on the allow-list


@pytest.mark.parametrize(
    ("accept", "avif", "expected"),
    [
        ("image/avif,image/webp,image/apng,image/*,*/*;q=0.8", True, "AVIF"),
        ("image/avif,image/webp,image/*,*/*;q=0.8", False, "WEBP"),
        ("image/webp;q=0.5, image/avif;q=0", True, "WEBP"),
        ("*/*", True, "JPEG"),
        ("", True, "JPEG"),
        ("image/webp;q=zero", True, "JPEG"),
    ],
)
def test_accept_negotiation(accept: str, avif: bool, expected: str) -> None:
    assert specs.negotiate(accept, avif=avif) == expected


def test_thumbhash_matches_the_reference_encoder() -> None:
    """Golden value from the reference algorithm (the ``thumbhash`` package) on fixed pixels."""
    rng = random.Random(1)
    w, h = 32, 24
    pixels: list[int] = []
    for i in range(w * h):
        pixels += [rng.randrange(256), (i * 7) % 256, (i * 3) % 256, 255]
    got = thumbhash.encode(w, h, bytes(pixels))
    assert got.hex() == "dff7010d82645550515c6977894997a98a5f87e870"
    with pytest.raises(ValueError, match="100x100"):
        thumbhash.encode(101, 1, bytes(404))


def test_thumbhash_of_transparent_pixels_has_an_alpha_byte() -> None:
    opaque = thumbhash.encode(4, 4, bytes([200, 10, 10, 255] * 16))
    clear = thumbhash.encode(4, 4, bytes([200, 10, 10, 0] * 8 + [200, 10, 10, 255] * 8))
    assert not opaque[2] & 0x80 and clear[2] & 0x80  # the header's hasAlpha bit


def test_single_flight_runs_once_for_concurrent_callers_and_shares_errors() -> None:
    flights = SingleFlight()
    calls = 0
    gate = threading.Event()

    def work() -> None:
        nonlocal calls
        calls += 1
        gate.wait(5)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(flights.run, ["a", "b"], work) for _ in range(4)]
        futures += [pool.submit(flights.run, ["b"], work) for _ in range(4)]
        time.sleep(0.2)
        gate.set()
        for f in futures:
            f.result()
    assert calls == 1 and flights.in_flight() == 0

    def fail() -> None:
        time.sleep(0.2)
        raise RuntimeError("boom")

    with ThreadPoolExecutor(4) as pool:
        failures = [pool.submit(flights.run, ["c"], fail) for _ in range(4)]
        for f in failures:
            with pytest.raises(RuntimeError, match="boom"):
                f.result()
    flights.run(["c"], lambda: None)  # a failed call leaves no stuck key behind
