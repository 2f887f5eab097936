"""A place name is a location: mode gps removes XMP place properties (the packet goes whole, as
for GPS) and the IPTC place datasets (the rest of the record stays), in every container."""

from __future__ import annotations

import hashlib
import io
import random
import struct

import pytest
from PIL import Image, IptcImagePlugin

from pixvault.core.errors import UnsupportedType
from pixvault.core.privacy import StripMode, rewrite
from pixvault.core.privacy.blocks import xmp_has_location
from tests.core.test_privacy import ALL_FORMATS, strip
from tests.imagegen import AVIF_SUPPORTED, make_image
from tests.metagen import (
    XMP_WITHOUT_GPS,
    decoded,
    exif_bytes,
    jpeg_insert,
    jpeg_segment,
    photo,
    png_insert,
)

PLACE_PROPERTIES = [
    b"photoshop:City",
    b"photoshop:State",
    b"photoshop:Country",
    b"Iptc4xmpCore:Location",
    b"Iptc4xmpCore:CountryCode",
    b"Iptc4xmpExt:LocationCreated",
    b"Iptc4xmpExt:LocationShown",
]
PLACE_DATASETS = {26: b"FRA-75", 27: b"Eiffel tower", 90: b"Paris", 92: b"Champ de Mars"}
PLACE_DATASETS |= {95: b"Ile-de-France", 100: b"FRA", 101: b"France"}
KEPT = [(0, b"\x00\x04"), (5, b"Tower"), (25, b"iron"), (25, b"tower"), (120, b"A caption.")]


def xmp_with(prop: bytes, *, element: bool = False) -> bytes:
    """A packet whose one property ``prop`` (prefix:Name) is "Paris", as an attribute or as
    an element holding a bag (how LocationCreated / LocationShown structures are written)."""
    prefix = prop.split(b":")[0]
    head = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description xmlns:' + prefix + b'="http://example.com/ns/"'
    )
    tail = b"</rdf:RDF></x:xmpmeta>"
    if not element:
        return head + b" " + prop + b'="Paris"/>' + tail
    bag = b"<rdf:Bag><rdf:li>Paris</rdf:li></rdf:Bag>"
    return head + b"><" + prop + b">" + bag + b"</" + prop + b"></rdf:Description>" + tail


def dataset(number: int, value: bytes, record: int = 2) -> bytes:
    return b"\x1c" + bytes([record, number]) + struct.pack(">H", len(value)) + value


def resource(rid: int, data: bytes, name: bytes = b"") -> bytes:
    pascal = bytes([len(name)]) + name + (b"\x00" if (len(name) + 1) & 1 else b"")
    pad = b"\x00" if len(data) & 1 else b""
    return b"8BIM" + struct.pack(">H", rid) + pascal + struct.pack(">I", len(data)) + data + pad


def app13(*resources: bytes) -> bytes:
    return jpeg_segment(0xED, b"Photoshop 3.0\x00" + b"".join(resources))


def iptc_of(data: bytes) -> dict[tuple[int, int], object]:
    with Image.open(io.BytesIO(data)) as im:
        found = IptcImagePlugin.getiptcinfo(im)
        return dict(found or {})


def photoshop_of(data: bytes) -> dict[int, object]:
    with Image.open(io.BytesIO(data)) as im:
        return dict(im.info.get("photoshop", {}))


# --- XMP ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("prop", PLACE_PROPERTIES, ids=lambda p: p.decode())
def test_xmp_place_properties_count_as_a_location(prop: bytes) -> None:
    assert xmp_has_location(xmp_with(prop))
    assert xmp_has_location(xmp_with(prop, element=True))
    sent = jpeg_insert(
        make_image("JPEG"), jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp_with(prop))
    )
    stored = strip(sent, "JPEG")
    assert b"ns.adobe.com/xap" not in stored and b"Paris" not in stored
    assert decoded(stored) == decoded(sent)


def test_only_whole_place_property_names_count_as_a_location() -> None:
    for prop in (b"photoshop:Credit", b"dc:title", b"Iptc4xmpCore:IntellectualGenre"):
        assert not xmp_has_location(xmp_with(prop))
    assert not xmp_has_location(b"<x photoshop:CityName='x' exif:Statement='y' a:Locations=''/>")
    assert xmp_has_location(b"<x photoshop:CityName='x' photoshop:City='y'/>")
    assert xmp_has_location(b"<Iptc4xmpExt:LocationCreated><rdf:Bag>")


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_xmp_with_a_city_is_dropped_in_every_container(fmt: str) -> None:
    city = xmp_with(b"photoshop:City")
    if fmt == "PNG":  # Pillow does not write XMP to PNG: the iTXt chunk other tools write
        sent = png_insert(
            photo("PNG", exif=exif_bytes(gps=False)),
            (b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + city),
        )
    else:
        sent = photo(fmt, exif=exif_bytes(gps=False), xmp=city)
    stored = strip(sent, fmt)
    assert b"Paris" not in stored
    assert decoded(stored) == decoded(sent)
    with Image.open(io.BytesIO(stored)) as im:
        assert im.getexif()[0x010F] == "Canon"  # the camera stays
    kept = photo(fmt, exif=exif_bytes(gps=False), xmp=None if fmt == "PNG" else XMP_WITHOUT_GPS)
    assert rewrite(kept, fmt, StripMode.GPS)[0] is None


# --- IPTC in JPEG APP13 ------------------------------------------------------------------------


def test_jpeg_iptc_place_datasets_go_and_caption_keywords_and_resources_stay() -> None:
    record = b"".join(dataset(n, v) for n, v in KEPT[:2])
    record += b"".join(dataset(n, v) for n, v in PLACE_DATASETS.items())
    record += b"".join(dataset(n, v) for n, v in KEPT[2:])
    record = dataset(90, b"\x1b%G", record=1) + record  # 1:90, the character set, is no place
    resolution = struct.pack(">IHHIHH", 72 << 16, 1, 1, 72 << 16, 1, 1)
    sent = jpeg_insert(
        photo("JPEG", exif=exif_bytes(gps=False)),
        app13(
            resource(0x03ED, resolution, name=b"ab"),
            resource(0x0404, record),
            resource(0x0425, hashlib.md5(record).digest()),
            resource(0x0FA0, b"odd"),  # after the IPTC record: still found once it shrinks
        ),
    )
    assert {(2, n) for n in PLACE_DATASETS} <= set(iptc_of(sent))
    stored = strip(sent, "JPEG")
    assert decoded(stored) == decoded(sent)
    for value in PLACE_DATASETS.values():
        assert value not in stored
    found = iptc_of(stored)
    assert found == {
        (1, 90): b"\x1b%G",
        (2, 0): b"\x00\x04",
        (2, 5): b"Tower",
        (2, 25): [b"iron", b"tower"],
        (2, 120): b"A caption.",
    }
    resources = photoshop_of(stored)
    kept_record = resources[0x0404]
    assert isinstance(kept_record, bytes) and len(kept_record) & 1  # odd: padded in the file
    assert resources[0x0425] == hashlib.md5(kept_record).digest()
    assert resources[0x0FA0] == b"odd"
    assert resources[0x03ED] == photoshop_of(sent)[0x03ED]
    assert strip(sent, "JPEG", StripMode.ALL).find(b"Photoshop 3.0") < 0


def test_jpeg_iptc_with_an_extended_length_caption_loses_only_the_city() -> None:
    # Extended dataset: bit 15 set, the low bits give the size of the length that follows.
    long_caption = b"\x1c\x02\x78\x80\x04" + struct.pack(">I", 40_000) + b"c" * 40_000
    base = make_image("JPEG")
    sent = jpeg_insert(base, app13(resource(0x0404, dataset(90, b"Paris") + long_caption)))
    assert strip(sent, "JPEG") == jpeg_insert(base, app13(resource(0x0404, long_caption)))


def test_jpeg_iptc_without_a_place_stays_byte_identical() -> None:
    record = b"".join(dataset(n, v) for n, v in KEPT)
    base = make_image("JPEG")
    sent = jpeg_insert(base, app13(resource(0x0404, record)))
    assert rewrite(sent, "JPEG", StripMode.GPS)[0] is None
    with_city = jpeg_insert(base, app13(resource(0x0404, record + dataset(90, b"X"))))
    assert strip(with_city, "JPEG") == sent


def test_jpeg_photoshop_xmp_and_exif_resources_with_a_location_go() -> None:
    caption = resource(0x0404, dataset(120, b"A caption."))
    exif_gps = resource(0x0422, exif_bytes()[6:])
    exif_plain = resource(0x0422, exif_bytes(gps=False)[6:])
    xmp = resource(0x0424, xmp_with(b"Iptc4xmpExt:LocationShown", element=True))
    base = make_image("JPEG")
    sent = jpeg_insert(base, app13(caption, exif_gps, xmp))
    assert strip(sent, "JPEG") == jpeg_insert(base, app13(caption))
    quiet = jpeg_insert(base, app13(caption, exif_plain))
    assert rewrite(quiet, "JPEG", StripMode.GPS)[0] is None


def test_jpeg_unreadable_app13_goes_only_if_it_may_hold_a_place() -> None:
    base = make_image("JPEG")
    caption = resource(0x0404, dataset(120, b"A caption."))
    lying = resource(0x03ED, b"\x00" * 16)[:-20] + struct.pack(">I", 9999) + b"\x00" * 16
    broken_iim = resource(0x0404, b"\x1c\x02\x5a\x00\x09Par")  # the city runs past its record
    cases = {
        "IPTC, then a resource past the end": (app13(caption, lying), b""),
        "a resource past the end, no IPTC": (app13(lying), app13(lying)),
        "not Photoshop, with a city dataset": (
            jpeg_segment(0xED, b"Adobe_Photoshop2.5:" + dataset(90, b"Paris")),
            b"",
        ),
        "not Photoshop, no place": (
            jpeg_segment(0xED, b"Adobe_CM\x00\x01"),
            jpeg_segment(0xED, b"Adobe_CM\x00\x01"),
        ),
        "an IIM record that cannot be read": (app13(broken_iim, caption), app13(caption)),
    }
    for name, (segment, expected) in cases.items():
        assert strip(jpeg_insert(base, segment), "JPEG") == jpeg_insert(base, expected), name


def test_jpeg_trailing_image_with_iptc_is_dropped_with_its_mpf_index() -> None:
    second = jpeg_insert(photo("JPEG"), app13(resource(0x0404, dataset(90, b"Paris"))))
    mpf = jpeg_segment(0xE2, b"MPF\x00" + b"II*\x00" + b"\x08\x00\x00\x00" + b"\x00" * 6)
    sent = jpeg_insert(photo("JPEG"), mpf) + second
    assert strip(sent, "JPEG") == jpeg_insert(photo("JPEG"), b"")


def test_random_damage_to_iptc_never_leaves_a_readable_place() -> None:
    record = b"".join(dataset(n, v) for n, v in KEPT) + dataset(90, b"Paris")
    segment = app13(resource(0x03ED, b"\x00" * 16), resource(0x0404, record))
    sent = jpeg_insert(make_image("JPEG"), segment)
    start = sent.index(segment) + 2  # the APP13 marker stays: no reader seeks IPTC elsewhere
    rng = random.Random("IPTC")
    for _ in range(300):
        damaged = bytearray(sent)
        for _ in range(rng.randint(1, 3)):
            damaged[rng.randrange(start, start + len(segment) - 2)] = rng.randrange(256)
        try:
            stored = strip(bytes(damaged), "JPEG")
        except UnsupportedType:
            continue
        assert b"\x1c\x02\x5a\x00\x05Paris" not in stored
        try:
            found = iptc_of(stored)
        except Exception:  # damaged past what Pillow reads: no place is readable either
            continue
        assert not {(2, n) for n in PLACE_DATASETS} & set(found)


# --- PNG text ----------------------------------------------------------------------------------


def hex_profile(kind: bytes, blob: bytes) -> bytes:
    """ImageMagick's ``Raw profile type KIND`` text: a name line, the length, then hex."""
    text = b"\n" + kind + b"\n" + str(len(blob)).rjust(8).encode() + b"\n" + blob.hex().encode()
    return b"Raw profile type " + kind + b"\x00" + text + b"\n"


def test_png_place_names_and_raw_iptc_or_xmp_profiles_go_in_gps_mode() -> None:
    base = make_image("PNG")
    kept = [
        (b"tEXt", b"Comment\x00a red square"),
        (b"tEXt", hex_profile(b"iptc", dataset(120, b"A caption."))),
        (b"tEXt", hex_profile(b"icc", b"not looked into: \x1c\x02\x5a")),
    ]
    dropped = [
        (b"tEXt", b"City\x00Paris"),
        (b"tEXt", b"Country\x00France"),
        (b"tEXt", b"State\x00Ile-de-France"),
        (b"tEXt", hex_profile(b"iptc", dataset(90, b"Paris"))),
        (
            b"tEXt",
            hex_profile(b"8bim", b"Photoshop 3.0\x00" + resource(0x0404, dataset(101, b"F"))),
        ),
        (b"tEXt", hex_profile(b"xmp", xmp_with(b"photoshop:Country"))),
        (b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_with(b"Iptc4xmpCore:Location")),
    ]
    assert strip(png_insert(base, *kept, *dropped), "PNG") == png_insert(base, *kept)
    assert rewrite(png_insert(base, *kept), "PNG", StripMode.GPS)[0] is None


# --- ISO-BMFF: one iloc reader for the upload check and the stripper ---------------------------


def _set_reference(data: bytes, item_id: int, reference: int) -> bytes:
    """Point one item of a version-0 ``iloc`` at another file (data_reference_index)."""
    at = data.index(b"iloc") + 4
    assert data[at] == 0
    offset_size, length_size = data[at + 4] >> 4, data[at + 4] & 15
    base_size = data[at + 5] >> 4
    (count,) = struct.unpack_from(">H", data, at + 6)
    pos = at + 8
    for _ in range(count):
        (current,) = struct.unpack_from(">H", data, pos)
        if current == item_id:
            return data[: pos + 2] + struct.pack(">H", reference) + data[pos + 4 :]
        (extents,) = struct.unpack_from(">H", data, pos + 4 + base_size)
        pos += 6 + base_size + extents * (offset_size + length_size)
    raise AssertionError("no such item")


@pytest.mark.skipif(not AVIF_SUPPORTED, reason="this Pillow has no AVIF support")
def test_avif_exif_item_in_another_file_is_refused_not_edited_here() -> None:
    """The AVIF upload check does not read ``iloc``: the stripper, with the HEIF check's
    reader, refuses an EXIF item whose bytes are said to live in another file."""
    sent = photo("AVIF", exif=exif_bytes())
    assert rewrite(sent, "AVIF", StripMode.GPS)[0] is not None
    with pytest.raises(UnsupportedType):
        rewrite(_set_reference(sent, 2, 1), "AVIF", StripMode.GPS)
    assert rewrite(_set_reference(sent, 1, 1), "AVIF", StripMode.GPS)[0] is not None
