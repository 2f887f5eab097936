// The placeholder the browser makes from a file it has just uploaded (localhash.js), with the
// browser's decoder and canvas stood in for: what size it draws at, that it asks for the EXIF
// orientation, that an undecodable file gives null (never an error), and when the local hash
// gives way to the server's.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";

import {
  encodeSize,
  forgetPlaceholders,
  placeholderOf,
  rememberPlaceholder,
  thumbHashOfFile,
} from "../../src/pixvault/web/static/js/localhash.js";
import { bytesToBase64, rgbaToThumbHash } from "../../src/pixvault/web/static/js/thumbhash.js";

const saved = {
  createImageBitmap: globalThis.createImageBitmap,
  OffscreenCanvas: globalThis.OffscreenCanvas,
};

afterEach(() => {
  Object.assign(globalThis, saved);
  forgetPlaceholders();
});

const solid = (w, h, rgba) => {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let i = 0; i < data.length; i += 4) data.set(rgba, i);
  return data;
};

/** A browser that decodes every file to a `width`×`height` bitmap of one colour. */
function fakeBrowser({ width, height, rgba = [200, 120, 40, 255], refuse = null }) {
  const seen = { options: [], drawn: null, canvas: null, closed: 0 };
  globalThis.createImageBitmap = async (file, options) => {
    seen.options.push(options);
    const refusal = refuse && refuse(options);
    if (refusal) throw refusal;
    return { width, height, close: () => (seen.closed += 1) };
  };
  globalThis.OffscreenCanvas = class {
    constructor(w, h) {
      seen.canvas = { w, h };
    }
    getContext(kind) {
      assert.equal(kind, "2d");
      return {
        drawImage: (...args) => (seen.drawn = args),
        set imageSmoothingQuality(value) {
          seen.quality = value;
        },
        getImageData: (x, y, w, h) => ({ width: w, height: h, data: solid(w, h, rgba) }),
      };
    }
  };
  return seen;
}

const FILE = { name: "DSC_0001.jpg", type: "image/jpeg" };

test("encodeSize keeps the aspect ratio within 100×100 and never enlarges", () => {
  assert.deepEqual(encodeSize(3000, 2000), { w: 100, h: 67 });
  assert.deepEqual(encodeSize(2000, 3000), { w: 67, h: 100 });
  assert.deepEqual(encodeSize(4000, 4000), { w: 100, h: 100 });
  assert.deepEqual(encodeSize(50, 20), { w: 50, h: 20 });
  assert.deepEqual(encodeSize(10000, 1), { w: 100, h: 1 });
  assert.deepEqual(encodeSize(1, 10000), { w: 1, h: 100 });
});

test("a decodable file: upright, drawn at most 100×100, hashed, its bitmap closed", async () => {
  const seen = fakeBrowser({ width: 3000, height: 2000 });
  const hash = await thumbHashOfFile(FILE);
  assert.deepEqual(seen.options, [{ imageOrientation: "from-image" }]);
  assert.deepEqual(seen.canvas, { w: 100, h: 67 });
  assert.deepEqual(seen.drawn.slice(1), [0, 0, 100, 67]);
  assert.equal(seen.quality, "high");
  assert.equal(seen.closed, 1);
  assert.equal(hash, bytesToBase64(rgbaToThumbHash(100, 67, solid(100, 67, [200, 120, 40, 255]))));
});

test("a browser that predates imageOrientation 'from-image' decodes with its default", async () => {
  const seen = fakeBrowser({
    width: 60,
    height: 90,
    refuse: (options) =>
      options ? new TypeError("The provided value 'from-image' is not a valid enum") : null,
  });
  const hash = await thumbHashOfFile(FILE);
  assert.deepEqual(seen.options, [{ imageOrientation: "from-image" }, undefined]);
  assert.deepEqual(seen.canvas, { w: 60, h: 90 });
  assert.equal(typeof hash, "string");
  assert.equal(seen.closed, 1);
});

test("a file the browser cannot decode (HEIC) gives null, not an error", async () => {
  const seen = fakeBrowser({
    width: 1,
    height: 1,
    refuse: () =>
      Object.assign(new Error("The source image could not be decoded."), {
        name: "InvalidStateError",
      }),
  });
  assert.equal(await thumbHashOfFile({ name: "IMG_0420.HEIC", type: "image/heic" }), null);
  assert.equal(seen.options.length, 1); // not retried: only a refused option is
  assert.equal(seen.canvas, null);
});

test("no canvas context, or no browser APIs at all: null", async () => {
  const seen = fakeBrowser({ width: 10, height: 10 });
  globalThis.OffscreenCanvas = class {
    getContext() {
      return null;
    }
  };
  assert.equal(await thumbHashOfFile(FILE), null);
  assert.equal(seen.closed, 1);
  globalThis.createImageBitmap = undefined;
  assert.equal(await thumbHashOfFile(FILE), null);
});

test("the local hash stands in until the server's comes, then is forgotten", () => {
  const fresh = { id: "a1", status: "ready", placeholder: null };
  assert.equal(placeholderOf(fresh), null);
  rememberPlaceholder("a1", "LOCAL");
  assert.equal(placeholderOf(fresh), "LOCAL");
  assert.equal(placeholderOf({ id: "b2", status: "ready", placeholder: null }), null);
  assert.equal(placeholderOf({ ...fresh, placeholder: "SERVER" }), "SERVER");
  assert.equal(placeholderOf(fresh), null); // forgotten once the server's was seen
});

test("a failed image gets no local placeholder, and signing out forgets them all", () => {
  rememberPlaceholder("f1", "LOCAL");
  assert.equal(placeholderOf({ id: "f1", status: "failed", placeholder: null }), null);
  assert.equal(placeholderOf({ id: "f1", status: "ready", placeholder: null }), null);
  rememberPlaceholder("c3", "LOCAL");
  rememberPlaceholder("", "ignored");
  rememberPlaceholder("d4", null);
  forgetPlaceholders();
  assert.equal(placeholderOf({ id: "c3", status: "ready", placeholder: null }), null);
});
