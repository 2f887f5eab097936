"""Real servers for the tests, on 127.0.0.1: PostgreSQL, SeaweedFS (S3) and Redis.

Each module provides session-scoped fixtures. When a server cannot be had: with CI=true the
test fails with a clear message; on a developer machine it is skipped with the reason.
"""

from __future__ import annotations

import os

import pytest


def unavailable(what: str, why: str) -> None:
    """Fail loudly in CI, skip (with the reason) elsewhere: never a silent skip in CI."""
    message = f"{what} is not available: {why}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
