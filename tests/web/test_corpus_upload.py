"""The real-world corpus through the HTTP API, on both stacks: each file gets its verdict,
a refused one leaves nothing behind, and an accepted one reads back through its signed URL."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image as PILImage

from pixvault.core import keys
from tests.conftest import Api
from tests.core.test_corpus import FILES, data, expected

STATUS = {"unsupported_type": 400, "too_large": 413}


GPS_FILES = frozenset({"gps-xmp.jpg", "gps.heic"})
"""Files carrying a position: stored without it (PIXVAULT_STRIP_METADATA defaults to gps)."""


def check_stored(name: str, stored: bytes) -> None:
    """The store holds the upload itself, except that a position never reaches it: then the
    pixels are still the upload's, exactly (the bytes differ only in metadata)."""
    if name not in GPS_FILES:
        assert stored == data(name)
        return
    assert stored != data(name)
    with PILImage.open(io.BytesIO(stored)) as kept, PILImage.open(io.BytesIO(data(name))) as sent:
        assert not kept.getexif().get_ifd(0x8825)  # the GPS IFD is gone
        assert sent.getexif().get_ifd(0x8825)  # ... and was there
        assert kept.tobytes() == sent.tobytes()


@pytest.mark.parametrize("name", sorted(FILES))
def test_corpus_file_upload_gets_its_verdict(api: Api, name: str) -> None:
    entry: dict[str, Any] = expected(name)
    h = api.signup()
    before = api.state(h)
    r = api.upload(h, (name, data(name)))
    if entry["verdict"] != "accept":
        assert r.status_code == STATUS[entry["verdict"]], r.text
        body = r.json()
        assert body["code"] == entry["verdict"]
        assert name in body["error"]  # the message names the file
        assert api.state(h) == before  # no blob, no row, no quota, no spool file
        return
    assert r.status_code == 200, r.text
    (image,) = r.json()["images"]
    assert image["contentType"] == entry["mime"]
    assert image["dimensions"] == {"width": entry["width"], "height": entry["height"]}
    if name not in GPS_FILES:
        assert image["size"] == len(data(name))
    ext = "jpg" if entry["format"] == "JPEG" else entry["mime"].removeprefix("image/")
    originals = [k for k in api.state(h)[0] - before[0] if keys.is_storage_key(k)]
    assert [k.rsplit(".", 1)[1] for k in originals] == [ext]  # stored under its type's extension
    served = api.fetch(image["url"])
    assert served.status_code == 200
    assert served.headers["content-type"] == entry["mime"]
    assert len(served.content) == image["size"]
    check_stored(name, served.content)


def test_config_offers_heic_and_heif_to_the_file_picker(api: Api) -> None:
    accepted = api.client.get("/api/config").json()["acceptedTypes"]
    assert {"mime": "image/heic", "ext": "heic"} in accepted
    assert {"mime": "image/heif", "ext": "heif"} in accepted
