// The ThumbHash decoder against hashes made by the server's own encoder
// (src/pixvault/core/pipeline/thumbhash.py) from known pictures. To remake one:
//   .venv/bin/python -c "from pixvault.core.pipeline import thumbhash; from PIL import Image;
//     im = Image.new('RGBA', (90, 60), (230, 170, 60, 255));
//     print(thumbhash.encode_base64(im.width, im.height, im.tobytes()))"
import assert from "node:assert/strict";
import { test } from "node:test";
import { crc32, inflateSync } from "node:zlib";

import {
  base64ToBytes,
  placeholderDataUrl,
  rgbaToDataURL,
  rgbaToPng,
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
  for (let at = 8; at < view.length; ) {
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
