// The ThumbHash decoder against hashes made by the server's own encoder
// (src/pixvault/core/pipeline/thumbhash.py) from known pictures, and the browser's encoder
// against the same encoder's bytes and against the decoder. To remake one:
//   .venv/bin/python -c "from pixvault.core.pipeline import thumbhash; from PIL import Image;
//     im = Image.new('RGBA', (90, 60), (230, 170, 60, 255));
//     print(thumbhash.encode_base64(im.width, im.height, im.tobytes()))"
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32, inflateSync } from "node:zlib";

import {
  base64ToBytes,
  bytesToBase64,
  MAX_ENCODE_SIDE,
  placeholderDataUrl,
  rgbaToDataURL,
  rgbaToPng,
  rgbaToThumbHash,
  thumbHashToApproximateAspectRatio,
  thumbHashToAverageRGBA,
  thumbHashToRGBA,
} from "../../src/pixvault/web/static/js/thumbhash.js";

// 90×60, solid RGB (230, 170, 60).
const SOLID = "ZnwCBYBUZt2OiIiBiNiIgJ2PkscI";
// 40×60 (portrait), top half (220, 40, 40), bottom half (40, 60, 220).
const SPLIT = "2pYCpSB4eIB3eIioh4doeIiPiPeI";
// 50×50, left half transparent, right half opaque (30, 160, 60).
const ALPHA = "FfmABQBYj4V3iIh4h4CH+Id4gIqIiHh4iA==";
// 100×50, black on the left to white on the right.
const GRADIENT = "IAgaBICAh4eHiIiIiIcAAAAAAA==";

const decode = (b64) => thumbHashToRGBA(base64ToBytes(b64));

function mean({ w, rgba }, { x0 = 0, x1 = w, y0 = 0, y1 = rgba.length / 4 / w } = {}) {
  const sum = [0, 0, 0, 0];
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 4; c++) sum[c] += rgba[(y * w + x) * 4 + c];
      n += 1;
    }
  }
  return sum.map((s) => s / n);
}

function near(actual, expected, tolerance, what) {
  for (let c = 0; c < expected.length; c++) {
    const ok = Math.abs(actual[c] - expected[c]) <= tolerance;
    assert.ok(ok, `${what}: channel ${c} is ${actual[c].toFixed(1)}, expected ~${expected[c]}`);
  }
}

test("base64 decoding matches Node's, with or without padding; junk is null", () => {
  for (const text of [SOLID, SPLIT, ALPHA, GRADIENT, "", "QQ", "QUI", "QUJD"]) {
    assert.deepEqual([...base64ToBytes(text)], [...Buffer.from(text, "base64")], text);
  }
  assert.deepEqual([...base64ToBytes("QUI=")], [65, 66]);
  assert.equal(base64ToBytes("a$b%"), null);
  assert.equal(base64ToBytes("QUJDR"), null); // one character too many
  assert.equal(base64ToBytes(null), null);
});

test("a solid 3:2 landscape decodes to 32×23 of its colour", () => {
  const hash = base64ToBytes(SOLID);
  assert.equal(thumbHashToApproximateAspectRatio(hash), 7 / 5);
  const image = decode(SOLID);
  assert.equal(image.w, 32);
  assert.equal(image.h, 23);
  assert.equal(image.rgba.length, 32 * 23 * 4);
  near(mean(image), [230, 170, 60, 255], 6, "mean");
  const avg = thumbHashToAverageRGBA(hash);
  near([avg.r * 255, avg.g * 255, avg.b * 255, avg.a * 255], [230, 170, 60, 255], 6, "average");
});

test("a portrait keeps its orientation and where its colours are", () => {
  const image = decode(SPLIT);
  assert.equal(image.w, 23);
  assert.equal(image.h, 32);
  const top = mean(image, { y1: 8 });
  const bottom = mean(image, { y0: 24 });
  assert.ok(top[0] > top[2] + 80, `top is red: ${top}`);
  assert.ok(bottom[2] > bottom[0] + 80, `bottom is blue: ${bottom}`);
  near(mean(image), [130, 50, 130, 255], 25, "mean");
});

test("alpha survives: the transparent half is transparent", () => {
  const image = decode(ALPHA);
  assert.equal(image.w, 32);
  assert.equal(image.h, 32);
  const left = mean(image, { x1: 8 });
  const right = mean(image, { x0: 24 });
  assert.ok(left[3] < 60, `left alpha ${left[3]}`);
  assert.ok(right[3] > 200, `right alpha ${right[3]}`);
  near(right.slice(0, 3), [30, 160, 60], 40, "right");
});

test("a 2:1 gradient runs dark to light, left to right", () => {
  const image = decode(GRADIENT);
  assert.equal(image.w, 32);
  assert.equal(image.h, 18);
  const left = mean(image, { x1: 4 })[0];
  const middle = mean(image, { x0: 14, x1: 18 })[0];
  const right = mean(image, { x0: 28 })[0];
  assert.ok(left < 50 && right > 205, `ends ${left} .. ${right}`);
  assert.ok(left < middle && middle < right, "monotonic");
});

function chunks(png) {
  const out = [];
  const view = Buffer.from(png);
  assert.deepEqual([...view.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  for (let at = 8; at < view.length;) {
    const length = view.readUInt32BE(at);
    const type = view.subarray(at + 4, at + 8).toString("latin1");
    const data = view.subarray(at + 8, at + 8 + length);
    const crc = view.readUInt32BE(at + 8 + length);
    assert.equal(crc, crc32(view.subarray(at + 4, at + 8 + length)), `${type} CRC`);
    out.push({ type, data });
    at += 12 + length;
  }
  return out;
}

test("the PNG is valid (CRCs, zlib stream) and holds exactly the pixels", () => {
  const { w, h, rgba } = decode(SPLIT);
  const parts = chunks(rgbaToPng(w, h, rgba));
  assert.deepEqual(
    parts.map((c) => c.type),
    ["IHDR", "IDAT", "IEND"],
  );
  const ihdr = Buffer.from(parts[0].data);
  assert.equal(ihdr.readUInt32BE(0), w);
  assert.equal(ihdr.readUInt32BE(4), h);
  assert.deepEqual([...ihdr.subarray(8)], [8, 6, 0, 0, 0]); // 8-bit RGBA
  const raw = inflateSync(parts[1].data); // checks the Adler-32 too
  assert.equal(raw.length, h * (w * 4 + 1));
  for (let y = 0; y < h; y++) {
    const line = raw.subarray(y * (w * 4 + 1), (y + 1) * (w * 4 + 1));
    assert.equal(line[0], 0); // filter: none
    assert.deepEqual([...line.subarray(1)], [...rgba.subarray(y * w * 4, (y + 1) * w * 4)]);
  }
});

test("placeholderDataUrl gives a PNG data URL, and null for a missing or broken hash", () => {
  const url = placeholderDataUrl(SOLID);
  assert.match(url, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
  const { w, h, rgba } = decode(SOLID);
  assert.equal(url, rgbaToDataURL(w, h, rgba));
  const png = Buffer.from(url.split(",")[1], "base64");
  assert.equal(chunks(png).length, 3);
  for (const bad of [null, undefined, "", "QUI=", "not base64!", 42]) {
    assert.equal(placeholderDataUrl(bad), null, String(bad));
  }
});

// The encoder. The golden value of tests/core/test_derivative_rules.py (the reference
// algorithm's bytes): 32×24 opaque pixels, red from random.Random(1).randrange(256) per pixel
// (below, base64), green (i * 7) % 256 and blue (i * 3) % 256 for pixel i. Remake the red with
//   .venv/bin/python -c "import random, base64; rng = random.Random(1);
//     print(base64.b64encode(bytes(rng.randrange(256) for _ in range(32 * 24))).decode())"
const GOLDEN_RED = [
  "RCCCPP3m8cJrMPkOx90B5Ih1NKIPCw0Ew27YDnHg/XewdnDrlAvVM1+XParYYZuR/8kR9XzO1Fi7vyzgN1PJvfoP",
  "8BadyVdWdAZmds+wtOuJAsRCadoc9rpm0/i21LEAqeoOdVpcLoIQJCoI5wePf4k4XrCUI1VRglaLluik/vI6DJ/F",
  "r9dghDeBa90KcwnLShJS5Npw5nIPyqTaHphAbBicJCeemFHVgUIEE2/rVxPBZrEyad1j/DXHl/8Ips2QCVBmp0Wt",
  "222IMcKw+HghFCtEVlVtiaqCvK2uOpV4+kU1pBTQJcJLQK46wSdyKYi6lzrqjTcXlwYHLtM6FGB611I75lV7UTTe",
  "wZaB9KEzaqIUDQWXo+bIoMwgIKLpOYBu8LaEXWqdZX64KY8t5S6tdMedFadfopt9qzMvfXAKfM0liSQmCwWUt/zw",
  "TjOnJ1hbTEijnDaWQGlIEKFpW5ndUBh+gSDk3IDg6AXKrVeE+AzVCR+1RkBGhI3LzVgtd/gDWqLgc3qg/fVz06yM",
  "cBgkvFFon5iZvlTtKz/BWk+A2m8a/cmyxFQULoIziCpHKeN7w93LVKbgQPlsPdzRPJeOf8ECYeAKD3yFaViRS2aL",
  "n4DkVrb71z5qxGiRNww8BpdFJr+f37alAD/i5rOczK38OcHDaAGOZezRnFfmZbgBx9rPrCL8fpQK0E/LilslBbKH",
  "0ptN7IT4Vu8XijLYI7Ui4gpUUi/NjZtqanmqiSMmvO8ZVpiKtnbIzFj3hKhxhH0PzqLdf4lhJVTjS4brU0ZG4bie",
  "zXs7aZwiNnTLpPwzXxccC24R/eKvjDxYMHHMd/3mwVZ2eJHsx2znhKn+OG0oFwcC9aPEk2TMUU0PB8ZKHcKCQijs",
  "mwcSH0IVjDzdLmEO/0KOYuXHqImFfH0eWbPbH7TTZtkjiCWAWjFNHmjbFhsu8L0yoBRAEOJByuQMii6ApiuaEcQd",
  "haBChcI7mzDZfWmprcj2NULlD5VQZr3HpjHRsEAhFpmg1ZijtIumBD5M",
].join("");

// Pictures with every term of the transform in play, as the server's encoder hashes them:
//   .venv/bin/python -c "from pixvault.core.pipeline import thumbhash
//     def px(w, h, alpha): return bytes(v for y in range(h) for x in range(w) for v in (
//       (x*x*7 + y*13) % 256, (x*y*5 + 31) % 256, (x*11 + y*y*3) % 256,
//       (x*17 + y*29) % 256 if alpha else 255))
//     for w, h, a in [(60, 40, 0), (30, 50, 1), (100, 100, 0)]:
//       print(thumbhash.encode_base64(w, h, px(w, h, a)))"
// (Flat areas are another matter: there some terms are zero but for rounding noise, which the
// order of the sums decides; such terms are scaled to nothing when decoded.)
const PATTERNS = [
  { w: 60, h: 40, alpha: false, hash: "3wcCBYImJpJhkxVkdQQlNXhgl871" },
  { w: 30, h: 50, alpha: true, hash: "3weCCwIHkbAyNAlLDLf6mngFWEd3d3U=" },
  { w: 100, h: 100, alpha: false, hash: "4AcCBwBBYFRhV4WDeRVWdFVFZCBF724O" },
];

function pattern(w, h, alpha) {
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) {
      rgba[i] = (x * x * 7 + y * 13) % 256;
      rgba[i + 1] = (x * y * 5 + 31) % 256;
      rgba[i + 2] = (x * 11 + y * y * 3) % 256;
      rgba[i + 3] = alpha ? (x * 17 + y * 29) % 256 : 255;
    }
  }
  return rgba;
}

/** `w`×`h` pixels whose colour is `at(x, y)` ([r, g, b, a]). */
function picture(w, h, at) {
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 4) rgba.set(at(x, y), i);
  }
  return { w, h, rgba };
}

const encode = ({ w, h, rgba }) => rgbaToThumbHash(w, h, rgba);

test("the encoder gives the server's golden bytes for the same pixels", () => {
  const red = Buffer.from(GOLDEN_RED, "base64");
  assert.equal(red.length, 32 * 24);
  const image = picture(32, 24, (x, y) => {
    const i = y * 32 + x;
    return [red[i], (i * 7) % 256, (i * 3) % 256, 255];
  });
  const hash = encode(image);
  assert.ok(hash instanceof Uint8Array);
  assert.equal(Buffer.from(hash).toString("hex"), "dff7010d82645550515c6977894997a98a5f87e870");
});

test("the encoder gives the server's bytes: landscape, portrait with alpha, 100×100", () => {
  for (const { w, h, alpha, hash } of PATTERNS) {
    assert.equal(bytesToBase64(rgbaToThumbHash(w, h, pattern(w, h, alpha))), hash, `${w}x${h}`);
  }
});

test("bytesToBase64 is standard, padded base64", () => {
  for (const length of [0, 1, 2, 3, 4, 5, 25]) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 97 + 13) % 256);
    assert.equal(bytesToBase64(bytes), Buffer.from(bytes).toString("base64"), `${length} bytes`);
    assert.deepEqual([...base64ToBytes(bytesToBase64(bytes))], [...bytes]);
  }
});

test("round trip: a horizontal gradient decodes to its colours, in place", () => {
  // 80×60, red on the left to blue on the right, as a canvas's getImageData would give it.
  const image = picture(80, 60, (x) => {
    const t = x / 79;
    return [Math.round(220 * (1 - t) + 30 * t), 60, Math.round(40 * (1 - t) + 210 * t), 255];
  });
  const hash = encode(image);
  assert.ok(hash.length >= 5 && hash.length <= 25, `${hash.length} bytes`);
  assert.equal(thumbHashToApproximateAspectRatio(hash), 7 / 5); // 4:3 is landscape
  const back = thumbHashToRGBA(hash);
  assert.equal(back.w, 32);
  const scale = (x) => Math.round((x * 80) / 32);
  const source = (x0, x1) => mean(image, { x0: scale(x0), x1: scale(x1) });
  for (const [x0, x1] of [
    [0, 6],
    [13, 19],
    [26, 32],
  ]) {
    near(mean(back, { x0, x1 }), source(x0, x1), 25, `columns ${x0}..${x1}`);
  }
  const left = mean(back, { x1: 6 });
  const right = mean(back, { x0: 26 });
  assert.ok(left[0] > right[0] + 100 && right[2] > left[2] + 100, `${left} .. ${right}`);
  near(mean(back), mean(image), 10, "mean");
});

test("round trip: a solid colour, a tall portrait, and alpha", () => {
  const solid = picture(100, 75, () => [230, 170, 60, 255]);
  near(mean(thumbHashToRGBA(encode(solid))), [230, 170, 60, 255], 6, "solid");
  const avg = thumbHashToAverageRGBA(encode(solid));
  near([avg.r * 255, avg.g * 255, avg.b * 255, avg.a * 255], [230, 170, 60, 255], 6, "average");

  // 40×100: green on top, purple below.
  const tall = picture(40, 100, (x, y) => (y < 50 ? [40, 180, 70, 255] : [120, 40, 160, 255]));
  const back = thumbHashToRGBA(encode(tall));
  assert.ok(back.h === 32 && back.w < 20, `${back.w}x${back.h}`);
  const top = mean(back, { y1: 12 });
  const bottom = mean(back, { y0: 20 });
  assert.ok(top[1] > bottom[1] + 80 && bottom[2] > top[2] + 50, `${top} over ${bottom}`);
  near(mean(back), mean(tall), 12, "mean");

  // Left half transparent: the hash says so (header bit), and the decoded half is clear.
  const half = picture(50, 50, (x) => (x < 25 ? [0, 0, 0, 0] : [30, 160, 60, 255]));
  const hash = encode(half);
  assert.ok(hash[2] & 0x80, "hasAlpha");
  const decoded = thumbHashToRGBA(hash);
  assert.ok(mean(decoded, { x1: 8 })[3] < 60);
  assert.ok(mean(decoded, { x0: 24 })[3] > 200);
  near(mean(decoded, { x0: 24 }).slice(0, 3), [30, 160, 60], 40, "opaque half");
});

test("what the encoder makes, the app paints (placeholderDataUrl)", () => {
  const hash = bytesToBase64(encode(picture(64, 48, () => [90, 120, 200, 255])));
  const url = placeholderDataUrl(hash);
  assert.match(url, /^data:image\/png;base64,/);
  const png = Buffer.from(url.split(",")[1], "base64");
  assert.equal(chunks(png).length, 3);
});

test("the encoder refuses what it cannot hash", () => {
  assert.equal(MAX_ENCODE_SIDE, 100);
  assert.throws(() => rgbaToThumbHash(101, 1, new Uint8Array(404)), RangeError);
  assert.throws(() => rgbaToThumbHash(1, 101, new Uint8Array(404)), RangeError);
  assert.throws(() => rgbaToThumbHash(0, 10, new Uint8Array(0)), RangeError);
  assert.throws(() => rgbaToThumbHash(10, 10, new Uint8Array(399)), RangeError);
  const dot = rgbaToThumbHash(1, 1, Uint8Array.of(10, 20, 30, 255)); // the smallest there is
  assert.equal(thumbHashToRGBA(dot).w, 32);
});
