"""The store as a state machine: two users upload, list, sign, download, fetch thumbnails and
delete while the blob store fails on cue, and a repair pass runs now and then; the six
durability invariants (tests/invariants.py) hold after every step.

Faults are drawn per step: the blob store's ``put``, ``delete`` or ``exists`` raises
``Unavailable`` either *before* doing anything or *after* doing its work (the reply was lost),
optionally only after the first few calls succeed. A step's background renders run under the
step's faults too (the step waits for them), so every run replays the same way.

Runs on the embedded stack (SQLite + local disk) and, with fewer examples, on the production
stack (PostgreSQL + SeaweedFS + Redis), each example on a fresh app and empty backends.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pixvault.core import keys
from pixvault.core.errors import Unavailable
from pixvault.core.ports import BlobStore
from pixvault.core.repair.service import Options
from tests import invariants
from tests.conftest import Api, backend_overrides, build_api
from tests.imagegen import make_image
from tests.services.postgres import truncate_all

# --- faults -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    when: Literal["before", "after"]
    """before: nothing was done; after: the work was done, then the reply was lost."""
    skip: int
    """Calls that still succeed before the fault (0: the first call fails)."""


@dataclass(frozen=True)
class Plan:
    put: Fault | None = None
    delete: Fault | None = None
    exists: Fault | None = None


NO_FAULTS = Plan()
FAULTS = st.sampled_from(
    [None, Fault("before", 0), Fault("after", 0), Fault("before", 1), Fault("after", 1)]
)
# Half of the steps run without faults, so that state builds up between the failures.
PLANS = st.just(NO_FAULTS) | st.builds(
    Plan,
    put=FAULTS,
    delete=FAULTS,
    exists=st.sampled_from([None, Fault("before", 0), Fault("before", 1)]),
)


class FaultInjector:
    """Wraps ``put``, ``delete`` and ``exists`` of one blob store *instance* (every service of
    the container shares it), failing them as the active plan says."""

    def __init__(self, blobs: BlobStore) -> None:
        self.plan = NO_FAULTS
        self.calls: dict[str, int] = {}
        self.fired: list[tuple[str, str]] = []  # (operation, key)
        self._lock = threading.Lock()
        for name in ("put", "delete", "exists"):
            setattr(blobs, name, self._wrap(name, getattr(blobs, name)))

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def faulty(key: str, *args: Any, **kwargs: Any) -> Any:
            fault: Fault | None = getattr(self.plan, name)
            with self._lock:
                seen = self.calls.get(name, 0)
                self.calls[name] = seen + 1
                if fault is not None and seen >= fault.skip:
                    self.fired.append((name, key))
                else:
                    fault = None
            if fault is None:
                return original(key, *args, **kwargs)
            if fault.when == "after":
                original(key, *args, **kwargs)
            raise Unavailable(f"injected fault: blob store {name}({key!r})")

        return faulty

    @contextmanager
    def active(self, plan: Plan) -> Iterator[None]:
        with self._lock:
            self.plan, self.calls, self.fired = plan, {}, []
        try:
            yield
        finally:
            with self._lock:
                self.plan = NO_FAULTS

    def fired_on(self, name: str, *, originals: bool) -> bool:
        """Whether a fault of ``name`` fired on an original's key (or on a derivative's)."""
        derived = f"{keys.DERIVED_ROOT}/"
        return any(
            op == name and key.startswith(derived) != originals for op, key in list(self.fired)
        )


# --- the machine ------------------------------------------------------------------------------

QUOTA = 3000
"""Bytes per user: a few uploads of the pictures below fill it, so uploads are refused for
quota (and let in again after a delete) within one run."""
FSCK_EVERY = 4
"""Steps at least between two repair passes (it is always enabled, so it would be drawn
as often as every other rule)."""
USERS = st.integers(0, 1)
PICTURES = st.builds(
    lambda fmt, size, shade: make_image(fmt, size, color=(shade, 255 - shade, 90), noise=0),
    fmt=st.sampled_from(["PNG", "JPEG"]),
    size=st.tuples(st.integers(1, 40), st.integers(1, 40)),
    shade=st.integers(0, 255),
)


@dataclass(frozen=True)
class Stored:
    owner: int
    sha256: str
    size: int


class StoreMachine(RuleBasedStateMachine):
    images = Bundle("images")

    def __init__(self, make_api: Callable[[], Iterator[Api]]) -> None:
        super().__init__()
        self._app = make_api()
        self.api = next(self._app)
        self.faults = FaultInjector(self.api.container.blobs)
        self.users = [self.api.signup(), self.api.signup()]
        self.live: dict[str, Stored] = {}
        """Every image whose upload was acknowledged (2xx) and that was not deleted."""
        self.thumbnails: dict[str, str] = {}
        self.steps = 0
        self.last_fsck = 0

    def teardown(self) -> None:
        """Every run ends with a fault-free repair pass: whatever the faults left behind is
        repaired, and the strict invariants hold."""
        try:
            self.repair_and_check()
        finally:
            self.api.container.derivatives.wait_idle(timeout=60)
            for _ in self._app:  # closes the client, then the container
                pass

    @property
    def acknowledged(self) -> dict[str, str]:
        return {image_id: stored.sha256 for image_id, stored in self.live.items()}

    @contextmanager
    def step(self, plan: Plan) -> Iterator[None]:
        """Inject ``plan``'s faults into the request and the renders it starts."""
        with self.faults.active(plan):
            yield
            assert self.api.container.derivatives.wait_idle(timeout=60)

    def owns(self, caller: int, image_id: str) -> bool:
        stored = self.live.get(image_id)
        return stored is not None and stored.owner == caller

    def used(self, owner: int) -> int:
        return sum(stored.size for stored in self.live.values() if stored.owner == owner)

    @rule(target=images, owner=USERS, files=st.lists(PICTURES, min_size=1, max_size=3), plan=PLANS)
    def upload(self, owner: int, files: list[bytes], plan: Plan) -> MultipleResults[str]:
        named = [(f"picture-{i}", data) for i, data in enumerate(files)]  # sniffed, not named
        with self.step(plan):
            r = self.api.upload(self.users[owner], *named)
        if self.used(owner) + sum(map(len, files)) > QUOTA:
            assert r.status_code == 413, r.text  # checked before a byte is stored
            assert r.json()["code"] == "quota_exceeded"
            return multiple()
        if self.faults.fired_on("put", originals=True):
            assert r.status_code == 503, r.text  # all or nothing: nothing was acknowledged
            return multiple()
        assert r.status_code == 200, r.text
        made = []
        for data, image in zip(files, r.json()["images"], strict=True):
            sha = hashlib.sha256(data).hexdigest()
            # No metadata to strip: stored byte for byte.
            assert image["uploadChecksums"]["sha256"] == sha and image["size"] == len(data)
            self.live[image["id"]] = Stored(owner, sha, len(data))
            self.thumbnails[image["id"]] = image["thumbnailUrl"]
            made.append(image["id"])
        return multiple(*made)

    @rule(owner=USERS)
    def list_images(self, owner: int) -> None:
        r = self.api.client.get(
            "/api/images/user", params={"limit": 100}, headers=self.users[owner]
        )
        assert r.status_code == 200, r.text
        mine = {image_id for image_id in self.live if self.owns(owner, image_id)}
        assert {image["id"] for image in r.json()["images"]} == mine
        assert r.json()["pagination"]["total"] == len(mine)

    @rule(
        image=images,
        caller=USERS,
        purpose=st.sampled_from(["view", "download"]),
        plan=PLANS,
    )
    def sign_and_download(self, image: str, caller: int, purpose: str, plan: Plan) -> None:
        with self.step(plan):  # reading never touches put, delete or exists
            r = self.api.client.post(
                "/api/images/presigned-url",
                headers=self.users[caller],
                json={"imageId": image, "purpose": purpose, "expiresIn": 300},
            )
            if not self.owns(caller, image):
                assert r.status_code == 404, r.text  # deleted, or someone else's
                return
            assert r.status_code == 200, r.text
            got = self.api.fetch(r.json()["url"])
        assert got.status_code == 200
        assert hashlib.sha256(got.content).hexdigest() == self.live[image].sha256

    @rule(image=images, plan=PLANS)
    def thumbnail(self, image: str, plan: Plan) -> None:
        """The signed thumbnail link from the upload: made on this fetch if missing."""
        with self.step(plan):
            r = self.api.client.get(self.thumbnails[image], follow_redirects=False)
            if r.status_code == 302:  # on S3: to the stored derivative
                r = self.api.fetch(r.headers["location"])
        if image not in self.live:
            assert r.status_code == 404, r.text
        elif r.status_code == 503:
            assert self.faults.fired_on("put", originals=False) or self.faults.fired_on(
                "exists", originals=False
            ), r.text
        else:
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "image/webp"

    @rule(image=images, caller=USERS, plan=PLANS)
    def delete(self, image: str, caller: int, plan: Plan) -> None:
        with self.step(plan):
            r = self.api.client.delete(f"/api/images/{image}", headers=self.users[caller])
        if not self.owns(caller, image):
            assert r.status_code == 404, r.text
            return
        # The row goes first: a blob store fault afterwards only leaves bytes for fsck.
        assert r.status_code == 200, r.text
        del self.live[image]

    @precondition(lambda self: self.steps - self.last_fsck >= FSCK_EVERY)
    @rule(plan=PLANS)
    def fsck(self, plan: Plan) -> None:
        self.last_fsck = self.steps
        try:
            self.repair_and_check(plan)
        except Unavailable:
            assert self.faults.fired, "the repair pass failed without an injected fault"
            # Stopped half-way: the invariants checked after every step still hold.

    def repair_and_check(self, plan: Plan = NO_FAULTS) -> None:
        """``pixvault fsck --repair --older-than 0s``, then the invariants, strictly."""
        container = self.api.container
        with self.step(plan):
            report = container.repair.run(Options(repair=True, grace=timedelta(0)))
        # Nothing here can lose bytes under a row, drift a quota or strand a reservation.
        assert report.missing_bytes.found == 0, report.as_dict()
        assert report.quota_drift.found == 0, report.as_dict()
        assert report.stale_reservations.found == 0, report.as_dict()
        assert report.problems_left == 0, report.as_dict()
        invariants.check(container, self.acknowledged, repaired=True)

    @invariant()
    def durable(self) -> None:
        self.steps += 1
        assert self.api.container.derivatives.wait_idle(timeout=60)
        invariants.check(self.api.container, self.acknowledged, repaired=False)

    @invariant()
    def quotas_are_exact(self) -> None:
        """What each user is charged, as the API reports it, is what the model holds for them."""
        for owner, headers in enumerate(self.users):
            r = self.api.client.get("/api/auth/me", headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["user"]["storageQuota"] == {"used": self.used(owner), "limit": QUOTA}


def run_machine(make_api: Callable[[], Iterator[Api]], *, examples: int, steps: int) -> None:
    class Machine(StoreMachine):  # what Hypothesis instantiates, once per example
        def __init__(self) -> None:
            super().__init__(make_api)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            database=None,
            derandomize=True,
        ),
    )


# A pass takes well under a minute. A failure is shrunk on a fresh app per attempt, which
# Hypothesis stops after 5 minutes: the timeout leaves room for that, so a failure is reported
# as its shortest program instead of as a timeout.
SHRINK_ROOM = pytest.mark.timeout(600)


@SHRINK_ROOM
def test_store_machine_on_the_embedded_stack(tmp_path: Path) -> None:
    counter = itertools.count()
    start = time.perf_counter()
    run_machine(
        lambda: build_api(tmp_path / f"example{next(counter)}", default_quota=QUOTA),
        examples=16,
        steps=30,
    )
    assert time.perf_counter() - start < 120


@SHRINK_ROOM
def test_store_machine_on_the_production_stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    postgres_url: str = request.getfixturevalue("postgres_url")
    counter = itertools.count()

    def make_api() -> Iterator[Api]:
        truncate_all(postgres_url)  # every example starts on empty tables
        overrides = backend_overrides(request, "production")  # a new store and Redis prefix
        return build_api(tmp_path / f"example{next(counter)}", default_quota=QUOTA, **overrides)

    start = time.perf_counter()
    run_machine(make_api, examples=5, steps=20)
    assert time.perf_counter() - start < 120
