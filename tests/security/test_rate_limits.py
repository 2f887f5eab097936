"""Section L: rate limiting, on both stacks (in-process memory limiter; Redis).

Every ``/api/`` request counts against ``PIXVAULT_RATE_LIMIT``, keyed ``user:<id>`` when the
bearer token is valid and ``ip:<client>`` otherwise (``web/ratelimit.py``); the client is the
socket peer unless it is a trusted proxy (``web/clientip.py``). The strategy is the ``limits``
library's moving window (``ratelimit/limiter.py``). Covered elsewhere and not repeated here:
the ``RateLimit-*`` headers and the unmetered health routes (``tests/web/test_ratelimit.py``),
several processes sharing Redis (``tests/cli/test_two_processes.py``) and the Redis outage
(``tests/web/test_redis_down.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx2

from pixvault.core.models import ImageQuery
from tests.conftest import Api
from tests.imagegen import make_image
from tests.security.oracles import assert_no_leak
from tests.security.test_quota import account, another_device

SPOOFABLE = (
    "X-Forwarded-For",
    "X_Forwarded_For",
    "Forwarded",
    "X-Real-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "X-Client-IP",
    "X-Cluster-Client-IP",
)
"""Headers a client can write to claim another address; only a trusted proxy's
``X-Forwarded-For`` is ever read."""


def _spoof(header: str, n: int) -> dict[str, str]:
    ip = f"198.51.100.{n % 250 + 1}"
    return {header: f'for="{ip}"' if header == "Forwarded" else ip}


def _refused(r: httpx2.Response, api: Api) -> None:
    """The 429 answer: the stable body, a usable ``Retry-After``, nothing leaked."""
    assert r.status_code == 429, r.text
    assert r.json() == {"error": "Rate limit exceeded", "code": "rate_limited"}
    assert int(r.headers["retry-after"]) >= 1 and r.headers["ratelimit-remaining"] == "0"
    assert_no_leak(r, api)


def _state(api: Api, user_id: str) -> tuple[frozenset[str], int, int, list[str]]:
    """``Api.state`` without a request: the caller's API budget is spent."""
    assert api.container.derivatives.wait_idle(timeout=60)
    db = api.container.database
    rows = db.image_repo.list(user_id, ImageQuery(page=1, limit=1)).total
    user = db.user_repo.get(user_id)
    assert user is not None
    spool = sorted(p.name for p in api.settings.spool_dir.iterdir())
    return frozenset(api.container.blobs.iter_keys()), rows, user.quota_used, spool


def _sleep_until_fraction(low: float) -> None:
    """Wait until the wall clock is ``low`` into a second: a clock-aligned fixed window and
    one that starts at the first hit then have the same boundaries."""
    now = time.time()
    wait = (math.floor(now) + low - now) % 1.0
    time.sleep(wait)


def test_l97_spoofed_client_ip_headers_do_not_change_the_key(
    api_factory: Callable[..., Api],
) -> None:
    """From an untrusted peer, no header moves the request to another budget. Behind a
    trusted proxy, only the hop the proxy appended counts: what the client wrote to the left
    of it, and every other header, is ignored."""
    direct = api_factory(rate_limit="3/minute", trusted_proxies="10.0.0.0/8")
    n = 0
    for header in SPOOFABLE:
        for _ in range(2):
            n += 1
            r = direct.client.get("/api/config", headers=_spoof(header, n))
            if n <= 3:
                assert r.status_code == 200, (header, r.text)
            else:
                _refused(r, direct)

    proxied = api_factory(rate_limit="2/minute", trusted_proxies="127.0.0.1/32")
    client = "203.0.113.5"
    for n, header in enumerate(SPOOFABLE, start=1):
        forged = f"198.51.100.{n}, {client}"  # the client's own header, then the proxy's hop
        headers = {
            "X-Forwarded-For": forged,
            **({} if header == "X-Forwarded-For" else _spoof(header, n)),
        }
        r = proxied.client.get("/api/config", headers=headers)
        if n <= 2:
            assert r.status_code == 200, (header, r.text)
        else:
            _refused(r, proxied)
    other = proxied.client.get("/api/config", headers={"X-Forwarded-For": "203.0.113.6"})
    assert other.status_code == 200  # another real client has its own budget


def test_l96_l98_a_burst_across_a_window_boundary_is_held_to_the_limit_until_retry_after(
    api_factory: Callable[..., Api],
) -> None:
    """Moving window, documented: 2 x limit requests straddling a window boundary (one just
    after a whole second, two late in that second, three just after the next one) get only
    ``limit`` in any one second. A fixed window, aligned to the clock or to the first hit,
    would let all six through. The 429 carries ``Retry-After``, and waiting exactly that long
    is enough."""
    api = api_factory(rate_limit="3/second")
    _sleep_until_fraction(0.02)
    start = time.monotonic()

    def at(offset: float) -> None:
        time.sleep(max(0.0, start + offset - time.monotonic()))

    early = [api.client.get("/api/config")]
    at(0.6)
    early += [api.client.get("/api/config") for _ in range(2)]
    at(1.1)
    late = [api.client.get("/api/config") for _ in range(3)]
    assert time.monotonic() - start < 1.55, "too slow to test a one-second window"
    assert [r.status_code for r in early] == [200] * 3
    assert late[0].status_code == 200, late[0].text  # the first hit has left the window
    for r in late[1:]:
        _refused(r, api)  # the two from 0.6 s have not
    retry_after = int(late[-1].headers["retry-after"])
    assert retry_after == 1  # the window is one second: never more than that
    time.sleep(retry_after)
    again = api.client.get("/api/config")
    assert again.status_code == 200, again.text


def test_l100_uploads_signed_links_and_variants_spend_the_callers_own_budget(
    api_factory: Callable[..., Api],
) -> None:
    """The expensive operations are metered like every API call (no separate limit or
    weight): per account across all its devices, not per token or per IP. A refused upload
    stores nothing; another account on the same IP, and that IP's anonymous budget, are
    untouched."""
    api = api_factory(rate_limit="7/minute")
    phone, uid = account(api)
    laptop = another_device(api, uid)
    other, _ = account(api)

    up = api.upload(phone, ("a.png", make_image("PNG", (40, 30))))
    assert up.status_code == 200, up.text
    image_id = up.json()["images"][0]["id"]
    signed = api.client.post(
        "/api/images/presigned-url", headers=laptop, json={"imageId": image_id}
    )
    assert signed.status_code == 200, signed.text
    variant = api.client.get(
        f"/api/images/{image_id}/variant?w=200&format=jpeg",
        headers=phone,
        follow_redirects=False,
    )
    assert variant.status_code in (200, 302)
    assert api.upload(laptop, ("b.png", make_image("PNG", (41, 30)))).status_code == 200
    assert api.client.get("/api/images/user", headers=phone).status_code == 200
    for _ in range(2):
        assert api.client.get("/api/auth/me", headers=laptop).status_code == 200  # 7 of 7

    before = _state(api, uid)
    r = api.upload(laptop, ("c.png", make_image("PNG", (42, 30))))
    _refused(r, api)
    assert _state(api, uid) == before
    _refused(
        api.client.post("/api/images/presigned-url", headers=phone, json={"imageId": image_id}), api
    )

    assert api.upload(other, ("d.png", make_image("PNG", (43, 30)))).status_code == 200
    assert api.client.get("/api/config").status_code == 200  # the IP's own budget
