"""Replay every file in tests/fuzz/regressions/ through every fuzz property: inputs that once
broke one (see that folder's README) must keep passing all of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixvault.core import media
from pixvault.core.privacy import StripMode
from tests.fuzz import checks
from tests.fuzz.support import formats_to_try, regression_files


@pytest.mark.parametrize("path", regression_files(), ids=lambda path: path.name)
def test_regression_input_passes_every_property(path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    checks.walkers(data)
    checks.inspected(data, tmp_path)
    sniffed = media.sniff(data[:4096])
    for fmt in [sniffed] if sniffed else formats_to_try():
        for mode in StripMode:
            checks.stripped(data, fmt, mode, tmp_path)
            checks.prepared(data, fmt, mode, tmp_path)
    spool = tmp_path / "spool"
    spool.mkdir()
    content_type = checks.CONTENT_TYPE.encode()
    for sizes in ([], [1] * min(len(data), 64), [7, 300, 1]):
        checks.multipart(data, sizes, spool, content_type)


def test_regressions_folder_holds_only_small_files() -> None:
    files = regression_files()
    assert files, "tests/fuzz/regressions/ lost its files"
    assert all(path.stat().st_size <= 64 * 1024 for path in files)
