// ThumbHash: the ~25-byte blurred stand-in painted while a thumbnail loads. The server computes
// one for every image (`placeholder`, base64) when it renders the thumbnail; the browser makes
// its own from the file it just uploaded, so a fresh card has its colours before the server's
// hash exists (localhash.js). Both halves are ported from Evan Wallace's public-domain reference
// (https://evanw.github.io/thumbhash/, js/thumbhash.js) with the same arithmetic, so this
// encoder gives the bytes the server's (core/pipeline/thumbhash.py) gives for the same pixels;
// in flat areas some terms are zero but for rounding noise, which may differ, and which the
// decoder scales to nothing.
// The PNG is built here too (uncompressed, a few KiB), so decoding needs no <canvas> and the
// module stays pure: no DOM, so Node's test runner checks it (tests/js/thumbhash.test.mjs).

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** The bytes of standard base64 text (padding optional); null for anything else. */
export function base64ToBytes(text) {
  if (typeof text !== "string") return null;
  const clean = text.replace(/=+$/, "");
  if (clean.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const char of clean) {
    const digit = BASE64.indexOf(char);
    if (digit < 0) return null;
    value = (value << 6) | digit;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 255;
    }
  }
  return out;
}

/** Width / height of the image the hash was made from (approximate: from the term counts). */
export function thumbHashToApproximateAspectRatio(hash) {
  const header = hash[3];
  const hasAlpha = hash[2] & 0x80;
  const isLandscape = hash[4] & 0x80;
  const lx = isLandscape ? (hasAlpha ? 5 : 7) : header & 7;
  const ly = isLandscape ? header & 7 : hasAlpha ? 5 : 7;
  return lx / ly;
}

/** The average colour, each channel 0..1 (not premultiplied by alpha). */
export function thumbHashToAverageRGBA(hash) {
  const { min, max } = Math;
  const header = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const l = (header & 63) / 63;
  const p = ((header >> 6) & 63) / 31.5 - 1;
  const q = ((header >> 12) & 63) / 31.5 - 1;
  const hasAlpha = header >> 23;
  const a = hasAlpha ? (hash[5] & 15) / 15 : 1;
  const b = l - (2 / 3) * p;
  const r = (3 * l - b + q) / 2;
  const g = r - q;
  return { r: max(0, min(1, r)), g: max(0, min(1, g)), b: max(0, min(1, b)), a };
}

/** The picture: { w, h, rgba } at most 32×32, in the image's (approximate) aspect ratio. */
export function thumbHashToRGBA(hash) {
  const { PI, min, max, cos, round } = Math;
  if (!hash || hash.length < 5) throw new RangeError("a ThumbHash has at least 5 bytes");

  // The constants.
  const header24 = hash[0] | (hash[1] << 8) | (hash[2] << 16);
  const header16 = hash[3] | (hash[4] << 8);
  const lDc = (header24 & 63) / 63;
  const pDc = ((header24 >> 6) & 63) / 31.5 - 1;
  const qDc = ((header24 >> 12) & 63) / 31.5 - 1;
  const lScale = ((header24 >> 18) & 31) / 31;
  const hasAlpha = header24 >> 23;
  const pScale = ((header16 >> 3) & 63) / 63;
  const qScale = ((header16 >> 9) & 63) / 63;
  const isLandscape = header16 >> 15;
  const lx = max(3, isLandscape ? (hasAlpha ? 5 : 7) : header16 & 7);
  const ly = max(3, isLandscape ? header16 & 7 : hasAlpha ? 5 : 7);
  const aDc = hasAlpha ? (hash[5] & 15) / 15 : 1;
  const aScale = (hash[5] >> 4) / 15;

  // The varying factors (saturation boosted 1.25× to make up for quantisation).
  const acStart = hasAlpha ? 6 : 5;
  let acIndex = 0;
  const decodeChannel = (nx, ny, scale) => {
    const ac = [];
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) {
        const byte = hash[acStart + (acIndex >> 1)] ?? 0;
        ac.push((((byte >> ((acIndex & 1) << 2)) & 15) / 7.5 - 1) * scale);
        acIndex++;
      }
    }
    return ac;
  };
  const lAc = decodeChannel(lx, ly, lScale);
  const pAc = decodeChannel(3, 3, pScale * 1.25);
  const qAc = decodeChannel(3, 3, qScale * 1.25);
  const aAc = hasAlpha ? decodeChannel(5, 5, aScale) : [];

  // The inverse DCT, into RGB.
  const ratio = thumbHashToApproximateAspectRatio(hash);
  const w = round(ratio > 1 ? 32 : 32 * ratio);
  const h = round(ratio > 1 ? 32 / ratio : 32);
  const rgba = new Uint8Array(w * h * 4);
  const fx = [];
  const fy = [];
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      let l = lDc;
      let p = pDc;
      let q = qDc;
      let a = aDc;
      for (let cx = 0, n = max(lx, hasAlpha ? 5 : 3); cx < n; cx++) {
        fx[cx] = cos((PI / w) * (x + 0.5) * cx);
      }
      for (let cy = 0, n = max(ly, hasAlpha ? 5 : 3); cy < n; cy++) {
        fy[cy] = cos((PI / h) * (y + 0.5) * cy);
      }
      for (let cy = 0, j = 0; cy < ly; cy++) {
        for (let cx = cy ? 0 : 1, fy2 = fy[cy] * 2; cx * ly < lx * (ly - cy); cx++, j++) {
          l += lAc[j] * fx[cx] * fy2;
        }
      }
      for (let cy = 0, j = 0; cy < 3; cy++) {
        for (let cx = cy ? 0 : 1, fy2 = fy[cy] * 2; cx < 3 - cy; cx++, j++) {
          const f = fx[cx] * fy2;
          p += pAc[j] * f;
          q += qAc[j] * f;
        }
      }
      if (hasAlpha) {
        for (let cy = 0, j = 0; cy < 5; cy++) {
          for (let cx = cy ? 0 : 1, fy2 = fy[cy] * 2; cx < 5 - cy; cx++, j++) {
            a += aAc[j] * fx[cx] * fy2;
          }
        }
      }
      const b = l - (2 / 3) * p;
      const r = (3 * l - b + q) / 2;
      const g = r - q;
      rgba[i] = max(0, 255 * min(1, r));
      rgba[i + 1] = max(0, 255 * min(1, g));
      rgba[i + 2] = max(0, 255 * min(1, b));
      rgba[i + 3] = max(0, 255 * min(1, a));
    }
  }
  return { w, h, rgba };
}

/** Encoding more than 100×100 pixels is slow for no better hash: callers shrink first. */
export const MAX_ENCODE_SIDE = 100;

/**
 * The ThumbHash (bytes) of `w`×`h` RGBA pixels, row-major, not premultiplied (what a canvas's
 * getImageData gives). The reference's rgbaToThumbHash, line for line: summation order and
 * rounding (Math.round) included, which is what makes the bytes match the server's.
 */
export function rgbaToThumbHash(w, h, rgba) {
  const { PI, round, max, cos, abs } = Math;
  if (!(w > 0 && h > 0 && w <= MAX_ENCODE_SIDE && h <= MAX_ENCODE_SIDE)) {
    throw new RangeError(`${w}x${h} does not fit ThumbHash's 100x100`);
  }
  if (!rgba || rgba.length !== w * h * 4) {
    throw new RangeError(`${w}x${h} needs ${w * h * 4} bytes of RGBA`);
  }
  const n = w * h;

  // The average colour (weighted by alpha).
  let avgR = 0;
  let avgG = 0;
  let avgB = 0;
  let avgA = 0;
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const alpha = rgba[j + 3] / 255;
    avgR += (alpha / 255) * rgba[j];
    avgG += (alpha / 255) * rgba[j + 1];
    avgB += (alpha / 255) * rgba[j + 2];
    avgA += alpha;
  }
  if (avgA) {
    avgR /= avgA;
    avgG /= avgA;
    avgB /= avgA;
  }

  const hasAlpha = avgA < n;
  const lLimit = hasAlpha ? 5 : 7; // fewer luminance terms when alpha needs room
  const lx = max(1, round((lLimit * w) / max(w, h)));
  const ly = max(1, round((lLimit * h) / max(w, h)));
  const l = new Float64Array(n); // luminance
  const p = new Float64Array(n); // yellow - blue
  const q = new Float64Array(n); // red - green
  const a = new Float64Array(n); // alpha

  // RGBA to LPQA, composited over the average colour.
  for (let i = 0, j = 0; i < n; i++, j += 4) {
    const alpha = rgba[j + 3] / 255;
    const r = avgR * (1 - alpha) + (alpha / 255) * rgba[j];
    const g = avgG * (1 - alpha) + (alpha / 255) * rgba[j + 1];
    const b = avgB * (1 - alpha) + (alpha / 255) * rgba[j + 2];
    l[i] = (r + g + b) / 3;
    p[i] = (r + g) / 2 - b;
    q[i] = r - g;
    a[i] = alpha;
  }

  // The DCT: a constant (DC) term, and varying (AC) terms normalised to 0..1 by their scale.
  const encodeChannel = (channel, nx, ny) => {
    let dc = 0;
    let scale = 0;
    const ac = [];
    const fx = new Float64Array(w);
    for (let cy = 0; cy < ny; cy++) {
      for (let cx = 0; cx * ny < nx * (ny - cy); cx++) {
        let f = 0;
        for (let x = 0; x < w; x++) fx[x] = cos((PI / w) * cx * (x + 0.5));
        for (let y = 0; y < h; y++) {
          const fy = cos((PI / h) * cy * (y + 0.5));
          for (let x = 0; x < w; x++) f += channel[x + y * w] * fx[x] * fy;
        }
        f /= n;
        if (cx || cy) {
          ac.push(f);
          scale = max(scale, abs(f));
        } else {
          dc = f;
        }
      }
    }
    if (scale) {
      for (let i = 0; i < ac.length; i++) ac[i] = 0.5 + (0.5 / scale) * ac[i];
    }
    return { dc, ac, scale };
  };
  const lum = encodeChannel(l, max(3, lx), max(3, ly));
  const yb = encodeChannel(p, 3, 3);
  const rg = encodeChannel(q, 3, 3);
  const alphaTerms = hasAlpha ? encodeChannel(a, 5, 5) : null;

  // The constants.
  const isLandscape = w > h;
  const header24 =
    round(63 * lum.dc) |
    (round(31.5 + 31.5 * yb.dc) << 6) |
    (round(31.5 + 31.5 * rg.dc) << 12) |
    (round(31 * lum.scale) << 18) |
    ((hasAlpha ? 1 : 0) << 23);
  const header16 =
    (isLandscape ? ly : lx) |
    (round(63 * yb.scale) << 3) |
    (round(63 * rg.scale) << 9) |
    ((isLandscape ? 1 : 0) << 15);
  const hash = [
    header24 & 255,
    (header24 >> 8) & 255,
    header24 >> 16,
    header16 & 255,
    header16 >> 8,
  ];
  if (alphaTerms) hash.push(round(15 * alphaTerms.dc) | (round(15 * alphaTerms.scale) << 4));

  // The varying factors, two to a byte.
  const acStart = hash.length;
  let acIndex = 0;
  const channels = alphaTerms ? [lum, yb, rg, alphaTerms] : [lum, yb, rg];
  for (const { ac } of channels) {
    for (const f of ac) {
      const at = acStart + (acIndex >> 1);
      hash[at] = (hash[at] ?? 0) | (round(15 * f) << ((acIndex & 1) << 2));
      acIndex++;
    }
  }
  return Uint8Array.from(hash);
}

const CRC_TABLE = [
  0, 498536548, 997073096, 651767980, 1994146192, 1802195444, 1303535960, 1342533948, -306674912,
  -267414716, -690576408, -882789492, -1687895376, -2032938284, -1609899400, -1111625188,
];

/** An uncompressed RGBA PNG (stored deflate blocks), as the reference builds it. */
export function rgbaToPng(w, h, rgba) {
  const row = w * 4 + 1;
  const idat = 6 + h * (5 + row);
  // Signature, IHDR (w × h, 8-bit RGBA), then IDAT's length and the zlib header.
  const bytes = [
    137,
    80,
    78,
    71,
    13,
    10,
    26,
    10,
    0,
    0,
    0,
    13,
    73,
    72,
    68,
    82,
    0,
    0,
    w >> 8,
    w & 255,
    0,
    0,
    h >> 8,
    h & 255,
    8,
    6,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    idat >>> 24,
    (idat >> 16) & 255,
    (idat >> 8) & 255,
    idat & 255,
    73,
    68,
    65,
    84,
    120,
    1,
  ];
  let a = 1;
  let b = 0;
  for (let y = 0, i = 0, end = row - 1; y < h; y++, end += row - 1) {
    bytes.push(y + 1 < h ? 0 : 1, row & 255, row >> 8, ~row & 255, (row >> 8) ^ 255, 0);
    for (b = (b + a) % 65521; i < end; i++) {
      const u = rgba[i] & 255;
      bytes.push(u);
      a = (a + u) % 65521;
      b = (b + a) % 65521;
    }
  }
  // Adler-32, then IEND (its CRC is constant); the two CRCs of 0 are filled in below.
  bytes.push(b >> 8, b & 255, a >> 8, a & 255, 0, 0, 0, 0);
  bytes.push(0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130);
  for (let [start, end] of [
    [12, 29],
    [37, 41 + idat],
  ]) {
    let c = ~0;
    for (let i = start; i < end; i++) {
      c ^= bytes[i];
      c = (c >>> 4) ^ CRC_TABLE[c & 15];
      c = (c >>> 4) ^ CRC_TABLE[c & 15];
    }
    c = ~c;
    bytes[end++] = c >>> 24;
    bytes[end++] = (c >> 16) & 255;
    bytes[end++] = (c >> 8) & 255;
    bytes[end++] = c & 255;
  }
  return Uint8Array.from(bytes);
}

/** Standard base64 (padded) of `bytes`: a ThumbHash as the server's `placeholder` spells it. */
export function bytesToBase64(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += BASE64[(n >> 18) & 63] + BASE64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? BASE64[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? BASE64[n & 63] : "=";
  }
  return out;
}

/** A `data:image/png` URL of `rgba` (w × h). */
export function rgbaToDataURL(w, h, rgba) {
  return `data:image/png;base64,${bytesToBase64(rgbaToPng(w, h, rgba))}`;
}

/** The server's `placeholder` (base64 ThumbHash) as a PNG data URL; null when absent or bad. */
export function placeholderDataUrl(placeholder) {
  const hash = base64ToBytes(placeholder);
  if (!hash || hash.length < 5) return null;
  try {
    const { w, h, rgba } = thumbHashToRGBA(hash);
    return w > 0 && h > 0 ? rgbaToDataURL(w, h, rgba) : null;
  } catch {
    return null;
  }
}
