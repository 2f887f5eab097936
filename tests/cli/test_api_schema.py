"""`schemathesis run --mode all` with links and auth, bounded, against a live `pixvault serve`.

The OpenAPI document is the contract. Three tests share one server, one real user and its
real bearer token:

- every operation on its own, with valid and with invalid input (Python API, fuzzing);
- schemathesis' own CLI, coverage phase: each documented bound, enum and required field,
  just inside and just outside;
- the stateful phase, which follows the document's OpenAPI links (web/openapi.py): an
  upload's image id goes on to its detail, edit, signed link, access log, variant and delete,
  and a deleted id back to the detail, edit and access log.

Each runs every check the reliability checklist names (N102): no 5xx, a documented status,
the documented content type, a body that matches the documented schema, invalid input
refused (`negative_data_rejection`), a deleted image gone (`use_after_free`) and auth
enforced (`ignored_auth`: each operation that declares the bearer scheme and answers 2xx is
sent again with no token and with a wrong one, and must refuse both).

Sign-out is left out: it would revoke the run's token (tests/web/test_auth.py covers it).
Registration and login are fuzzed: the fixture raises their rate limits.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation.stateful.state_machine import StepInput, StepOutput
from schemathesis.specs.openapi.schemas import OpenApiSchema

from pixvault.web.openapi import TARGETS
from tests.cli.server import clean_env, serve
from tests.imagegen import make_image

PASSWORD = "correct horse battery"
UPLOAD = "POST /api/images/upload"
UPLOAD_REFUSALS = [
    *("400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx")
]
"""What `negative_data_rejection` accepts as a refusal of an invalid upload: schemathesis'
default list plus 413. More files than the server takes (PIXVAULT_MAX_FILES_PER_UPLOAD, a
setting, so the document cannot give it as maxItems) is refused with the documented 413
"too_many_files", before anything is stored; the check does not know 413 is a refusal."""
SIGN_OUT = "/api/auth/logout"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    use_after_free,
    ignored_auth,
]


class Live:
    def __init__(self, base: str, token: str, image_id: str) -> None:
        self.base = base
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}
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
        png = make_image("PNG", (16, 16))
        r = httpx.post(
            f"{base}/api/images/upload",
            headers={"Authorization": f"Bearer {token}"},
            files=[("files", ("a.png", png))],
        )
        assert r.status_code == 200, r.text
        yield Live(base, token, r.json()["images"][0]["id"])


def load(live: Live) -> OpenApiSchema:
    """The served document, with the run's token as the bearer scheme's credential.

    The config is explicit, so a developer's schemathesis.toml cannot change what runs. The
    token is never generated (``with-security-parameters``): it is always the real one, and
    invalid input goes where it tests something, not into a header that only earns a 401
    (the G54 test tries every kind of bad token on every operation)."""
    config = SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"bearer": {"bearer": live.token}}},
            "generation": {"mode": "all", "database": "none", "with-security-parameters": False},
            # Only the document's own links: inferred ones would make the run depend on
            # schemathesis' heuristics of the day.
            "phases": {"stateful": {"inference": {"algorithms": []}}},
            "operations": [
                {
                    "include-path": "/api/images/upload",
                    "checks": {"negative_data_rejection": {"expected-statuses": UPLOAD_REFUSALS}},
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_url(f"{live.base}/openapi.json", config=config)
    assert isinstance(schema, OpenApiSchema)
    excluded = schema.exclude(path=SIGN_OUT)
    assert isinstance(excluded, OpenApiSchema)
    return excluded


def half(case: Case[Any]) -> bool:
    """True for half the cases, decided by the generated case alone (not by a counter), so a
    case replays identically: Hypothesis re-runs draws when it shrinks a failure, and a
    stateful scenario whose replay meets a different server answer fails as flaky."""
    drawn = (case.path_parameters, case.query, case.body)
    return zlib.crc32(repr(drawn).encode()) % 2 == 0


CASES_PER_OPERATION = 12
"""Valid and invalid input for each of 17 operations: about 350 cases, in seconds."""
UNNEGATABLE = {"GET /api/images/{image_id}", "DELETE /api/images/{image_id}"}
"""Their only input is an unconstrained string in the path: there is no invalid value to
send, and `schemathesis run` skips their negative cases the same way."""


def test_every_answer_matches_the_document(live: Live) -> None:
    operations = []
    for result in load(live).get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) >= 10
    skipped = set()
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
            # Half the cases aim at an image that exists, so 200s and the bounds of the other
            # fields are checked too. Assigning (not editing in place) makes schemathesis
            # re-judge the case: one whose only invalid part was the id is valid from then on.
            params = case.path_parameters
            if params and "image_id" in params and case.method != "DELETE" and half(case):
                case.path_parameters = {**params, "image_id": live.image_id}
            body = case.body
            if isinstance(body, dict) and "imageId" in body and half(case):
                case.body = {**body, "imageId": live.image_id}
            case.call_and_validate(headers=live.headers, checks=CHECKS, timeout=30)

        try:
            check()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE and operation.label in UNNEGATABLE, operation
            skipped.add(operation.label)
    assert skipped == UNNEGATABLE


def test_the_coverage_phase_of_schemathesis_run_finds_nothing(live: Live, tmp_path: Path) -> None:
    """The CLI itself, so the run is what `schemathesis run --mode all` does, bounds included
    (random fuzzing seldom lands exactly one past a maximum). The token comes from the
    environment through the config file, not the command line; the working directory is
    empty, so no other schemathesis.toml is read and nothing is left behind."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        'headers = { Authorization = "Bearer ${PIXVAULT_FUZZ_TOKEN}" }\n'
        "[generation]\nwith-security-parameters = false\n"
        # Every image id in a path is a real image (one of its own, as the run deletes it),
        # so the bounds of the query and body are judged by the operation, not met with a
        # 404. (This phase ignores fixed body values: the signed-link request's imageId is
        # the fuzzing pass's to fill in.)
        '[parameters]\n"path.image_id" = "${PIXVAULT_FUZZ_IMAGE}"\n'
        '[[operations]]\ninclude-path = "/api/images/upload"\n'
        f"checks.negative_data_rejection.expected-statuses = {json.dumps(UPLOAD_REFUSALS)}\n"
    )
    upload = httpx.post(
        f"{live.base}/api/images/upload",
        headers=live.headers,
        files=[("files", ("c.png", make_image("PNG", (20, 20))))],
    )
    assert upload.status_code == 200, upload.text
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "--no-color"),
        *("run", f"{live.base}/openapi.json", "--phases", "coverage", "--mode", "all"),
        *("--checks", ",".join(check.__name__ for check in CHECKS)),
        *("--exclude-path", SIGN_OUT, "--generation-database", "none", "--seed", "1"),
    ]
    image = upload.json()["images"][0]["id"]
    env = {**os.environ, "PIXVAULT_FUZZ_TOKEN": live.token, "PIXVAULT_FUZZ_IMAGE": image}
    r = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert r.returncode == 0, r.stdout[-20000:] + r.stderr[-5000:]
    assert "Coverage" in r.stdout and " passed" in r.stdout, r.stdout


SCENARIOS = 40
STEPS = 8
"""40 scenarios of up to 8 calls: every link is followed, about 300 calls in a few seconds."""


def test_linked_operations_chain_real_ids(live: Live) -> None:
    png = make_image("PNG", (24, 16))
    followed: list[tuple[str, int]] = []

    class Workflow(load(live).as_state_machine()):  # type: ignore[misc]
        """Schemathesis' state machine for the document's links, with two changes: it runs
        N102's checks, and every other valid upload sends a real PNG. Generated bytes are
        never an image, so without it no link would ever carry an id that exists."""

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            # The PNG is the request's body (``files``), which leaves the case and its
            # metadata as generated: assigning ``case.body`` would make schemathesis re-judge
            # the case, and as it cannot validate bytes it would call the upload invalid.
            valid = case.meta is not None and case.meta.generation.mode.is_positive
            if case.operation.label == UPLOAD and valid and half(case):
                return {"timeout": 30, "files": [("files", ("a.png", png, "image/png"))]}
            return {"timeout": 30}

        def step(self, input: StepInput) -> StepOutput:
            output: StepOutput = super().step(input)
            if input.transition is not None and input.is_applied:
                followed.append((input.transition.id, output.response.status_code))
            return output

        def validate_response(
            self,
            response: Response,
            case: Case[Any],
            additional_checks: list[Any] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(
                response, checks=CHECKS, transport_kwargs=kwargs, recorder=self.recorder
            )

    Workflow.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
    )
    # The links carried real ids: each one reached its operation, which answered 2xx (from
    # an upload, or from a detail or edit of one), and a deleted id was read again, which
    # is what `use_after_free` judges.
    succeeded = {link for link, status in followed if 200 <= status < 300}
    for name in TARGETS:
        assert any(f"] {name} -> " in link for link in succeeded), (name, followed)
    assert any(link.startswith(f"{UPLOAD} -> ") for link in succeeded), followed
    assert any(link.startswith("DELETE ") and status == 404 for link, status in followed)
