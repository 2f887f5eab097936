"""Who is asking: the socket peer, unless that peer is a proxy we were told to trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import Scope

from pixvault.settings import Network


def _trusted(ip: str, networks: Sequence[Network]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def client_ip(scope: Scope, trusted: Sequence[Network]) -> str:
    """Walk X-Forwarded-For from the right, skipping trusted hops.

    The leftmost entries are whatever the client wrote; only hops appended by our own proxies
    can be believed, so a client rotating the header cannot change its rate-limit key.
    """
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops: list[str] = []
    for name, value in scope.get("headers", []):
        if name == b"x-forwarded-for":
            hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    for hop in reversed(hops):
        if not hop:
            continue
        if not _trusted(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer
    return peer
