"""Our presigned S3 links, byte for byte, against botocore's own presigner.

Hundreds of seeded random cases (keys, filenames, endpoints, partitions, expiries): host, path,
query order and signature must all be identical, so a link works wherever botocore's would and
points where the store's uploads go. Pure computation: no server, well under a second.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import botocore.auth
import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pixvault.core import keys
from pixvault.core.names import content_disposition
from pixvault.storage.s3 import S3BlobStore
from pixvault.storage.sigv4 import QueryPresigner, SigningCredentials, bucket_url, uri_encode

SEED = 20240506
CASES = 300

# (endpoint_url, region, bucket): AWS in four partitions and custom endpoints of every shape.
ENDPOINTS: list[tuple[str | None, str, str]] = [
    (None, "us-east-1", "pix-vault"),
    (None, "eu-west-1", "pix-vault"),
    (None, "cn-north-1", "pix-vault"),
    (None, "us-gov-west-1", "pix-vault"),
    (None, "ap-southeast-2", "pix.vault"),  # dotted: path-style
    (None, "us-east-1", "Legacy_Bucket"),  # not a DNS label: path-style
    ("http://127.0.0.1:8333", "us-east-1", "pix"),
    ("https://minio.example.com:9443/s3/", "eu-central-1", "pix"),
    ("https://storage.example.com/a/./b//c/../d", "us-west-2", "pix.vault"),
    ("http://[::1]:9000", "us-east-1", "pix"),
    ("http://[2001:db8::7]/", "us-east-1", "pix"),
    ("https://r2.example.com:443", "auto", "pix"),  # a default port stays in the URL only
    ("http://MinIO.Example.COM:80", "us-east-1", "b-1"),
]
PREFIXES = ["", "images", "sp ä+x/deep/er"]
NAME_CHARS = "aZ09 _-.~'\"\\;,=&?#%+/()[]{}<>|*!@$^`:\r\n\tüßé中文🌊\u202e\u00a0"


def _id(rng: random.Random) -> str:
    """A valid UUIDv7 drawn from the seeded generator (keys.new_id uses os.urandom)."""
    h = f"{rng.getrandbits(48):012x}7{rng.getrandbits(12):03x}{rng.choice('89ab')}"
    h += f"{rng.getrandbits(60):015x}"
    value = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    assert keys.is_id(value), value
    return value


def _filename(rng: random.Random) -> str:
    return "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(0, 40)))


@pytest.fixture
def frozen_botocore(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """botocore's signing clock, set by the test; no profile or env setting leaks in."""
    for name in ("AWS_PROFILE", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/pixvault-test")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pixvault-test")
    now: list[dt.datetime] = []
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: now[0])
    return now


@pytest.fixture(scope="module")
def stores() -> list[tuple[S3BlobStore, str]]:
    """One store per endpoint, shared: building a boto3 client (~0.1 s) is most of the cost."""
    return [
        (
            S3BlobStore(bucket, PREFIXES[i % 3], endpoint, region, "AKIDEXAMPLE", "s3cr/t+k3y"),
            bucket,
        )
        for i, (endpoint, region, bucket) in enumerate(ENDPOINTS)
    ]


def test_store_links_equal_botocore_presigned_urls(
    stores: list[tuple[S3BlobStore, str]],
    frozen_botocore: list[dt.datetime],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(SEED)
    stores = list(stores)
    # Temporary credentials from botocore's chain (no keys configured): the token is signed.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ASIATEMP")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temp/secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "tok/en+=//==")
    stores.append((S3BlobStore("pix-vault", "t", None, "cn-northwest-1"), "pix-vault"))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for _ in range(CASES):
        store, bucket = rng.choice(stores)
        key = keys.storage_key(_id(rng), _id(rng), rng.choice(["jpg", "png", "gif", "webp"]))
        filename = _filename(rng)
        disposition = rng.choice(["inline", "attachment"])
        content_type = rng.choice(["image/jpeg", "image/png", "image/avif"])
        expires_at = now + dt.timedelta(seconds=rng.randint(1, 604_800 - 60))
        ours = store.presign(
            key,
            expires_at=expires_at,
            content_type=content_type,
            disposition=disposition,
            filename=filename,
        )
        query = dict(parse_qsl(urlsplit(ours).query))
        signed_at = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        expires = int(query["X-Amz-Expires"])
        assert signed_at.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=expires) == expires_at
        frozen_botocore[:] = [signed_at]
        theirs = store._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": bucket,
                "Key": store.prefix + key,
                "ResponseCacheControl": "private",
                "ResponseContentDisposition": content_disposition(disposition, filename),
                "ResponseContentType": content_type,
                "ResponseExpires": expires_at,
            },
            ExpiresIn=expires,
        )
        assert ours == theirs


def test_links_go_where_uploads_go(stores: list[tuple[S3BlobStore, str]], tmp_path: Path) -> None:
    """A real ``put`` (stopped just before its request would leave) targets exactly the URL a
    link for the same key points at, on every endpoint."""
    sent: list[str] = []

    class Stop(Exception):
        pass

    def stop(request: Any, **kwargs: Any) -> None:
        sent.append(request.url)
        raise Stop

    (tmp_path / "f").write_bytes(b"x")
    for store, _bucket in stores:
        sent.clear()
        key = keys.storage_key(keys.new_id(), keys.new_id(), "png")
        store._client.meta.events.register("before-send.s3.PutObject", stop)
        try:
            with pytest.raises(Stop):
                store.put(key, tmp_path / "f", size=1, content_type="image/png")
        finally:
            store._client.meta.events.unregister("before-send.s3.PutObject", stop)
        link = store.presign(
            key,
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
            content_type="image/png",
            disposition="inline",
            filename="x",
        )
        assert sent == [link.split("?")[0]]


def test_signer_equals_botocore_query_auth_at_any_time(
    frozen_botocore: list[dt.datetime],
) -> None:
    """``QueryPresigner`` alone over random instants (2000-2100, so day scopes change),
    regions, tokens and parameters, against ``botocore.auth.S3SigV4QueryAuth``."""
    rng = random.Random(SEED + 1)
    # One signer per region, reused: its cached scopes and signing second must follow.
    presigners: dict[str, QueryPresigner] = {}
    for _ in range(200):
        region = rng.choice(["us-east-1", "cn-north-1", "us-gov-west-1", "eu-west-3", "auto"])
        endpoint, _, bucket = rng.choice(ENDPOINTS)
        virtual = endpoint is None and bucket == "pix-vault"
        origin, base, host = bucket_url(
            endpoint or "https://s3.amazonaws.com", bucket, virtual=virtual
        )
        path = f"{base}{_id(rng)}/{_id(rng)}.png"
        token = rng.choice([None, "FQoG/tok+en=="])
        creds = SigningCredentials(
            f"AK{rng.getrandbits(40):x}", f"sk/{rng.getrandbits(64):x}", token
        )
        signed_at = rng.randint(946_684_800, 4_102_444_800)
        expires = rng.randint(1, 604_800)
        params = {
            "response-content-disposition": content_disposition("inline", _filename(rng)),
            "response-content-type": "image/png",
        }
        ours = presigners.setdefault(region, QueryPresigner(region=region)).query(
            host=host,
            path=path,
            params=params,
            credentials=creds,
            signed_at=signed_at,
            expires_in=expires,
        )
        frozen_botocore[:] = [dt.datetime.fromtimestamp(signed_at, dt.UTC).replace(tzinfo=None)]
        request = AWSRequest(method="GET", url=f"{origin}{path}", params=dict(params))
        botocore.auth.S3SigV4QueryAuth(
            Credentials(creds.access_key, creds.secret_key, creds.token), "s3", region, expires
        ).add_auth(request)
        assert f"{origin}{path}?{ours}" == request.url


def test_uri_encode_is_quote() -> None:
    """The table encoder against ``urllib.parse.quote`` (SigV4's rules), on any text."""
    rng = random.Random(SEED + 2)
    alphabet = NAME_CHARS + "".join(chr(c) for c in range(0x80))
    for _ in range(1000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        assert uri_encode(value) == quote(value, safe="")
        assert uri_encode(value, keep_slash=True) == quote(value, safe="/")
    with pytest.raises(UnicodeEncodeError):
        uri_encode("lone \ud800 surrogate")


def test_links_follow_the_clock_across_minute_and_day(
    frozen_botocore: list[dt.datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signer keeps the last signing second and the store the last expiry: links signed
    across a minute and a day boundary, back and forth, must each be botocore's for their own
    signing minute, and links within one minute identical."""
    store = S3BlobStore("pix-vault", "p", None, "eu-west-1", "AKIDEXAMPLE", "s3cr/t+k3y")
    key = keys.storage_key(keys.new_id(), keys.new_id(), "jpg")
    midnight = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
    clock = [0.0]
    monkeypatch.setattr("pixvault.storage.s3.time.time", lambda: clock[0])

    def link(at: dt.datetime, expires_at: dt.datetime) -> tuple[str, str]:
        clock[0] = at.timestamp()
        ours = store.presign(
            key,
            expires_at=expires_at,
            content_type="image/jpeg",
            disposition="inline",
            filename="a b.jpg",
        )
        signed_at = at.replace(second=0, microsecond=0)
        frozen_botocore[:] = [signed_at.replace(tzinfo=None)]
        theirs = store._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": "pix-vault",
                "Key": f"p/{key}",
                "ResponseCacheControl": "private",
                "ResponseContentDisposition": content_disposition("inline", "a b.jpg"),
                "ResponseContentType": "image/jpeg",
                "ResponseExpires": expires_at,
            },
            ExpiresIn=int((expires_at - signed_at).total_seconds()),
        )
        assert ours == theirs
        return ours, dict(parse_qsl(urlsplit(ours).query))["X-Amz-Date"]

    expires = midnight + dt.timedelta(hours=1)
    late, late_date = link(midnight - dt.timedelta(seconds=30), expires)
    assert late_date == "20310228T235900Z"
    assert link(midnight - dt.timedelta(seconds=0.5), expires) == (late, late_date)
    next_day, next_date = link(midnight, expires)
    assert next_date == "20310301T000000Z" and "%2F20310301%2Feu-west-1%2F" in next_day
    assert link(midnight + dt.timedelta(seconds=61), expires)[1] == "20310301T000100Z"
    assert link(midnight - dt.timedelta(seconds=1), expires) == (late, late_date)  # back again
    later, _ = link(midnight, expires + dt.timedelta(seconds=1))  # another expiry, same minute
    assert later != next_day
    assert link(midnight, expires) == (next_day, next_date)
