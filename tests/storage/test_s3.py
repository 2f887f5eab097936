"""The S3 adapter against a real SeaweedFS: links the store itself validates and errors
translated at the border. No SDK stubs: faults are real (a closed port, a wrong secret, a
tampered link). Uploads: test_s3_upload.py; links compared with botocore's: test_sigv4.py."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from pixvault.core import keys
from pixvault.core.errors import Unavailable
from pixvault.core.names import content_disposition
from pixvault.storage.s3 import S3BlobStore
from pixvault.storage.sigv4 import QueryPresigner, SigningCredentials
from tests.services.seaweed import SeaweedServer


def _key(ext: str = "png") -> str:
    return keys.storage_key(keys.new_id(), keys.new_id(), ext)


def _file(data: bytes) -> Path:
    fd, name = tempfile.mkstemp(prefix="upload-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Path(name)


def _put(store: S3BlobStore, data: bytes, ext: str = "png") -> str:
    key = _key(ext)
    src = _file(data)
    try:
        store.put(key, src, size=len(data), content_type=f"image/{ext}")
    finally:
        src.unlink(missing_ok=True)
    return key


def _sign(
    store: S3BlobStore,
    key: str,
    *,
    seconds: float = 600,
    disposition: str = "inline",
    filename: str = "photo.png",
    content_type: str = "image/png",
    public: bool = False,
) -> str:
    return store.presign(
        key,
        expires_at=datetime.now(UTC) + timedelta(seconds=seconds),
        content_type=content_type,
        disposition=disposition,
        filename=filename,
        public=public,
    )


def _with_param(url: str, name: str, value: str) -> str:
    """``url`` with one query parameter changed and every other byte left as it was."""
    parts = urlsplit(url)
    query = [
        f"{name}={quote(value, safe='')}" if pair.split("=", 1)[0] == name else pair
        for pair in parts.query.split("&")
    ]
    return parts._replace(query="&".join(query)).geturl()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


# --- presigned links ----------------------------------------------------------------------


@pytest.mark.parametrize("disposition", ["inline", "attachment"])
def test_presigned_url_serves_exact_bytes_with_signed_headers(
    seaweed: SeaweedServer, s3_store: S3BlobStore, disposition: str
) -> None:
    data = os.urandom(4096)
    key = _put(s3_store, data)
    name = 'Strand "2024"\r\n; ünïcødé 🌊.png'
    url = _sign(s3_store, key, disposition=disposition, filename=name, content_type="image/png")
    assert url.startswith(f"{seaweed.endpoint_url}/{seaweed.bucket}/{s3_store.prefix}{key}?")
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == data
    assert r.headers["content-type"] == "image/png"
    # Same header the app sends for local files (web/routes/files.py).
    assert r.headers["content-disposition"] == content_disposition(disposition, name)
    # No shared cache keeps it, and no cache keeps it past the link's own expiry.
    assert r.headers["cache-control"] == "private"
    query = dict(parse_qsl(urlsplit(url).query))
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    link_expiry = signed_at + timedelta(seconds=int(query["X-Amz-Expires"]))
    assert parsedate_to_datetime(r.headers["expires"]) == link_expiry


def test_prefix_and_names_needing_percent_encoding(seaweed: SeaweedServer) -> None:
    store = seaweed.store(prefix=f"sp ä+x/{os.urandom(3).hex()}")
    key = _put(store, b"encoded")
    assert list(store.iter_keys()) == [key]
    r = httpx.get(_sign(store, key, filename="a b+c%20d.png"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.content == b"encoded"


def _tampered(url: str, other_key_url: str, what: str) -> str:
    parts = urlsplit(url)
    if what == "signature":
        sig = dict(parse_qsl(parts.query))["X-Amz-Signature"]
        return _with_param(url, "X-Amz-Signature", ("0" if sig[0] != "0" else "1") + sig[1:])
    if what == "key":  # another existing object's path with this link's signature
        return parts._replace(path=urlsplit(other_key_url).path).geturl()
    if what == "expires":
        expires = int(dict(parse_qsl(parts.query))["X-Amz-Expires"])
        return _with_param(url, "X-Amz-Expires", str(expires + 3600))
    if what == "content-type":
        return _with_param(url, "response-content-type", "text/html")
    if what == "disposition":
        return _with_param(url, "response-content-disposition", "inline")
    raise AssertionError(what)


@pytest.mark.parametrize("what", ["signature", "key", "expires", "content-type", "disposition"])
def test_tampered_links_are_refused_by_the_store(s3_store: S3BlobStore, what: str) -> None:
    mine, other = _put(s3_store, b"mine"), _put(s3_store, b"someone else's")
    url = _sign(s3_store, mine, disposition="attachment")
    assert httpx.get(url, timeout=10).status_code == 200
    expires = dict(parse_qsl(urlsplit(url).query))["X-Amz-Expires"]
    assert _with_param(url, "X-Amz-Expires", expires) == url  # the edit changes only one value
    r = httpx.get(_tampered(url, _sign(s3_store, other), what), timeout=10)
    assert r.status_code == 403, r.text
    assert b"mine" not in r.content and b"someone" not in r.content


def test_expired_link_is_refused_by_the_store(s3_store: S3BlobStore) -> None:
    key = _put(s3_store, b"short-lived")
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    url = s3_store.presign(
        key, expires_at=expires_at, content_type="image/png", disposition="inline", filename="x"
    )
    assert httpx.get(url, timeout=10).status_code == 200
    time.sleep(max(0.0, expires_at.timestamp() - time.time()) + 1.2)
    r = httpx.get(url, timeout=10)
    assert r.status_code == 403, r.text


def test_expiry_is_clamped_to_what_s3_accepts(s3_store: S3BlobStore) -> None:
    key = _key()
    week = dict(parse_qsl(urlsplit(_sign(s3_store, key, seconds=30 * 86400)).query))
    past = dict(parse_qsl(urlsplit(_sign(s3_store, key, seconds=-60)).query))
    assert int(week["X-Amz-Expires"]) <= 604_800
    assert int(past["X-Amz-Expires"]) >= 1


def test_public_base_url_gives_plain_links_for_public_inline_only(
    seaweed: SeaweedServer,
) -> None:
    store = seaweed.store(prefix="pub/lic", public_base_url="https://cdn.example.com/")
    key = _key()
    assert _sign(store, key, public=True) == f"https://cdn.example.com/pub/lic/{key}"
    for url in (_sign(store, key), _sign(store, key, public=True, disposition="attachment")):
        assert url.startswith(seaweed.endpoint_url) and "X-Amz-Signature=" in url
    plain = seaweed.store(prefix="pub/lic")  # no CDN configured: always signed
    assert "X-Amz-Signature=" in _sign(plain, key, public=True)


def test_presigning_makes_no_network_call(tmp_path: Path) -> None:
    """Nothing listens on the endpoint: signing 100 links still works (and quickly)."""
    store = S3BlobStore(
        "bucket", "p", f"http://127.0.0.1:{_closed_port()}", "eu-west-1", "AK", "SK"
    )
    owner = keys.new_id()
    start = time.perf_counter()
    urls = {_sign(store, keys.storage_key(owner, keys.new_id(), "jpg")) for _ in range(100)}
    elapsed = time.perf_counter() - start
    assert len(urls) == 100
    assert all("X-Amz-Credential=AK%2F" in u and "%2Feu-west-1%2Fs3%2F" in u for u in urls)
    assert elapsed < 1.0  # ~1 ms in practice; any network attempt would raise or take longer


def test_signer_matches_the_aws_documentation_example() -> None:
    """The worked example of SigV4 query auth in the S3 API reference (GET /test.txt)."""
    signed_at = int(datetime(2013, 5, 24, tzinfo=UTC).timestamp())
    query = QueryPresigner(region="us-east-1").query(
        host="examplebucket.s3.amazonaws.com",
        path="/test.txt",
        params={},
        credentials=SigningCredentials(
            "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ),
        signed_at=signed_at,
        expires_in=86400,
    )
    assert query.endswith(
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


@pytest.mark.parametrize(
    ("region", "hosted", "dotted"),
    [
        ("eu-west-1", "my-bucket.s3.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"),
        ("us-east-1", "my-bucket.s3.amazonaws.com", "s3.amazonaws.com"),
        # Other partitions have their own domains: links follow the endpoint botocore uploads to.
        (
            "cn-north-1",
            "my-bucket.s3.cn-north-1.amazonaws.com.cn",
            "s3.cn-north-1.amazonaws.com.cn",
        ),
        (
            "us-gov-west-1",
            "my-bucket.s3.us-gov-west-1.amazonaws.com",
            "s3.us-gov-west-1.amazonaws.com",
        ),
    ],
)
def test_aws_urls_without_an_endpoint(region: str, hosted: str, dotted: str) -> None:
    key = _key()
    store = S3BlobStore("my-bucket", "", None, region, "AK", "SK")
    assert _sign(store, key).startswith(f"https://{hosted}/{key}?")
    assert urlsplit(store._client.meta.endpoint_url).hostname in (hosted.split(".", 1)[1], dotted)
    with_dots = S3BlobStore("my.bucket", "p", None, region, "AK", "SK")  # no TLS wildcard
    assert _sign(with_dots, key).startswith(f"https://{dotted}/my.bucket/p/{key}?")


def test_temporary_credentials_sign_their_token() -> None:
    presigner = QueryPresigner(region="us-east-1")
    query = presigner.query(
        host="h",
        path="/b/k",
        params={},
        credentials=SigningCredentials("AK", "SK", "tok/en+="),
        signed_at=0,
        expires_in=60,
    )
    assert "X-Amz-Security-Token=tok%2Fen%2B%3D&" in query


def test_refuses_keys_not_made_by_the_core(s3_store: S3BlobStore) -> None:
    for call in (
        lambda: _sign(s3_store, "../x.png"),
        lambda: s3_store.exists("a/b.png"),
        lambda: s3_store.delete("/abs.png"),
    ):
        with pytest.raises(ValueError, match="refusing storage key"):
            call()


# --- errors at the border -----------------------------------------------------------------


def _assert_unavailable(call: object) -> None:
    assert callable(call)
    with pytest.raises(Unavailable) as info:
        call()
    assert not isinstance(info.value, (BotoCoreError, ClientError))
    assert isinstance(info.value.__cause__, (BotoCoreError, ClientError))


def test_closed_port_is_unavailable_not_a_botocore_error() -> None:
    store = S3BlobStore(
        "bucket",
        "",
        f"http://127.0.0.1:{_closed_port()}",
        "us-east-1",
        "AK",
        "SK",
        max_attempts=1,
    )
    key = _key()
    start = time.monotonic()
    src = _file(b"x")
    _assert_unavailable(lambda: store.put(key, src, size=1, content_type="image/png"))
    src.unlink()
    _assert_unavailable(lambda: store.exists(key))
    _assert_unavailable(lambda: store.delete(key))
    _assert_unavailable(lambda: list(store.iter_keys()))
    _assert_unavailable(store.ping)
    assert time.monotonic() - start < 10


def test_wrong_secret_or_missing_bucket_is_unavailable(seaweed: SeaweedServer) -> None:
    _assert_unavailable(seaweed.store(secret_access_key="wrong", max_attempts=1).ping)
    _assert_unavailable(seaweed.store(bucket="no-such-bucket-here", max_attempts=1).ping)
