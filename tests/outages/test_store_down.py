"""The object store fails: the upload is a clean 503 and leaves nothing behind.

SeaweedFS (S3) is the real store, reached through a proxy that refuses connections (store
down), resets connections that carry an upload (store failing mid-upload: small requests such
as the undo's DELETE still pass), or lets every request through and loses every reply (the store
kept the bytes, the app never heard). In each case: 503 JSON, no row, quota unchanged, no object
left, spool empty; and the next upload works once the store is back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, build_api
from tests.imagegen import make_image
from tests.outages.conftest import Proxied, s3_settings
from tests.outages.support import (
    assert_consistent,
    assert_outage_answer,
    noise_png,
    timed,
    wait_until,
)
from tests.services.seaweed import SeaweedServer

FAULTS = ["refuse", "cut_mid_upload", "lose_replies"]


@pytest.fixture
def s3_api(tmp_path: Path, seaweed: SeaweedServer, s3_proxied: Proxied) -> Iterator[Api]:
    """The embedded stack but for the blob store: SeaweedFS through the proxy."""
    gen = build_api(
        tmp_path / "data",
        background_derivatives=False,  # nothing but the upload talks to the store
        **s3_settings(seaweed, s3_proxied.url),
    )
    yield next(gen)
    for _ in gen:
        pass


@pytest.mark.parametrize("fault", FAULTS)
def test_store_failure_during_upload_is_a_clean_503(
    s3_api: Api, s3_proxied: Proxied, fault: str
) -> None:
    h = s3_api.signup()
    assert s3_api.upload(h, ("kept.png", make_image("PNG", (16, 16)))).status_code == 200
    before = s3_api.state(h)
    small = ("small.png", make_image("PNG", (16, 16)))  # one request, passes any cut
    big = ("big.png", noise_png(300_000))  # several proxy reads: cut in the middle

    proxy = s3_proxied.proxy
    if fault == "refuse":
        proxy.refuse()
    elif fault == "cut_mid_upload":
        proxy.cut_requests(after=64 * 1024)
    else:
        proxy.drop_replies()
    r = s3_api.upload(h, small, big)
    assert_outage_answer(r)
    assert "store" in r.json()["error"].lower()
    # Reads that need no bytes go on; readiness tells the truth (a store that only breaks
    # big requests still answers its small probe).
    assert s3_api.client.get("/api/images/user", headers=h).status_code == 200
    ready = s3_api.client.get("/readyz").status_code
    assert ready == (200 if fault == "cut_mid_upload" else 503)

    proxy.forward()
    wait_until(lambda: s3_api.client.get("/readyz").status_code == 200)
    assert s3_api.state(h) == before  # no row, no object (not even the small one), same quota
    assert_consistent(s3_api)
    assert s3_api.upload(h, small, big).status_code == 200
    assert_consistent(s3_api)


def test_a_hung_store_fails_the_upload_in_bounded_time(
    tmp_path: Path, seaweed: SeaweedServer, s3_proxied: Proxied
) -> None:
    """A store that accepts connections and never answers (a frozen server) costs an upload
    about ``attempts × PIXVAULT_S3_TIMEOUT`` per call, then a clean 503: not minutes."""
    gen = build_api(
        tmp_path / "data",
        background_derivatives=False,
        s3_timeout=0.5,
        **s3_settings(seaweed, s3_proxied.url),
    )
    api = next(gen)
    try:
        h = api.signup()
        before = api.state(h)
        s3_proxied.proxy.blackhole()
        r, took = timed(lambda: api.upload(h, ("hung.png", make_image("PNG", (16, 16)))))
        assert_outage_answer(r)
        # The put and the undo's delete each try three times, half a second each, plus backoff.
        assert took < 15, f"a hung store held the upload {took:.1f} s"
        s3_proxied.proxy.forward()
        wait_until(lambda: api.client.get("/readyz").status_code == 200)
        assert api.state(h) == before
        assert_consistent(api)
    finally:
        for _ in gen:
            pass
