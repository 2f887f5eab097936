"""``media.inspect``, the whole upload check, on mutated real files and noise: a sane
``MediaInfo`` or ``UnsupportedType`` / ``TooLarge``, never another exception or a hang."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given

from tests.fuzz import checks
from tests.fuzz.support import Timed, bounded, fuzz_inputs, fuzz_settings


@fuzz_settings(max_examples=1500)
@given(data=fuzz_inputs())
def inspect_anything(directory: Path, data: bytes) -> None:
    with Timed():
        checks.inspected(data, directory)


def test_inspect_refuses_broken_files_cleanly(tmp_path: Path) -> None:
    bounded(inspect_anything, tmp_path)
