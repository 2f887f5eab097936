"""HMAC-SHA256 signed download links for stores that cannot sign their own (local disk).

Pure functions: signing a gallery page of 100 links costs 100 HMACs, no I/O. ``Signer`` is
the same HMAC for one secret, with the key schedule done once: it is what the link builders
hold (a page signs ~80 links with one secret).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, quote_plus

from pixvault.core.errors import BadSignature

DISPOSITIONS = ("inline", "attachment")
_URL_SAFE_PATH = re.compile(r"[A-Za-z0-9_.~/-]*")
"""What ``urllib.parse.quote`` (``safe="/"``) leaves unchanged: every key core.keys makes."""


def _message(key: str, expires: int, disposition: str) -> bytes:
    # Newline-separated: none of the parts can contain one, so no two inputs share a message.
    return f"{key}\n{expires}\n{disposition}".encode()


def sign(secret: bytes, key: str, expires: int, disposition: str) -> str:
    # One-shot HMAC in C: the same hex digest as ``hmac.new(...).hexdigest()``, cheaper.
    return hmac.digest(secret, _message(key, expires, disposition), "sha256").hex()


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


def url_path(key: str) -> str:
    """``quote(key)`` without its cost for the keys we make, which never need escaping."""
    return key if _URL_SAFE_PATH.fullmatch(key) else quote(key)


class Signer:
    """``sign`` for one secret. The HMAC's key schedule (the padded key's two SHA-256 blocks)
    is computed once and copied per link; copying only reads the base object, so one signer
    is safe to share between threads."""

    __slots__ = ("_base",)

    def __init__(self, secret: bytes) -> None:
        self._base = hmac.new(secret, digestmod=hashlib.sha256)

    def sign(self, key: str, expires: int, disposition: str) -> str:
        mac = self._base.copy()
        mac.update(_message(key, expires, disposition))
        return mac.hexdigest()

    def file_link(self, key: str, expires: int, disposition: str) -> str:
        """``/files/{key}?exp=&disp=&sig=``, byte for byte what ``urlencode`` of those three
        made: ``exp`` is an integer and ``sig`` hex, so only an unknown disposition (which no
        link can verify with, but which was always encoded) needs quoting."""
        disp = disposition if disposition in DISPOSITIONS else quote_plus(disposition)
        sig = self.sign(key, expires, disposition)
        return f"/files/{url_path(key)}?exp={expires}&disp={disp}&sig={sig}"

    def derived_link(self, key: str, expires: int) -> str:
        """``/{key}?exp=&sig=`` for a derivative (always ``inline``); derived keys are made and
        checked by core.keys, so the key goes into the path as it is, as it always has."""
        return f"/{key}?exp={expires}&sig={self.sign(key, expires, 'inline')}"
