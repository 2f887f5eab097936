// Which signed link an <img> shows for an image. Pure: no DOM, so Node's test runner checks it
// (tests/js/sources.test.mjs); gallery.js and viewer.js apply it.
//
// The grid shows `thumbnailUrl` (WebP, 400 px), the viewer `previewUrl` (WebP, 1600 px); the
// original (`url`) is loaded only when someone asks to zoom, or downloads. Each answer names the
// field it came from (`kind`), so links.js can fetch a fresh link of the same kind when it
// expires. An image from before derivatives existed has no thumbnail or preview link: its
// original stands in.

/** Originals a browser cannot decode (HEIC/HEIF): shown only through the preview. */
export const UNVIEWABLE_TYPES = new Set([
  "image/heic",
  "image/heif",
  "image/heic-sequence",
  "image/heif-sequence",
]);

export function isFailed(image) {
  // "missing": the repair pass found its bytes gone; shown like a failed image, to delete.
  return image.status === "failed" || image.status === "missing";
}

/** True when the original can be shown in the page (not HEIC, and its pixels decode). */
export function canShowOriginal(image) {
  const type = String(image.contentType || "").toLowerCase();
  return !UNVIEWABLE_TYPES.has(type) && !isFailed(image);
}

function pick(image, kinds) {
  for (const kind of kinds) {
    if (image[kind]) return { kind, url: image[kind] };
  }
  return null;
}

/**
 * The grid card's picture: the thumbnail (else the preview, else a viewable original). A
 * thumbnail comes with its 800 px twin (`url2x`, field `kind2x`) for high-density screens.
 */
export function gallerySource(image) {
  const kinds = ["thumbnailUrl", "previewUrl"];
  const source = pick(image, canShowOriginal(image) ? [...kinds, "url"] : kinds);
  if (source && source.kind === "thumbnailUrl" && image.thumbnail2xUrl) {
    return { ...source, url2x: image.thumbnail2xUrl, kind2x: "thumbnail2xUrl" };
  }
  return source;
}

/** The viewer's picture: the preview, or the original once zoomed (when it can be shown). */
export function viewerSource(image, zoomed = false) {
  if (zoomed && canShowOriginal(image)) return { kind: "url", url: image.url };
  const kinds = canShowOriginal(image) ? ["previewUrl", "url"] : ["previewUrl", "thumbnailUrl"];
  return pick(image, kinds);
}

/** The text shown for a failed image (its reason is user-visible text, never markup). */
export function failureText(image) {
  if (!isFailed(image)) return "";
  const reason = String(image.failureReason || "").trim();
  return reason || "This image could not be processed.";
}
