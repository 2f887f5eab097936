"""The layering rules from ../shared/architecture.md, checked on the source."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pixvault"
# Pillow parses image headers and argon2 hashes passwords: both are domain work, not I/O.
# pillow_heif is Pillow's HEIF plugin (core/media.py registers it), so it counts as Pillow.
CORE_THIRD_PARTY = {"PIL", "pillow_heif", "argon2"}
FRAMEWORKS = {"fastapi", "starlette", "uvicorn"}
SDKS = {"sqlalchemy", "alembic"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(
                node.module.split(".")[0]
                if node.module.split(".")[0] != "pixvault"
                else ".".join(node.module.split(".")[:2])
            )
    return names


@pytest.mark.parametrize("path", sorted((SRC / "core").rglob("*.py")), ids=lambda p: p.name)
def test_core_imports_only_stdlib_and_core(path: Path) -> None:
    for name in _imports(path):
        if name.startswith("pixvault."):
            assert name == "pixvault.core", f"{path.name} imports {name}"
        else:
            assert name in sys.stdlib_module_names or name in CORE_THIRD_PARTY, (
                f"{path.name} imports {name}"
            )


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_frameworks_and_sdks_stay_in_their_packages(path: Path) -> None:
    rel = path.relative_to(SRC).as_posix()
    names = _imports(path)
    if not rel.startswith("web/") and rel != "cli.py":
        assert not names & FRAMEWORKS, f"{rel} imports {names & FRAMEWORKS}"
    if not rel.startswith("metadata/"):
        assert not names & SDKS, f"{rel} imports {names & SDKS}"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= 400
