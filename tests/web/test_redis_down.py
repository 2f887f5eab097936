"""With Redis gone mid-run: API routes fail open, sign-in falls back to per-process limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import PASSWORD, build_api


def test_redis_outage_fails_open_and_keeps_login_throttled(
    tmp_path: Path, private_redis: Any
) -> None:
    gen = build_api(
        tmp_path / "data",
        redis_url=private_redis.url,
        rate_limit="1000/minute",
        auth_rate_limit="3/minute",
    )
    api = next(gen)
    try:
        h = api.signup("r@example.com")  # 2 auth attempts counted in Redis
        assert api.client.get("/api/images/user", headers=h).status_code == 200
        private_redis.stop()
        for _ in range(5):
            r = api.client.get("/api/images/user", headers=h)
            assert r.status_code == 200, r.text
        metrics = api.client.get("/metrics").text
        line = next(x for x in metrics.splitlines() if "fail_open" in x and not x.startswith("#"))
        assert int(line.split()[-1]) >= 5
        # sign-in keeps a limit: the in-process fallback allows 3, then refuses
        codes = [
            api.client.post(
                "/api/auth/login", json={"email": "r@example.com", "password": PASSWORD}
            ).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
    finally:
        for _ in gen:
            pass
