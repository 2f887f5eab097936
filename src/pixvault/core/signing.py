"""HMAC-SHA256 signed download links for stores that cannot sign their own (local disk).

Pure functions: signing a gallery page of 100 links costs 100 HMACs, no I/O.
"""

from __future__ import annotations

import hashlib
import hmac

from pixvault.core.errors import BadSignature

DISPOSITIONS = ("inline", "attachment")


def _message(key: str, expires: int, disposition: str) -> bytes:
    # Newline-separated: none of the parts can contain one, so no two inputs share a message.
    return f"{key}\n{expires}\n{disposition}".encode()


def sign(secret: bytes, key: str, expires: int, disposition: str) -> str:
    return hmac.new(secret, _message(key, expires, disposition), hashlib.sha256).hexdigest()


def verify(secret: bytes, key: str, expires: int, disposition: str, signature: str) -> bool:
    """Constant-time compare: a byte-by-byte early exit would leak the signature's prefix."""
    if disposition not in DISPOSITIONS:
        return False
    expected = sign(secret, key, expires, disposition)
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def check(
    secret: bytes, key: str, expires: str, disposition: str, signature: str, now: float
) -> int:
    """The expiry of a link whose parameters arrived as text, if it is ours and still valid;
    ``BadSignature`` otherwise (tampered, expired and malformed look alike: no oracle).

    ``isascii``: ``str.isdigit()`` also accepts "²" and "①", which ``int()`` then refuses.
    """
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        raise BadSignature()
    exp = int(expires)
    if not verify(secret, key, exp, disposition, signature) or exp <= now:
        raise BadSignature()
    return exp
