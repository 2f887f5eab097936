// Sizes as people read them in the page: binary units with the server's spelling (MiB, not MB).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  formatBytes,
  formatDate,
  storageSummary,
} from "../../src/pixvault/web/static/js/format.js";

test("the default upload limit reads 10 MiB, as the server's error messages say", () => {
  assert.equal(formatBytes(10485760), "10 MiB");
});

test("round binary sizes have no decimals", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1 KiB");
  assert.equal(formatBytes(200 * 1024), "200 KiB");
  assert.equal(formatBytes(1024 ** 3), "1 GiB");
  assert.equal(formatBytes(5 * 1024 ** 4), "5 TiB");
});

test("other sizes get one decimal, like the server's human_size", () => {
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(50_000), "48.8 KiB");
  assert.equal(formatBytes(157_600_000), "150.3 MiB"); // not "150 MiB": the server keeps it
  assert.equal(formatBytes(1024 * 1024 - 1), "1024 KiB"); // rounds up within the unit
});

test("a tie rounds to even, as Python's format does (1280 B is 1.25 KiB)", () => {
  assert.equal(formatBytes(1280), "1.2 KiB");
  assert.equal(formatBytes(1792), "1.8 KiB"); // 1.75
});

test("never decimal-unit labels", () => {
  for (const n of [1, 2048, 3 * 1024 ** 2, 7 * 1024 ** 3]) {
    assert.match(formatBytes(n), /^\d+(\.\d)? (B|KiB|MiB|GiB)$/);
  }
});

test("nonsense shows as nothing stored, not NaN", () => {
  assert.equal(formatBytes(undefined), "0 B");
  assert.equal(formatBytes(-5), "0 B");
  assert.equal(formatBytes("abc"), "0 B");
});

test("the storage meter says used of limit, and warns from 90%", () => {
  assert.deepEqual(storageSummary(0, 1024 ** 3), {
    text: "0 B of 1 GiB",
    title: "0% of your storage is used",
    full: false,
  });
  assert.equal(storageSummary(45_000, 50_000).full, true);
  assert.equal(storageSummary(44_000, 50_000).full, false);
  assert.equal(storageSummary(0, 0).title, "100% of your storage is used"); // no quota at all
});

test("a date that is not one shows as empty, not 'Invalid Date'", () => {
  assert.equal(formatDate("not a date"), "");
  assert.notEqual(formatDate("2024-05-01T12:00:00Z"), "");
});
