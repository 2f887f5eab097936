// Which link each <img> shows: thumbnails in the grid, the preview in the viewer, the original
// only when zoomed, and never for an original a browser cannot decode (HEIC) or a failed image.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  canShowOriginal,
  failureText,
  gallerySource,
  viewerSource,
} from "../../src/pixvault/web/static/js/sources.js";

const photo = (extra = {}) => ({
  contentType: "image/jpeg",
  status: "ready",
  url: "https://x/files/o?sig=1",
  thumbnailUrl: "https://x/derived/t?sig=2",
  previewUrl: "https://x/derived/p?sig=3",
  ...extra,
});

test("the grid shows the thumbnail, the viewer the preview, zoom the original", () => {
  assert.deepEqual(gallerySource(photo()), { kind: "thumbnailUrl", url: photo().thumbnailUrl });
  assert.deepEqual(viewerSource(photo()), { kind: "previewUrl", url: photo().previewUrl });
  assert.deepEqual(viewerSource(photo(), true), { kind: "url", url: photo().url });
});

test("a thumbnail offers its 800 px twin to high-density screens", () => {
  const hiDpi = photo({ thumbnail2xUrl: "https://x/derived/t2?sig=4" });
  assert.deepEqual(gallerySource(hiDpi), {
    kind: "thumbnailUrl",
    url: hiDpi.thumbnailUrl,
    url2x: hiDpi.thumbnail2xUrl,
    kind2x: "thumbnail2xUrl",
  });
  // Only a thumbnail has a twin: a preview or an original standing in for it does not.
  const noThumb = photo({ thumbnailUrl: null, thumbnail2xUrl: "https://x/derived/t2?sig=4" });
  assert.deepEqual(gallerySource(noThumb), { kind: "previewUrl", url: noThumb.previewUrl });
});

test("an image without derivative links falls back to its original", () => {
  const old = photo({ thumbnailUrl: null, previewUrl: undefined });
  assert.deepEqual(gallerySource(old), { kind: "url", url: old.url });
  assert.deepEqual(viewerSource(old), { kind: "url", url: old.url });
});

test("HEIC and HEIF originals are never put in an <img>: preview only", () => {
  for (const contentType of ["image/heic", "image/heif", "IMAGE/HEIC"]) {
    const heic = photo({ contentType });
    assert.equal(canShowOriginal(heic), false, contentType);
    assert.equal(viewerSource(heic, true).kind, "previewUrl", contentType);
    assert.equal(gallerySource(photo({ contentType, thumbnailUrl: null })).kind, "previewUrl");
    assert.equal(gallerySource(photo({ contentType, thumbnailUrl: null, previewUrl: null })), null);
  }
  assert.equal(canShowOriginal(photo({ contentType: "image/avif" })), true);
});

test("a failed image shows its reason, as given, and is not zoomed", () => {
  const failed = photo({ status: "failed", failureReason: "<b>broken</b> JPEG" });
  assert.equal(failureText(failed), "<b>broken</b> JPEG"); // text, escaped by textContent
  const silent = photo({ status: "failed", failureReason: null });
  assert.equal(failureText(silent), "This image could not be processed.");
  assert.equal(failureText(photo()), "");
  assert.equal(canShowOriginal(failed), false);
  assert.equal(viewerSource(failed, true).kind, "previewUrl");
});
