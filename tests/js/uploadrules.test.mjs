// What the page refuses before sending a file, and how it words a refused upload.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError } from "../../src/pixvault/web/static/js/errors.js";
import {
  acceptAttribute,
  acceptedHint,
  extensionOf,
  failureText,
  rejectionReason,
} from "../../src/pixvault/web/static/js/uploadrules.js";

// The shape GET /api/config sends.
const CFG = {
  maxFileSize: 200 * 1024,
  acceptedTypes: [
    { mime: "image/jpeg", ext: "jpg" },
    { mime: "image/png", ext: "png" },
  ],
};

const file = (name, type, size = 1000) => ({ name, type, size });

test("a file over the limit is refused, with the limit in MiB/KiB like the server says it", () => {
  assert.equal(
    rejectionReason(file("big.jpg", "image/jpeg", 200 * 1024 + 1), CFG),
    "big.jpg: too large (max 200 KiB)",
  );
  assert.equal(rejectionReason(file("edge.jpg", "image/jpeg", 200 * 1024), CFG), null);
  const tenMiB = { ...CFG, maxFileSize: 10485760 };
  assert.equal(
    rejectionReason(file("huge.png", "image/png", 10485761), tenMiB),
    "huge.png: too large (max 10 MiB)",
  );
});

test("types the server does not take are refused by name", () => {
  assert.equal(
    rejectionReason(file("photo.tiff", "image/tiff"), CFG),
    "photo.tiff: not a supported image type",
  );
  assert.equal(
    rejectionReason(file("notes.txt", "text/plain"), CFG),
    "notes.txt: not a supported image type",
  );
  assert.equal(
    rejectionReason(file("fake.jpg", "text/plain"), CFG),
    "fake.jpg: not a supported image type",
  );
});

test("a known extension with no type from the browser, and .jpeg, are accepted", () => {
  assert.equal(rejectionReason(file("IMG_1.JPEG", ""), CFG), null);
  assert.equal(rejectionReason(file("shot.png", ""), CFG), null);
});

test("an empty file is refused", () => {
  const empty = file("zero.png", "image/png", 0);
  assert.equal(rejectionReason(empty, CFG), "zero.png: the file is empty");
});

test("extensions: last dot, lower-case, none for a hidden file", () => {
  assert.equal(extensionOf("a.b.JPG"), "jpg");
  assert.equal(extensionOf(".png"), "");
  assert.equal(extensionOf("README"), "");
});

test("the drop zone hint and the picker's accept list come from the config", () => {
  assert.equal(acceptedHint({ ...CFG, maxFileSize: 10485760 }), "JPG, PNG · up to 10 MiB each");
  assert.equal(acceptAttribute(CFG), "image/jpeg,.jpg,image/png,.png");
});

test("a full quota tells what to do about it, once", () => {
  const bare = new ApiError(413, "quota_exceeded", "Storage quota exceeded.");
  assert.equal(failureText(bare), "Storage quota exceeded. Delete some images to free space.");
  const told = new ApiError(413, "quota_exceeded", "Quota exceeded. Delete some images first.");
  assert.equal(failureText(told), told.message);
  const big = new ApiError(413, "too_large", '"a.png" is too large (max 10 MiB)');
  assert.equal(failureText(big), big.message);
});
