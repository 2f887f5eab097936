"""The GIF rewriter: XMP with a position or a place goes in mode gps, comments, XMP and IPTC go
in mode all; every frame, the palette, the looping and the ICC profile stay, byte for byte."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image, ImageSequence

from pixvault.core.errors import UnsupportedType
from pixvault.core.privacy import StripMode, rewrite
from tests.imagegen import make_image
from tests.metagen import XMP_WITH_GPS, XMP_WITHOUT_GPS

XMP_WITH_CITY = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
    b'22-rdf-syntax-ns#"><rdf:Description xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    b' photoshop:City="Paris"/></rdf:RDF></x:xmpmeta>'
)
MAGIC_TRAILER = b"\x01" + bytes(range(255, -1, -1)) + b"\x00"


def strip(data: bytes, mode: StripMode = StripMode.GPS) -> bytes:
    pieces, _ = rewrite(data, "GIF", mode)
    return data if pieces is None else b"".join(bytes(p) for p in pieces)


def sub_blocks(data: bytes, size: int = 255) -> bytes:
    """``data`` as GIF data sub-blocks of at most ``size`` bytes, with the terminator."""
    return b"".join(bytes([len(c)]) + c for c in _chunks(data, size)) + b"\x00"


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def xmp_extension(packet: bytes) -> bytes:
    """XMP as the XMP spec writes it in GIF: raw bytes after the identifier, then the trailer
    that brings a sub-block walk back to the terminator."""
    return b"\x21\xff\x0bXMP DataXMP" + packet + MAGIC_TRAILER


def app_extension(app_id: bytes, payload: bytes, size: int = 255) -> bytes:
    assert len(app_id) == 11
    return b"\x21\xff\x0b" + app_id + sub_blocks(payload, size)


def comment(text: bytes) -> bytes:
    return b"\x21\xfe" + sub_blocks(text)


def iim(*datasets: tuple[int, bytes]) -> bytes:
    return b"".join(b"\x1c\x02" + bytes([n]) + len(v).to_bytes(2, "big") + v for n, v in datasets)


def gif_insert(gif: bytes, *blocks: bytes) -> bytes:
    """Insert blocks right after the logical screen descriptor and global color table."""
    flags = gif[10]
    pos = 13 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0)
    return gif[:pos] + b"".join(blocks) + gif[pos:]


def frames(data: bytes) -> list[bytes]:
    """Every frame as a viewer shows it (RGBA, after disposal and palette)."""
    with Image.open(io.BytesIO(data)) as im:
        return [frame.convert("RGBA").tobytes() for frame in ImageSequence.Iterator(im)]


def looping(data: bytes) -> object:
    with Image.open(io.BytesIO(data)) as im:
        return im.info.get("loop")


ANIMATED = make_image("GIF", frames=3)
ICC = app_extension(b"ICCRGBG1012", b"\x00\x00\x02\x0cfake icc profile")


@pytest.mark.parametrize("packet", [XMP_WITH_GPS, XMP_WITH_CITY], ids=["gps", "city"])
def test_gps_mode_drops_xmp_with_a_position_or_a_place_and_keeps_every_frame(
    packet: bytes,
) -> None:
    note = comment(b"a red square")
    sent = gif_insert(ANIMATED, note, xmp_extension(packet), ICC)
    assert b"NETSCAPE2.0" in sent and len(frames(sent)) == 3
    stored = strip(sent)
    assert stored == gif_insert(ANIMATED, note, ICC)
    assert frames(stored) == frames(sent)
    assert looping(stored) == looping(sent) == 0


def test_all_mode_drops_comments_xmp_and_iptc_and_keeps_icc_looping_and_other_apps() -> None:
    other = app_extension(b"ACMEAPP1.0x", b"frame timing hints")
    iptc = app_extension(b"MGKIPTC0000", iim((120, b"a caption")))
    sent = gif_insert(
        ANIMATED, comment(b"shot at home"), xmp_extension(XMP_WITHOUT_GPS), iptc, ICC, other
    )
    stored = strip(sent, StripMode.ALL)
    assert stored == gif_insert(ANIMATED, ICC, other)
    assert frames(stored) == frames(sent)
    assert looping(stored) == 0
    # Pillow's own comment, written between the graphic control extension and the image.
    with_comment = io.BytesIO()
    Image.new("P", (8, 8), 3).save(with_comment, "GIF", comment=b"made by hand")
    assert b"made by hand" not in strip(with_comment.getvalue(), StripMode.ALL)
    assert frames(strip(with_comment.getvalue(), StripMode.ALL)) == frames(with_comment.getvalue())


def test_files_without_a_location_stay_byte_identical() -> None:
    quiet = gif_insert(ANIMATED, comment(b"a red square"), xmp_extension(XMP_WITHOUT_GPS), ICC)
    assert rewrite(quiet, "GIF", StripMode.GPS)[0] is None
    for mode in StripMode:
        assert rewrite(ANIMATED, "GIF", mode)[0] is None
    loud = gif_insert(ANIMATED, xmp_extension(XMP_WITH_GPS))
    assert rewrite(loud, "GIF", StripMode.NONE)[0] is None
    assert rewrite(loud, "GIF", StripMode.GPS)[0] is not None


def test_a_location_under_any_name_or_split_over_sub_blocks_is_dropped() -> None:
    """A comment holding XMP, XMP written in proper sub-blocks (a size byte splits ":GP|SLat"),
    an unknown application extension: a lax reader may still find the position there."""
    packet = b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="1"/>'
    cut = packet.index(b":GPS") + 3
    split = b"\x21\xff\x0bXMP DataXMP" + sub_blocks(packet[:cut])[:-1] + sub_blocks(packet[cut:])
    assert b":GPS" not in split
    blocks = [comment(XMP_WITH_CITY), split, app_extension(b"ACMEAPP1.0x", XMP_WITH_GPS)]
    kept = comment(b"kept")
    for block in blocks:
        sent = gif_insert(ANIMATED, kept, block)
        assert strip(sent) == gif_insert(ANIMATED, kept), block[:16]


def test_iptc_profile_loses_a_place_in_gps_mode_and_keeps_a_caption() -> None:
    city = app_extension(b"MGKIPTC0000", iim((120, b"a caption"), (90, b"Paris")), size=7)
    caption = app_extension(b"MGKIPTC0000", iim((120, b"a caption")))
    irb = b"8BIM\x04\x04\x00\x00" + len(iim((90, b"Paris"))).to_bytes(4, "big")
    resources = app_extension(b"MGK8BIM0000", irb + iim((90, b"Paris")) + b"\x00")
    assert strip(gif_insert(ANIMATED, city, caption)) == gif_insert(ANIMATED, caption)
    assert strip(gif_insert(ANIMATED, resources)) == ANIMATED


def test_metadata_after_the_trailer_is_cut() -> None:
    sent = ANIMATED + b"<x:xmpmeta " + XMP_WITH_CITY
    assert strip(sent) == ANIMATED
    assert strip(ANIMATED + b"\x00junk", StripMode.ALL) == ANIMATED + b"\x00junk"


def _cases() -> dict[str, bytes]:
    gif = gif_insert(ANIMATED, xmp_extension(XMP_WITH_GPS))
    at = gif.index(b"\x21\xf9")  # the first graphic control extension
    return {
        "short header": gif[:12],
        "not a GIF": b"GIF90a" + gif[6:],
        "no trailer": gif[:-1],
        "cut in the image data": gif[: len(gif) // 2],
        "unknown block": gif[:at] + b"\x99" + gif[at + 1 :],
        "sub-block past the end": gif[:-2] + b"\x40\x00",
        "cut in an extension": gif[: at + 1],
        "cut in an image descriptor": gif[: gif.index(b"\x2c", at) + 5],
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_malformed_block_structure_is_unsupported(name: str) -> None:
    damaged = _cases()[name]
    for mode in StripMode:
        with pytest.raises(UnsupportedType):
            rewrite(damaged, "GIF", mode)


def test_random_damage_to_metadata_is_refused_or_handled_never_a_crash() -> None:
    sent = gif_insert(
        ANIMATED,
        comment(b"a red square"),
        xmp_extension(XMP_WITH_GPS + XMP_WITH_CITY),
        app_extension(b"MGKIPTC0000", iim((90, b"Paris"))),
    )
    start = 13 + 3 * (2 << (sent[10] & 7))
    end = sent.index(b"\x21\xf9")
    rng = random.Random("GIF")
    handled = 0
    for _ in range(150):
        damaged = bytearray(sent)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(start, end)] = rng.randrange(256)
        for mode in StripMode:
            try:
                stored = strip(bytes(damaged), mode)
            except UnsupportedType:
                continue
            handled += 1
            if mode is StripMode.NONE:
                assert stored == damaged
                continue
            assert b":GPSLatitude" not in stored and b":City" not in stored
            assert b"\x1c\x02\x5a\x00\x05Paris" not in stored
            try:
                before = frames(bytes(damaged))
            except Exception:  # damaged past what Pillow reads
                continue
            assert frames(stored) == before
    assert handled > 100  # most damage lands in text, which the walk does not read
