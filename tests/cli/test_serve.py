"""`pixvault serve` as a real process: start-up, a full round trip, parallel uploads, CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.server import clean_env, free_port, race_uploads, run_cli, serve
from tests.imagegen import make_image

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("serve")
    env = clean_env(tmp / "data", PIXVAULT_DEFAULT_QUOTA="60000")
    with serve(env, tmp / "server.log") as base:
        yield base, env


def _login(base: str, email: str) -> dict[str, str]:
    httpx.post(f"{base}/api/auth/register", json={"email": email, "password": PASSWORD})
    r = httpx.post(f"{base}/api/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['accessToken']}"}


def test_serve_round_trip(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert "pixvault" in httpx.get(f"{base}/").text
    h = _login(base, "round@example.com")
    data = make_image("JPEG", (120, 80))
    r = httpx.post(f"{base}/api/images/upload", headers=h, files=[("files", ("a.jpg", data))])
    assert r.status_code == 200, r.text
    img = r.json()["images"][0]
    assert img["url"].startswith(base + "/files/")
    assert httpx.get(img["url"]).content == data
    assert "server" not in httpx.get(f"{base}/healthz").headers
    assert httpx.delete(f"{base}/api/images/{img['id']}", headers=h).status_code == 200


def test_forwarded_for_is_not_trusted_by_default(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    h = _login(base, "xff@example.com")
    data = make_image("PNG", (8, 8))
    image_id = httpx.post(
        f"{base}/api/images/upload", headers=h, files=[("files", ("a.png", data))]
    ).json()["images"][0]["id"]
    httpx.post(
        f"{base}/api/images/presigned-url",
        json={"imageId": image_id},
        headers={**h, "X-Forwarded-For": "203.0.113.7"},
    )
    log = httpx.get(f"{base}/api/images/{image_id}/access-log", headers=h).json()
    assert log["entries"][0]["ip"] == "127.0.0.1"


def test_parallel_uploads_respect_quota(server: tuple[str, dict[str, str]]) -> None:
    """16 uploads race for a 60 kB quota: used never passes it and equals what was stored."""
    base, _ = server
    h = _login(base, "race@example.com")
    race_uploads([base], h, quota=60_000)


def test_cli_users_create_and_db_upgrade(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    r = run_cli("db", "upgrade", env=env)
    assert r.returncode == 0, r.stderr
    r = run_cli(
        "users",
        "create",
        "Boss@Example.com",
        "--password-stdin",
        "--admin",
        "--quota",
        "5000",
        env=env,
        stdin="s3cret-password\n",
    )
    assert r.returncode == 0, r.stderr
    assert "admin boss@example.com" in r.stdout and "quota 5000" in r.stdout
    r = run_cli(
        "users", "create", "boss@example.com", "--password-stdin", env=env, stdin="another-pass\n"
    )
    assert r.returncode == 1 and "already" in r.stderr.lower()
    r = run_cli("users", "create", "weak@example.com", "--password-stdin", env=env, stdin="short\n")
    assert r.returncode == 1 and "Password" in r.stderr
    r = run_cli("users", "create", "neg@example.com", "--quota", "-5", env=env, stdin="x\n")
    assert r.returncode == 2 and "quota cannot be negative" in r.stderr


def test_invalid_setting_stops_startup_with_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data", PIXVAULT_MAX_FILE_SIZE="ten megabytes")
    r = run_cli("serve", "--port", str(free_port()), env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "PIXVAULT_MAX_FILE_SIZE" in lines[0]
