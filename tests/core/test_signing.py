"""The HMAC links of the local store and of derivatives, byte for byte, against the way they
were first built (``hmac.new`` + ``urlencode`` + ``quote``): the fast path must not change a
link that a browser or a cache already holds. Seeded random cases, pure computation."""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from pixvault.core import keys, signing
from pixvault.core.models import Image, ImageStatus
from pixvault.core.pipeline import specs
from pixvault.core.pipeline.service import DerivativeService
from pixvault.storage.local import LocalBlobStore

SEED = 20241127
SECRET = b"test-secret-" + bytes(range(40))
ODD_CHARS = "aZ09 _-.~/'\"\\;,=&?#%+()[]üß中🌊\u00a0\t"


def _reference_sig(secret: bytes, key: str, exp: int, disposition: str) -> str:
    return hmac.new(secret, f"{key}\n{exp}\n{disposition}".encode(), hashlib.sha256).hexdigest()


def _keys(rng: random.Random) -> list[str]:
    """Keys of every shape a link may meet: ours, and (for the fallback) anything at all."""
    owner, image = keys.new_id(), keys.new_id()
    odd = "".join(rng.choice(ODD_CHARS) for _ in range(rng.randint(0, 30)))
    return [
        keys.storage_key(owner, image, rng.choice(["jpg", "png", "heic"])),
        keys.derived_key(owner, image, "thumb", "webp"),
        odd,
    ]


def test_signer_equals_the_one_shot_hmac() -> None:
    rng = random.Random(SEED)
    for _ in range(200):
        secret = rng.randbytes(rng.randint(0, 100))  # past SHA-256's block: the key is hashed
        signer = signing.Signer(secret)
        for key in _keys(rng):
            exp = rng.randint(0, 2**40)
            disposition = rng.choice(signing.DISPOSITIONS)
            expected = _reference_sig(secret, key, exp, disposition)
            assert signer.sign(key, exp, disposition) == expected
            assert signing.sign(secret, key, exp, disposition) == expected
            assert signing.verify(secret, key, exp, disposition, expected)


def test_file_links_are_what_urlencode_and_quote_made() -> None:
    rng = random.Random(SEED + 1)
    store = LocalBlobStore(Path("/nonexistent/pixvault-test"), SECRET)
    for _ in range(300):
        for key in _keys(rng):
            expires_at = datetime.fromtimestamp(rng.randint(0, 2**33), UTC)
            exp = int(expires_at.timestamp())
            # Unknown dispositions verify with nothing, but their links were always encoded.
            disposition = rng.choice([*signing.DISPOSITIONS, "in line&x=1", "ä+/"])
            sig = _reference_sig(SECRET, key, exp, disposition)
            expected = (
                f"/files/{quote(key)}?{urlencode({'exp': exp, 'disp': disposition, 'sig': sig})}"
            )
            link = store.presign(
                key,
                expires_at=expires_at,
                content_type="image/jpeg",
                disposition=disposition,
                filename="x.jpg",
            )
            assert link == expected


def test_url_path_is_quote() -> None:
    rng = random.Random(SEED + 2)
    for _ in range(500):
        value = "".join(rng.choice(ODD_CHARS) for _ in range(rng.randint(0, 40)))
        assert signing.url_path(value) == quote(value)


def _row(owner: str, image_id: str) -> Image:
    return Image(
        id=image_id,
        owner_id=owner,
        storage_key=keys.storage_key(owner, image_id, "jpg"),
        original_name="x.jpg",
        content_type="image/jpeg",
        size=1,
        width=1,
        height=1,
        md5="0" * 32,
        sha256="0" * 64,
        tags=(),
        is_public=False,
        status=ImageStatus.READY,
        uploaded_at=datetime.now(UTC),
    )


def _derivatives(tmp_path: Path) -> DerivativeService:
    nothing: Any = None  # links() touches no repo, store, processor or clock
    return DerivativeService(
        images=nothing,
        blobs=nothing,
        processor=nothing,
        clock=nothing,
        url_secret=SECRET,
        work_dir=tmp_path,
        background_workers=1,
        background=False,
    )


def test_derivative_links_are_what_urlencode_made(tmp_path: Path) -> None:
    service = _derivatives(tmp_path)
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    exp = int(expires_at.timestamp())
    for _ in range(50):
        row = _row(keys.new_id(), keys.new_id())
        links = service.links(row, expires_at)
        assert list(links) == ["thumb", "thumb2x", "preview"]
        for spec in (specs.THUMB_SPEC, specs.THUMB_2X_SPEC, specs.PREVIEW_SPEC):
            key = keys.derived_key(row.owner_id, row.id, spec.name, spec.ext)
            sig = _reference_sig(SECRET, key, exp, "inline")
            assert links[spec.name].url == f"/{key}?{urlencode({'exp': exp, 'sig': sig})}"
            assert links[spec.name].expires_at == expires_at
            assert signing.check(SECRET, key, str(exp), "inline", sig, exp - 1) == exp


def test_derivative_links_refuse_ids_not_of_our_shape(tmp_path: Path) -> None:
    """The id check moved from each key to the image's prefix; it must still refuse."""
    service = _derivatives(tmp_path)
    row = _row(keys.new_id(), keys.new_id())
    for bad in (replace(row, id="../../etc"), replace(row, owner_id="x/y")):
        with pytest.raises(ValueError, match="refusing"):
            service.links(bad, datetime.now(UTC))
