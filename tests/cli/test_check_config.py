"""`pixvault check-config`: each backend is asked, and a silent one is named with its reason."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pixvault.core.errors import Unavailable
from pixvault.ratelimit.ping import ping_redis
from tests.cli.server import clean_env, free_port, run_cli


def _check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("check-config", env=clean_env(tmp_path / "data", **env))


def test_embedded_stack_is_all_ok(tmp_path: Path) -> None:
    assert run_cli("db", "upgrade", env=clean_env(tmp_path / "data")).returncode == 0
    done = _check(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ok   database") and "schema at head" in lines[0]
    assert lines[1].startswith("ok   blob store")
    assert lines[2] == "ok   rate limits  memory: in-process (single API process only)"


def test_several_workers_share_limits_in_a_file(tmp_path: Path) -> None:
    done = _check(tmp_path, PIXVAULT_WORKERS="3")
    assert done.returncode == 0, done.stdout + done.stderr
    limits_file = (tmp_path / "data" / "ratelimit.sqlite3").resolve()
    assert f"ok   rate limits  {limits_file}: shared by this host's 3 workers" in done.stdout


def test_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    done = _check(tmp_path)
    assert done.returncode == 0
    assert "run `pixvault db upgrade`" in done.stdout


def test_redis_that_does_not_answer_fails_with_its_reason(tmp_path: Path, redis_url: str) -> None:
    down = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    done = _check(tmp_path, PIXVAULT_REDIS_URL=down)
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "rate limits" in x)
    assert line.startswith("FAIL rate limits") and "Redis does not answer (" in line
    assert "hunter2" not in done.stdout + done.stderr  # the password is redacted
    ok = _check(tmp_path, PIXVAULT_REDIS_URL=redis_url)
    assert "ok   rate limits" in ok.stdout


def test_ping_raises_unavailable_like_every_adapter() -> None:
    with pytest.raises(Unavailable) as raised:
        ping_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    assert raised.value.__cause__ is not None
