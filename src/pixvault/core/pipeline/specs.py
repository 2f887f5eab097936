"""What derivatives exist and how they are asked for: sizes, formats, names, negotiation.

Pure rules, no I/O: the service and the processing adapter both read them.
"""

from __future__ import annotations

from dataclasses import dataclass

THUMB = "thumb"
THUMB_2X = "thumb2x"  # the thumbnail for high-density screens: srcset's 2x candidate
PREVIEW = "preview"
THUMB_SIDE = 400
PREVIEW_SIDE = 1600
VARIANT_WIDTHS = (200, 400, 800, 1600, 2560)
"""A fixed allow-list: nobody can make the server render (and store) a thousand sizes."""
MAX_SIDE = 1 << 30  # "no bound" on one axis of a box

# format -> (file extension, MIME type)
FORMATS: dict[str, tuple[str, str]] = {
    "WEBP": ("webp", "image/webp"),
    "JPEG": ("jpg", "image/jpeg"),
    "AVIF": ("avif", "image/avif"),
}


class Undecodable(Exception):
    """The pixels of a stored image cannot be decoded: it is marked failed, not retried.

    Raised by processors (also across a process boundary: one string argument pickles)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RenderSpec:
    """One output: fit inside ``box`` (never enlarged), encode as ``format``."""

    name: str  # "thumb", "preview", "w800"
    box: tuple[int, int]
    format: str = "WEBP"
    placeholder: bool = False  # also compute the ThumbHash from this output

    @property
    def ext(self) -> str:
        return FORMATS[self.format][0]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][1]


@dataclass(frozen=True, slots=True)
class Rendered:
    name: str
    width: int
    height: int
    size: int


@dataclass(frozen=True, slots=True)
class RenderResult:
    outputs: tuple[Rendered, ...]
    placeholder: str | None = None  # ThumbHash, base64


THUMB_SPEC = RenderSpec(THUMB, (THUMB_SIDE, THUMB_SIDE), placeholder=True)
THUMB_2X_SPEC = RenderSpec(THUMB_2X, (2 * THUMB_SIDE, 2 * THUMB_SIDE))
PREVIEW_SPEC = RenderSpec(PREVIEW, (PREVIEW_SIDE, PREVIEW_SIDE))
NAMED: dict[str, RenderSpec] = {
    THUMB: THUMB_SPEC,
    THUMB_2X: THUMB_2X_SPEC,
    PREVIEW: PREVIEW_SPEC,
}


def variant_spec(width: int, fmt: str) -> RenderSpec:
    """A width variant (height follows the aspect ratio); the caller checked the allow-list."""
    return RenderSpec(f"w{width}", (width, MAX_SIDE), fmt)


def spec_for(name: str, ext: str) -> RenderSpec | None:
    """The spec a derived key's name and extension stand for, or None if we never make it."""
    if name in NAMED:
        return NAMED[name] if NAMED[name].ext == ext else None
    fmt = next((f for f, (e, _) in FORMATS.items() if e == ext), None)
    if fmt is None or not name.startswith("w") or not name[1:].isdigit():
        return None
    width = int(name[1:])
    return variant_spec(width, fmt) if width in VARIANT_WIDTHS else None


def _accepted(accept: str) -> dict[str, float]:
    """Media types named explicitly in an Accept header, with their q-values."""
    found: dict[str, float] = {}
    for part in accept.split(",")[:64]:
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        found[kind.lower()] = q
    return found


def negotiate(accept: str, *, avif: bool) -> str:
    """AVIF if the client names it and we can encode it, else WebP if named, else JPEG.

    Only explicit types count: ``*/*`` (curl, old clients) gets JPEG, which everything shows.
    """
    accepted = _accepted(accept)
    if avif and accepted.get("image/avif", 0) > 0:
        return "AVIF"
    if accepted.get("image/webp", 0) > 0:
        return "WEBP"
    return "JPEG"
