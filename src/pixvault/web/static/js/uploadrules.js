// What the browser checks before sending a file, against the server's own limits from
// GET /api/config, and how a refused upload is worded. Pure: no DOM, so Node's test runner
// checks it (tests/js/uploadrules.test.mjs). The server checks the bytes again, for real.

import { formatBytes } from "./format.js";

/** "photo.JPG" → "jpg"; "" when there is none (a leading dot is a hidden file, not a type). */
export function extensionOf(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

/** Why `file` ({ name, type, size }) would be refused, or null. */
export function rejectionReason(file, cfg) {
  const mimes = new Set(cfg.acceptedTypes.map((t) => t.mime));
  const exts = new Set(cfg.acceptedTypes.map((t) => t.ext));
  if (exts.has("jpg")) exts.add("jpeg");
  const ext = extensionOf(file.name);
  // Browsers guess `type` from the extension, and leave it empty for ones they do not know
  // (e.g. .avif on older systems): accept when either says it is an image we take.
  const typeOk =
    mimes.has(file.type) || (exts.has(ext) && (!file.type || file.type.startsWith("image/")));
  if (!typeOk) return `${file.name}: not a supported image type`;
  if (file.size > cfg.maxFileSize) {
    return `${file.name}: too large (max ${formatBytes(cfg.maxFileSize)})`;
  }
  if (file.size === 0) return `${file.name}: the file is empty`;
  return null;
}

/** The drop zone's hint: "JPG, PNG · up to 10 MiB each". */
export function acceptedHint(cfg) {
  const names = cfg.acceptedTypes.map((t) => t.ext.toUpperCase()).join(", ");
  return `${names} · up to ${formatBytes(cfg.maxFileSize)} each`;
}

/** The file input's `accept` attribute: every type by MIME and by extension. */
export function acceptAttribute(cfg) {
  return cfg.acceptedTypes.flatMap((t) => [t.mime, `.${t.ext}`]).join(",");
}

/** The queue row's text for a refused upload: a full quota also says what to do about it. */
export function failureText(error) {
  if (error.isQuota && !/delete/i.test(error.message)) {
    return `${error.message} Delete some images to free space.`;
  }
  return error.message;
}
