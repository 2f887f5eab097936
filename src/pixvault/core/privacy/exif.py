"""Camera metadata from an EXIF block's TIFF: what the owner sees next to a photo.

Read from the received bytes (before stripping), so mode ``all`` still shows the camera and the
date taken. Hostile or odd values are dropped one by one, never fatal: a missing field is null.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone

from pixvault.core.models import PhotoMetadata
from pixvault.core.privacy.tiff import EXIF_IFD, GPS_IFD, BadTiff, Tiff, Value

_MAKE, _MODEL = 0x010F, 0x0110
_EXPOSURE, _ISO, _FOCAL, _LENS = 0x829A, 0x8827, 0x920A, 0xA434
_DATE_ORIGINAL, _OFFSET_ORIGINAL = 0x9003, 0x9011
_LAT_REF, _LAT, _LON_REF, _LON = 1, 2, 3, 4
_MAX_TEXT = 100
_DATE = re.compile(r"(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)")
_OFFSET = re.compile(r"([+-])(\d\d):(\d\d)")


def read(tiff_bytes: bytes | None, *, with_location: bool) -> tuple[datetime | None, PhotoMetadata]:
    """(date taken in UTC, camera metadata); the position only when ``with_location``."""
    if not tiff_bytes:
        return None, PhotoMetadata()
    try:
        tiff = Tiff(tiff_bytes)
        ifd0 = {e.tag: tiff.value(e) for e in tiff.entries(tiff.ifd0)}
    except BadTiff:
        return None, PhotoMetadata()
    sub = _sub_ifd(tiff, ifd0.get(EXIF_IFD))
    lat = lon = None
    if with_location:
        lat, lon = _position(_sub_ifd(tiff, ifd0.get(GPS_IFD)))
    photo = PhotoMetadata(
        camera_make=_text(ifd0.get(_MAKE)),
        camera_model=_text(ifd0.get(_MODEL)),
        lens=_text(sub.get(_LENS)),
        exposure=_exposure(sub.get(_EXPOSURE)),
        iso=_iso(sub.get(_ISO)),
        focal_length=_focal(sub.get(_FOCAL)),
        latitude=lat,
        longitude=lon,
    )
    return _taken_at(sub.get(_DATE_ORIGINAL), sub.get(_OFFSET_ORIGINAL)), photo


def _sub_ifd(tiff: Tiff, offset: Value) -> dict[int, Value]:
    if not isinstance(offset, int) or offset == 0:
        return {}
    try:
        return {e.tag: tiff.value(e) for e in tiff.entries(offset)}
    except BadTiff:
        return {}


def _text(value: Value) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
    return cleaned[:_MAX_TEXT] or None


def _first(value: Value) -> float | None:
    number = value[0] if isinstance(value, tuple) and value else value
    if isinstance(number, int | float) and math.isfinite(number) and number > 0:
        return float(number)
    return None


def _exposure(value: Value) -> str | None:
    """Seconds as photographers write them: "1/250" below a second, "2" or "1.5" above."""
    seconds = _first(value)
    if seconds is None or seconds > 3600:
        return None
    if seconds < 1:
        return f"1/{round(1 / seconds)}"
    return f"{seconds:g}"


def _iso(value: Value) -> int | None:
    return value if isinstance(value, int) and 0 < value < 10_000_000 else None


def _focal(value: Value) -> float | None:
    mm = _first(value)
    return round(mm, 2) if mm is not None and mm < 100_000 else None


def _taken_at(value: Value, offset: Value) -> datetime | None:
    """DateTimeOriginal as UTC: shifted by OffsetTimeOriginal when the camera wrote one, else
    read as UTC (a naive camera clock has no zone we could know; see README)."""
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        naive = datetime(year, month, day, hour, minute, second)  # the zone is added below
    except ValueError:  # "0000:00:00 00:00:00" and other impossible dates
        return None
    zone: timezone = UTC
    found = _OFFSET.fullmatch(offset.strip()) if isinstance(offset, str) else None
    if found:
        sign = -1 if found[1] == "-" else 1
        delta = timedelta(hours=int(found[2]), minutes=int(found[3]))
        if delta < timedelta(hours=24):
            zone = timezone(sign * delta)
    if not 1900 <= naive.year <= 2200:
        return None
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _position(gps: dict[int, Value]) -> tuple[float | None, float | None]:
    lat = _degrees(gps.get(_LAT), gps.get(_LAT_REF), "S", 90)
    lon = _degrees(gps.get(_LON), gps.get(_LON_REF), "W", 180)
    return (lat, lon) if lat is not None and lon is not None else (None, None)


def _degrees(value: Value, ref: Value, negative: str, limit: float) -> float | None:
    """Degrees, minutes, seconds (three rationals) as signed decimal degrees."""
    if not isinstance(value, tuple) or len(value) != 3 or not all(map(math.isfinite, value)):
        return None
    deg = value[0] + value[1] / 60 + value[2] / 3600
    if not 0 <= deg <= limit:
        return None
    sign = -1 if isinstance(ref, str) and ref.strip().upper() == negative else 1
    return round(sign * deg, 7)
