"""Settings as an operator meets them: the generated key, bad values, typos, AWS fallbacks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pixvault.settings import (
    MIN_SECRET_BYTES,
    Settings,
    SettingsError,
    load_settings,
    unknown_variables,
)
from tests.cli.server import clean_env, run_cli

_RESOLVE = """
import sys, time
from pathlib import Path
from pixvault.settings import Settings
start = float(sys.argv[2])
while time.time() < start:  # all processes read and create the key at the same instant
    pass
key = Settings(_env_file=None, data_dir=Path(sys.argv[1])).resolved_secret_key()
print(key.decode())
"""


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg,arg-type]


def test_parallel_first_starts_agree_on_one_strong_key(tmp_path: Path) -> None:
    """Six processes starting at once on a fresh data dir: none crashes, none runs with an
    empty key, and all sign with the same one."""
    for trial in range(12):  # the old code failed about one trial in three
        data = tmp_path / f"d{trial}"
        start = time.time() + 0.8
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _RESOLVE, str(data), str(start)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
        keys = {out.strip() for out, _ in outputs}
        assert len(keys) == 1
        assert len(keys.pop()) >= MIN_SECRET_BYTES
        assert [p.name for p in data.iterdir()] == ["secret_key"]  # no temp files left
        assert (data / "secret_key").stat().st_mode & 0o777 == 0o600


def test_short_secret_key_is_refused_with_the_minimum(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"PIXVAULT_SECRET_KEY: must be at least 32 bytes"):
        load_settings(_env_file=None, data_dir=tmp_path, secret_key="k" * 31)
    assert _settings(secret_key="k" * 32).resolved_secret_key() == b"k" * 32


@pytest.mark.parametrize("content", ["", "\n", "short"])
def test_empty_or_short_stored_key_stops_start_up(tmp_path: Path, content: str) -> None:
    (tmp_path / "secret_key").write_text(content)
    with pytest.raises(SettingsError, match="shorter than 32 bytes"):
        _settings(data_dir=tmp_path).resolved_secret_key()


def test_unset_and_empty_optional_settings_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXVAULT_REDIS_URL", "")
    settings = _settings()
    assert settings.redis_url is None
    assert settings.database_url is None
    assert settings.public_url is None
    assert settings.s3_region is None


def test_aws_variables_are_the_s3_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "aws-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    settings = _settings()
    assert settings.s3_access_key_id == "aws-access"
    assert settings.s3_secret_access_key == "aws-secret"
    assert settings.s3_region == "eu-central-1"
    monkeypatch.setenv("PIXVAULT_S3_ACCESS_KEY_ID", "ours")
    monkeypatch.setenv("AWS_REGION", "us-west-2")  # AWS_REGION before AWS_DEFAULT_REGION
    settings = _settings()
    assert settings.s3_access_key_id == "ours"
    assert settings.s3_region == "us-west-2"


def test_misspelt_variables_are_named_with_the_closest_setting() -> None:
    found = unknown_variables(
        {"PIXVAULT_MAX_FILESIZE": "1", "PIXVAULT_DATA_DIR": "x", "PIXVAULT_BANANA": "1"}
    )
    assert found == [
        "unknown setting PIXVAULT_BANANA is ignored",
        "unknown setting PIXVAULT_MAX_FILESIZE is ignored (did you mean PIXVAULT_MAX_FILE_SIZE?)",
    ]


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=clean_env(tmp_path / "data", **env), cwd=tmp_path)


def test_serve_warns_about_a_misspelt_variable(tmp_path: Path) -> None:
    done = _cli(tmp_path, "db", "upgrade", PIXVAULT_REDISURL="redis://127.0.0.1:6379")
    assert done.returncode == 0, done.stderr
    assert (
        "unknown setting PIXVAULT_REDISURL is ignored (did you mean PIXVAULT_REDIS_URL?)"
        in done.stderr
    )


@pytest.mark.parametrize(
    "url", ["not a url", "postgresql://u@host:port/db", "nosuchdb://x/y", "://"]
)
def test_malformed_database_url_is_one_line(tmp_path: Path, url: str) -> None:
    done = _cli(tmp_path, "db", "upgrade", PIXVAULT_DATABASE_URL=url)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if not line.startswith("INFO ")]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pixvault: invalid setting PIXVAULT_DATABASE_URL: ")
    assert "Traceback" not in done.stderr
