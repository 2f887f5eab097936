"""ThumbHash encoder: a ~25-byte blurred preview of an image (Evan Wallace's public-domain
algorithm, https://evanw.github.io/thumbhash/), ported from the reference implementation.

Pure Python on at most 100×100 pixels; callers pass a ~32×32 thumbnail (a few milliseconds).
Clients decode it with the reference ``thumbHashToDataURL``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

MAX_SIDE = 100


def _encode_channel(
    channel: Sequence[float], w: int, h: int, nx: int, ny: int
) -> tuple[float, list[float], float]:
    """DC term, AC terms normalised to 0..1, and their scale (the reference's encodeChannel)."""
    dc, ac, scale = 0.0, [], 0.0
    for cy in range(ny):
        fy = [math.cos(math.pi / h * cy * (y + 0.5)) for y in range(h)]
        cx = 0
        while cx * ny < nx * (ny - cy):
            fx = [math.cos(math.pi / w * cx * (x + 0.5)) for x in range(w)]
            total = 0.0
            for y in range(h):
                row = y * w
                total += fy[y] * sum(channel[row + x] * fx[x] for x in range(w))
            f = total / (w * h)
            if cx or cy:
                ac.append(f)
                scale = max(scale, abs(f))
            else:
                dc = f
            cx += 1
    if scale:
        ac = [0.5 + 0.5 / scale * f for f in ac]
    return dc, ac, scale


def _round(value: float) -> int:
    """JavaScript's Math.round (halves go up), which the reference uses; Python's rounds even."""
    return math.floor(value + 0.5)


def encode(w: int, h: int, rgba: bytes) -> bytes:
    """The ThumbHash of ``w``×``h`` RGBA pixels (row-major, 4 bytes each)."""
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE) or len(rgba) != w * h * 4:
        raise ValueError(f"{w}x{h} with {len(rgba)} bytes does not fit ThumbHash's 100x100")
    n = w * h
    avg_r = avg_g = avg_b = avg_a = 0.0
    for j in range(0, n * 4, 4):
        alpha = rgba[j + 3] / 255
        avg_r += alpha / 255 * rgba[j]
        avg_g += alpha / 255 * rgba[j + 1]
        avg_b += alpha / 255 * rgba[j + 2]
        avg_a += alpha
    if avg_a:
        avg_r, avg_g, avg_b = avg_r / avg_a, avg_g / avg_a, avg_b / avg_a

    has_alpha = avg_a < n
    l_limit = 5 if has_alpha else 7  # fewer luminance bits when alpha needs room
    lx = max(1, _round(l_limit * w / max(w, h)))
    ly = max(1, _round(l_limit * h / max(w, h)))
    lum: list[float] = []
    p: list[float] = []
    q: list[float] = []
    a: list[float] = []
    for j in range(0, n * 4, 4):  # RGBA to LPQA, composited over the average colour
        alpha = rgba[j + 3] / 255
        r = avg_r * (1 - alpha) + alpha / 255 * rgba[j]
        g = avg_g * (1 - alpha) + alpha / 255 * rgba[j + 1]
        b = avg_b * (1 - alpha) + alpha / 255 * rgba[j + 2]
        lum.append((r + g + b) / 3)
        p.append((r + g) / 2 - b)
        q.append(r - g)
        a.append(alpha)

    l_dc, l_ac, l_scale = _encode_channel(lum, w, h, max(3, lx), max(3, ly))
    p_dc, p_ac, p_scale = _encode_channel(p, w, h, 3, 3)
    q_dc, q_ac, q_scale = _encode_channel(q, w, h, 3, 3)
    channels = [l_ac, p_ac, q_ac]

    landscape = w > h
    header24 = (
        _round(63 * l_dc)
        | (_round(31.5 + 31.5 * p_dc) << 6)
        | (_round(31.5 + 31.5 * q_dc) << 12)
        | (_round(31 * l_scale) << 18)
        | (int(has_alpha) << 23)
    )
    header16 = (
        (ly if landscape else lx)
        | (_round(63 * p_scale) << 3)
        | (_round(63 * q_scale) << 9)
        | (int(landscape) << 15)
    )
    out = [header24 & 255, (header24 >> 8) & 255, header24 >> 16, header16 & 255, header16 >> 8]
    if has_alpha:
        a_dc, a_ac, a_scale = _encode_channel(a, w, h, 5, 5)
        out.append(_round(15 * a_dc) | (_round(15 * a_scale) << 4))
        channels.append(a_ac)
    start = len(out)
    index = 0
    for ac in channels:
        for f in ac:
            pos = start + (index >> 1)
            if pos == len(out):
                out.append(0)
            out[pos] |= _round(15 * f) << ((index & 1) << 2)
            index += 1
    return bytes(out)


def encode_base64(w: int, h: int, rgba: bytes) -> str:
    return base64.b64encode(encode(w, h, rgba)).decode("ascii")
