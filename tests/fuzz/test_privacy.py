"""The metadata strippers (``privacy.rewrite`` and ``prepare``) on mutated files that carry
EXIF GPS, XMP and IPTC: ``UnsupportedType`` or a copy that parses again (by the stripper and,
if the original passed it, by the upload check) and holds no GPS IFD."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pixvault.core import media
from pixvault.core.privacy import StripMode
from tests.fuzz import checks
from tests.fuzz.support import Timed, bounded, fuzz_settings, mutated_seeds

MODES = st.sampled_from(list(StripMode))


@fuzz_settings(max_examples=1500)
@given(seed=mutated_seeds(), mode=MODES)
def strip_mutants(directory: Path, seed: tuple[str, bytes], mode: StripMode) -> None:
    fmt, data = seed
    # The upload path strips by the format the upload check found, which is the sniffed one.
    fmt = media.sniff(data[:4096]) or fmt
    with Timed():
        checks.stripped(data, fmt, mode, directory)


@fuzz_settings(max_examples=600)
@given(seed=mutated_seeds(), mode=MODES)
def prepare_mutants(directory: Path, seed: tuple[str, bytes], mode: StripMode) -> None:
    fmt, data = seed
    with Timed():
        checks.prepared(data, media.sniff(data[:4096]) or fmt, mode, directory)


def test_rewrite_leaves_no_position_and_a_readable_file(tmp_path: Path) -> None:
    bounded(strip_mutants, tmp_path)


def test_prepare_writes_what_rewrite_says_and_cleans_up(tmp_path: Path) -> None:
    bounded(prepare_mutants, tmp_path)
