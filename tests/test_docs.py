"""Docs that tests keep true: every setting is in the README with its variable name."""

from __future__ import annotations

from pathlib import Path

from pixvault.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in Settings.model_fields:
        assert f"PIXVAULT_{name.upper()}" in readme, name


def test_quick_start_is_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
