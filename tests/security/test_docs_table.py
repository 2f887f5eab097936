"""docs/security.md stays true: every item of the sections it covers has a row, and every
test it names exists (a renamed or deleted test fails here, not silently in the table)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
ITEMS = [*range(1, 104), *(f"F{n}" for n in range(1, 30))]
"""Every item of checklist (a), sections A to N, and every fault of (b)."""


def test_every_item_of_the_covered_sections_has_a_row_with_a_status() -> None:
    text = DOC.read_text()
    statuses = ("tested", "not applicable", "not yet", "defect (open)")
    for item in ITEMS:
        rows = [line for line in text.splitlines() if line.startswith(f"| {item} |")]
        assert len(rows) == 1, f"item {item}: {len(rows)} rows"
        assert any(s in rows[0] for s in statuses), rows[0]


def test_every_test_the_table_names_exists() -> None:
    """``tests/x.py::test_name`` and the shorthand ``::test_name`` (same file as before)."""
    current: Path | None = None
    named = 0
    for found in re.finditer(r"(tests/[\w/]+\.py)?::(test_\w+)", DOC.read_text()):
        if found[1]:
            current = ROOT / found[1]
        assert current is not None and current.is_file(), found[0]
        found_def = rf"^(?:async )?def {found[2]}\("
        assert re.search(found_def, current.read_text(), re.M), (current, found[2])
        named += 1
    assert named >= 150
