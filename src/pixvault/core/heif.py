"""HEIF/HEIC: brands from the ``ftyp`` box and a structural walk over the ISO-BMFF boxes.

libheif (behind Pillow's HEIF plugin) reads the whole container when a file is opened, so the
upload path walks it here first, in Python and without decoding: the boxes must tile the file,
``meta`` must hold ``iinf`` and ``iloc``, every item's data must lie inside the file (an item
pointing past the end is a truncated upload), and every image item's ``ispe`` size is reported
so the pixel limit applies before libheif sees the bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pixvault.core.structure import Box, Buffer, Steps, Structure, bmff_boxes, broken

# Brands naming HEVC-coded HEIF (ISO/IEC 23008-12 Annex B): stills, then sequences.
HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
# Structural brands: "some HEIF", which may be AVIF, JPEG, uncompressed... so they count only
# next to an HEVC brand.
_GENERIC_BRANDS = frozenset({b"mif1", b"msf1"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})

_FULL_BOX = 4  # version (1 byte) + flags (3 bytes)
_FTYP_MAX = 4096


def brands(head: bytes) -> tuple[bytes, list[bytes]] | None:
    """(major brand, every brand) from a leading ``ftyp`` box wholly inside ``head``."""
    if head[4:8] != b"ftyp" or len(head) < 16:
        return None
    (size,) = struct.unpack_from(">I", head)
    if not 16 <= size <= len(head):
        return None
    major = head[8:12]
    return major, [major] + [head[i : i + 4] for i in range(16, size - 3, 4)]


def is_heif(major: bytes, every: list[bytes]) -> bool:
    """HEVC HEIF, and never AVIF: a file carrying an AVIF brand stays AVIF."""
    if any(b in AVIF_BRANDS for b in every):
        return False
    if major in HEVC_BRANDS:
        return True
    return major in _GENERIC_BRANDS and any(b in HEVC_BRANDS for b in every)


def media_type(head: bytes) -> tuple[str, str]:
    """(mime, ext) by the major brand, as ISO/IEC 23008-12 Annex C registers them: a ``heic``
    family major brand is ``image/heic``; a generic ``mif1``/``msf1`` one is ``image/heif``."""
    found = brands(head)
    if found is not None and found[0] in _GENERIC_BRANDS:
        return "image/heif", "heif"
    return "image/heic", "heic"


def _one(boxes: list[Box], btype: bytes) -> Box:
    matches = [b for b in boxes if b[0] == btype]
    if len(matches) != 1:
        raise broken("HEIF")
    return matches[0]


class _Reader:
    """Big-endian fields inside one box; reading past the box's end means a corrupt box."""

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: Buffer, pos: int, end: int) -> None:
        self.buf, self.pos, self.end = buf, pos, end

    def uint(self, size: int) -> int:
        if size == 0:
            return 0
        if size > 8 or self.pos + size > self.end:
            raise broken("HEIF")
        value = int.from_bytes(self.buf[self.pos : self.pos + size], "big")
        self.pos += size
        return value


@dataclass(frozen=True, slots=True)
class ItemLocation:
    """Where ``iloc`` puts one item's bytes. ``method`` 0: file offsets, 1: inside ``idat``,
    2: built from other items (no extents given); ``reference`` 0: in this file. ``extents``
    are absolute (start, length) pairs, to be checked against ``limit`` (the end of the file,
    or of ``idat``); a length of 0 means "up to the limit"."""

    method: int
    reference: int
    extents: tuple[tuple[int, int], ...]
    limit: int


def item_locations(
    buf: Buffer, iloc: Box, idat: Box | None, steps: Steps
) -> dict[int, ItemLocation]:
    """item ID -> its location, as the ``iloc`` box says; nothing is checked against the file
    here (the upload check and the metadata stripper each decide what they accept)."""
    r = _Reader(buf, iloc[1], iloc[2])
    version = r.uint(1)
    r.uint(3)  # flags
    if version > 2:
        raise broken("HEIF")
    sizes = r.uint(2)
    offset_size, length_size = sizes >> 12, (sizes >> 8) & 0xF
    base_size, index_size = (sizes >> 4) & 0xF, (sizes & 0xF if version else 0)
    found: dict[int, ItemLocation] = {}
    for _ in range(r.uint(2 if version < 2 else 4)):
        steps.tick()
        item_id = r.uint(2 if version < 2 else 4)
        method = r.uint(2) & 0xF if version else 0
        reference = r.uint(2)  # data_reference_index: not 0, the bytes live in another file
        base = r.uint(base_size)
        origin, limit = (idat[1], idat[2]) if method == 1 and idat else (0, len(buf))
        extents = []
        for _ in range(r.uint(2)):
            steps.tick()
            r.uint(index_size)
            offset, length = r.uint(offset_size), r.uint(length_size)
            if method == 1 and idat is None:  # offsets into an idat box that is not there
                raise broken("HEIF")
            if method in (0, 1):
                extents.append((origin + base + offset, length))
        found[item_id] = ItemLocation(method, reference, tuple(extents), limit)
    return found


def _check_iloc(buf: Buffer, box: Box, idat: Box | None, steps: Steps) -> set[int]:
    """Every extent of every item inside the file (or inside ``idat``); the item ids."""
    found = item_locations(buf, box, idat, steps)
    for place in found.values():
        if place.reference != 0:  # the item's bytes live in another file
            raise broken("HEIF")
        for start, length in place.extents:  # length 0 means "to the limit"
            if start > place.limit or start + length > place.limit:
                raise broken("HEIF")
    return set(found)


def _ispe_sizes(buf: Buffer, iprp: Box, steps: Steps) -> list[tuple[int, int]]:
    """Every ``ispe`` (image spatial extents) property: the coded size of an image item."""
    ipco = _one(bmff_boxes(buf, iprp[1], iprp[2], steps), b"ipco")
    sizes: list[tuple[int, int]] = []
    for btype, start, end in bmff_boxes(buf, ipco[1], ipco[2], steps):
        if btype == b"ispe":
            if end - start < _FULL_BOX + 8:
                raise broken("HEIF")
            sizes.append(struct.unpack_from(">II", buf, start + _FULL_BOX))
    return sizes


def walk_heif(buf: Buffer) -> Structure:
    """``ftyp`` first with an HEVC HEIF brand, top-level boxes tiling the file, one ``meta``
    holding ``iinf`` and ``iloc``, the primary item (``pitm``) located, every extent in the
    file. The extent reported is the largest ``ispe`` (by area) among the image items, so
    the pixel limit covers tiles, thumbnails and hidden images too. Bursts and sequences are
    reported as one frame: only the primary image is shown."""
    n = len(buf)
    steps = Steps(n, "HEIF")
    top = bmff_boxes(buf, 0, n, steps)
    if not top:
        raise broken("HEIF")
    # An ftyp past _FTYP_MAX is refused (brands() sees it cut): no one lists 1000 brands.
    found = brands(bytes(buf[: min(top[0][2], _FTYP_MAX)])) if top[0][0] == b"ftyp" else None
    if found is None or not is_heif(*found):
        raise broken("HEIF")
    meta = _one(top, b"meta")
    if meta[2] - meta[1] < _FULL_BOX:
        raise broken("HEIF")
    children = bmff_boxes(buf, meta[1] + _FULL_BOX, meta[2], steps)
    _one(children, b"iinf")
    idat = [b for b in children if b[0] == b"idat"]
    items = _check_iloc(buf, _one(children, b"iloc"), idat[0] if idat else None, steps)
    pitm = _one(children, b"pitm")
    r = _Reader(buf, pitm[1], pitm[2])
    version = r.uint(1)
    r.uint(3)  # flags
    primary = r.uint(2 if version == 0 else 4)
    if primary not in items:
        raise broken("HEIF")
    iprp = [b for b in children if b[0] == b"iprp"]
    sizes = _ispe_sizes(buf, iprp[0], steps) if iprp else []
    extent = max(sizes, key=lambda s: s[0] * s[1], default=(0, 0))
    return Structure(frames=1, extent=extent)
