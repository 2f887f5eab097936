"""Packaging: optional extras, the lock, the floors script and the Makefile's install rules."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from requirements.floors import floors

from pixvault.container import build_container
from pixvault.settings import SettingsError
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent

# (setting overrides, module the extra provides, extra, variable, scheme shown)
NEEDS_EXTRA = [
    ({"storage_url": "s3://bucket/prefix"}, "boto3", "s3", "PIXVAULT_STORAGE_URL", "s3"),
    (
        {"database_url": "postgresql://app:hunter2@127.0.0.1:5432/app"},
        "psycopg",
        "postgres",
        "PIXVAULT_DATABASE_URL",
        "postgresql",
    ),
    (
        {"redis_url": "redis://:hunter2@127.0.0.1:6379/0"},
        "redis",
        "redis",
        "PIXVAULT_REDIS_URL",
        "redis",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "module", "extra", "variable", "scheme"),
    NEEDS_EXTRA,
    ids=[case[2] for case in NEEDS_EXTRA],
)
def test_a_setting_needing_a_missing_extra_stops_start_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    overrides: dict[str, str],
    module: str,
    extra: str,
    variable: str,
    scheme: str,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # "not installed": import raises ImportError
    with pytest.raises(SettingsError) as caught:
        build_container(make_settings(tmp_path, **overrides))
    message = str(caught.value)
    assert message == (
        f"{variable}={scheme}://… needs the {extra} extra: pip install 'pixvault[{extra}]'"
    )
    assert "\n" not in message and "hunter2" not in message


def _run_python(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter, so modules imported by this test session do not hide an import."""
    environ = {**os.environ, **env, "PIXVAULT_DATA_DIR": str(tmp_path / "data")}
    environ.pop("PIXVAULT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


BLOCK_EXTRAS = (
    "import sys\nfor m in ('boto3', 'botocore', 'psycopg', 'redis'): sys.modules[m] = None\n"
)


def test_embedded_container_imports_no_extra(tmp_path: Path) -> None:
    code = BLOCK_EXTRAS + (
        "from pixvault.container import build_container\n"
        "from pixvault.settings import Settings\n"
        "from pixvault.web.app import create_app\n"
        "c = build_container(Settings(_env_file=None, secret_key='k' * 40))\n"
        "create_app(c.settings, c)\n"
        "c.api_limiter.hit('5/minute', 'x')\n"
        "c.close()\n"
        "print('built')\n"
    )
    done = _run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "built"


def test_cli_prints_the_missing_extra_as_one_line_and_exits_2(tmp_path: Path) -> None:
    code = BLOCK_EXTRAS + "from pixvault.cli import main\nsys.exit(main(['check-config']))\n"
    done = _run_python(code, tmp_path, PIXVAULT_STORAGE_URL="s3://bucket")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "pixvault: PIXVAULT_STORAGE_URL=s3://… needs the s3 extra: pip install 'pixvault[s3]'"
    )


def test_every_requirement_has_a_floor() -> None:
    found = floors()
    # The floors CI step found these; each is the first release with what the code uses.
    assert found["pydantic-settings"] == "2.7"
    assert found["python-multipart"] == "0.0.27"
    assert found["boto3"] == "1.36"
    assert found["setuptools"] == "77.0.1"
    assert "pixvault" not in found


def test_lock_pins_every_dependency() -> None:
    """Adding a dependency to pyproject.toml without `make lock` would install it unpinned."""
    text = (ROOT / "requirements" / "lock.txt").read_text()
    pinned = {
        re.sub(r"[-_.]+", "-", m[1]).lower()
        for m in re.finditer(r"^([A-Za-z0-9._-]+)==", text, re.M)
    }
    build_only = {"setuptools"}  # pip-compile leaves out build tools; the floors step pins it
    missing = set(floors()) - pinned - build_only
    assert not missing, f"run `make lock`: {sorted(missing)} not in requirements/lock.txt"
    # A path or URL pin (pip-compile's "pixvault @ file:///…" for the self-referencing dev
    # extra) names one machine's checkout: every other clone fails to install.
    assert not re.findall(r"^\S+ @ .*$", text, re.M)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("stamp", [".venv/.run-installed", ".venv/.dev-installed"])
def test_a_new_lock_reinstalls(stamp: str) -> None:
    """The stamps depend on the lock, and installs are constrained by it."""
    done = subprocess.run(
        ["make", "-n", "-W", "requirements/lock.txt", stamp],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pip install --quiet --constraint requirements/lock.txt -e " in done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_js_tests_fail_without_node_under_ci(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None
    environ = {"PATH": str(tmp_path), "CI": "true", "HOME": str(tmp_path)}  # no node on PATH
    done = subprocess.run(
        [make, "--no-print-directory", "-C", str(ROOT), "test-js"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "node is missing" in done.stderr


def test_warnings_are_errors() -> None:
    with pytest.raises(DeprecationWarning):
        warnings.warn("old", DeprecationWarning, stacklevel=1)
