// Placeholders made in this browser, for the images it has just uploaded. The server computes an
// image's `placeholder` (a ThumbHash) when it renders the thumbnail, a moment after the upload
// has answered, so a fresh card would otherwise have nothing to paint but the neutral tile. The
// browser still has the file: it decodes it (EXIF orientation applied), shrinks it to at most
// 100×100 on a canvas and encodes the pixels with the reference encoder (thumbhash.js).
//
// Kept in memory only, by image id, and used for that image's card until the server's own
// placeholder comes with the list. A file this browser cannot decode (HEIC, say) gets none: its
// card shows the neutral tile until the thumbnail arrives, as before.

import { el } from "./dom.js";
import { isFailed } from "./sources.js";
import { bytesToBase64, MAX_ENCODE_SIDE, rgbaToThumbHash } from "./thumbhash.js";

const local = new Map(); // image id -> base64 ThumbHash made here

/** The size to draw a `width`×`height` picture at: its aspect ratio, within 100×100. */
export function encodeSize(width, height) {
  const scale = Math.min(1, MAX_ENCODE_SIDE / Math.max(width, height));
  return {
    w: Math.max(1, Math.min(MAX_ENCODE_SIDE, Math.round(width * scale))),
    h: Math.max(1, Math.min(MAX_ENCODE_SIDE, Math.round(height * scale))),
  };
}

async function decode(file) {
  try {
    // Upright as the picture is meant to be seen (Chromium's default; said for the others).
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (error) {
    // A browser that predates "from-image" refuses the option itself (a TypeError).
    if (error instanceof TypeError) return createImageBitmap(file);
    throw error;
  }
}

function canvas(w, h) {
  if (typeof OffscreenCanvas === "function") return new OffscreenCanvas(w, h);
  return el("canvas", { attrs: { width: w, height: h } });
}

/** The base64 ThumbHash of an image file; null when this browser cannot decode it. */
export async function thumbHashOfFile(file) {
  let bitmap = null;
  try {
    bitmap = await decode(file);
    if (!bitmap.width || !bitmap.height) return null;
    const { w, h } = encodeSize(bitmap.width, bitmap.height);
    const ctx = canvas(w, h).getContext("2d", { willReadFrequently: true });
    if (!ctx) return null;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high"; // an average of the pixels, not a sample of a few
    ctx.drawImage(bitmap, 0, 0, w, h);
    const { data } = ctx.getImageData(0, 0, w, h);
    return bytesToBase64(rgbaToThumbHash(w, h, data));
  } catch {
    return null; // undecodable here (HEIC, a damaged file): the card shows what it did before
  } finally {
    if (bitmap) bitmap.close();
  }
}

/** Remember the hash made here for image `id`, until the server's own comes in. */
export function rememberPlaceholder(id, placeholder) {
  if (id && placeholder) local.set(id, placeholder);
}

/**
 * The placeholder to paint for a gallery item: the server's once it has one (the local one is
 * then forgotten), else the one made here, if any. A failed image gets none, as from the server.
 */
export function placeholderOf(image) {
  if (image.placeholder || isFailed(image)) {
    local.delete(image.id);
    return image.placeholder || null;
  }
  return local.get(image.id) ?? null;
}

/** Signing out: nothing of the last account's images stays behind. */
export function forgetPlaceholders() {
  local.clear();
}
