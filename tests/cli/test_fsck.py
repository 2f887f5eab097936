"""`pixvault fsck` as an operator runs it: table or JSON, and exit statuses scripts can use."""

from __future__ import annotations

import json
import re
from pathlib import Path

import sqlalchemy as sa

from pixvault.core import keys
from pixvault.storage.local import LocalBlobStore
from tests.cli.server import clean_env, free_port, run_cli


def _account(env: dict[str, str], email: str) -> str:
    made = run_cli("users", "create", email, "--password-stdin", env=env, stdin="pw-123456789\n")
    assert made.returncode == 0, made.stderr
    found = re.search(r"\(id ([0-9a-f-]{36})", made.stdout)
    assert found is not None
    return found[1]


def test_fsck_reports_repairs_and_exits_by_what_is_left(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(data, PIXVAULT_SECRET_KEY="s" * 40)
    user_id = _account(env, "owner@example.com")
    assert run_cli("fsck", env=env).returncode == 0  # a fresh install is clean

    orphan = keys.storage_key(user_id, keys.new_id(), "png")
    src = tmp_path / "lone.png"
    src.write_bytes(b"\x89PNG lone bytes")
    LocalBlobStore(data / "blobs", b"k").put(orphan, src, size=15, content_type="image/png")
    engine = sa.create_engine(f"sqlite:///{data / 'pixvault.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE users SET quota_used = 999"))
    engine.dispose()

    young = run_cli("fsck", env=env)  # default grace 1 h: the lone bytes may be an upload
    assert young.returncode == 1, young.stdout + young.stderr
    assert re.search(r"users with quota drift\s+1\s+0\s+1", young.stdout)
    assert "1 unreferenced keys left alone as too young" in young.stdout
    assert "(run with --repair)" in young.stdout

    listed = run_cli("fsck", "--older-than", "0s", "--json", env=env)
    assert listed.returncode == 1
    report = json.loads(listed.stdout)
    assert report["orphan originals"] == {"found": 1, "repaired": 0, "samples": [orphan]}
    assert report["problems_left"] == 2

    fixed = run_cli("fsck", "--repair", "--older-than", "0s", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "clean after repair" in fixed.stdout
    assert not (data / "blobs" / orphan).exists()
    assert run_cli("fsck", "--user", "OWNER@example.com", env=env).returncode == 0


def test_fsck_errors_exit_2(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", PIXVAULT_SECRET_KEY="s" * 40)
    _account(env, "owner@example.com")
    unknown = run_cli("fsck", "--user", "nobody@example.com", env=env)
    assert unknown.returncode == 2 and "no account nobody@example.com" in unknown.stderr
    bad_age = run_cli("fsck", "--older-than", "soon", env=env)
    assert bad_age.returncode == 2 and "not a duration" in bad_age.stderr
    closed = f"postgresql://pixvault@127.0.0.1:{free_port()}/nothing"
    down = run_cli("fsck", env={**env, "PIXVAULT_DATABASE_URL": closed})
    assert down.returncode == 2, down.stdout + down.stderr
    assert "Traceback" not in down.stderr
