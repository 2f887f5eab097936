"""Real servers behind a switchable TCP proxy (see ``proxy.py``), for outage tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from tests.outages.proxy import TcpProxy
from tests.services.seaweed import SeaweedServer


@dataclass
class Proxied:
    proxy: TcpProxy
    url: str  # where the app should connect: the proxy


@pytest.fixture
def pg_proxied(postgres_url: str, pg_clean: None) -> Iterator[Proxied]:
    """The session's PostgreSQL database (emptied), reached through a proxy of this test's."""
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    try:
        yield Proxied(proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    finally:
        proxy.close()


@pytest.fixture
def s3_proxied(seaweed: SeaweedServer) -> Iterator[Proxied]:
    """The session's SeaweedFS S3 endpoint through a proxy of this test's own."""
    endpoint = urlsplit(seaweed.endpoint_url)
    proxy = TcpProxy(endpoint.hostname or "127.0.0.1", endpoint.port or 80)
    try:
        yield Proxied(proxy, f"http://127.0.0.1:{proxy.port}")
    finally:
        proxy.close()


def s3_settings(seaweed: SeaweedServer, endpoint_url: str) -> dict[str, str]:
    """App settings for the session bucket under a prefix of the caller's own."""
    return {
        "storage_url": f"s3://{seaweed.bucket}/outage-{uuid.uuid4().hex[:12]}",
        "s3_endpoint_url": endpoint_url,
        "s3_access_key_id": seaweed.access_key,
        "s3_secret_access_key": seaweed.secret_key,
        "s3_region": seaweed.region,
    }
