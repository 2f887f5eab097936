"""The structural walkers (core/structure.py, core/heif.py) on mutated real files and noise:
a ``Structure`` or ``UnsupportedType`` / ``TooLarge``, never another exception or a hang."""

from __future__ import annotations

from hypothesis import given

from tests.fuzz import checks
from tests.fuzz.support import Timed, bounded, fuzz_inputs, fuzz_settings


@fuzz_settings(max_examples=2000)
@given(fuzz_inputs())
def walk_everything(data: bytes) -> None:
    with Timed():
        checks.walkers(data)


def test_walkers_refuse_broken_files_cleanly() -> None:
    bounded(walk_everything)
