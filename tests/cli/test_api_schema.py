"""A bounded schemathesis run against a live `pixvault serve`: the document is the contract.

Every operation is fuzzed from /openapi.json, with valid and with invalid input, a real bearer
token and a real image. Each answer must be no 5xx, a documented status, the documented
content type and a body that matches the documented schema. Sign-out is left out: it would
revoke the run's token (its behaviour is covered in tests/web/test_auth.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from tests.cli.server import clean_env, serve
from tests.imagegen import make_image

PASSWORD = "correct horse battery"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Live:
    def __init__(self, base: str, headers: dict[str, str], image_id: str) -> None:
        self.base = base
        self.headers = headers
        self.image_id = image_id


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("schema")
    env = clean_env(
        tmp / "data",
        PIXVAULT_RATE_LIMIT="1000000/hour",
        PIXVAULT_AUTH_RATE_LIMIT="1000000/minute",
    )
    with serve(env, tmp / "server.log") as base:
        creds = {"email": "fuzz@example.com", "password": PASSWORD}
        assert httpx.post(f"{base}/api/auth/register", json=creds).status_code == 201
        token = httpx.post(f"{base}/api/auth/login", json=creds).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        png = make_image("PNG", (16, 16))
        r = httpx.post(
            f"{base}/api/images/upload", headers=headers, files=[("files", ("a.png", png))]
        )
        assert r.status_code == 200, r.text
        yield Live(base, headers, r.json()["images"][0]["id"])


CASES_PER_OPERATION = 12
"""Valid and invalid input for each of 14 operations: about 300 cases, well under a minute."""


def test_every_answer_matches_the_document(live: Live) -> None:
    schema = schemathesis.openapi.from_url(f"{live.base}/openapi.json")
    operations = []
    for result in schema.exclude(path="/api/auth/logout").get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 10
    turn = itertools.count()
    for operation, mode in itertools.product(operations, GenerationMode):
        has_input = bool(list(operation.iter_parameters()) or list(operation.body))
        if mode is GenerationMode.NEGATIVE and not has_input:
            continue  # nothing to make invalid

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def check(case: Case[Any]) -> None:
            params = case.path_parameters
            if params and "image_id" in params and case.method != "DELETE" and next(turn) % 2:
                # Half the cases aim at an image that exists, so 200s are checked too.
                params["image_id"] = live.image_id
            case.call_and_validate(headers=live.headers, checks=CHECKS, timeout=30)

        check()
