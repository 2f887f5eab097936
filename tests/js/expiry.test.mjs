// When a signed link shown in the page is swapped for a fresh one.
import assert from "node:assert/strict";
import { test } from "node:test";

import { MIN_GAP_MS, SOON_MS, isDue } from "../../src/pixvault/web/static/js/expiry.js";

const NOW = 10_000_000;
const link = (expiresIn, { sinceRefresh = 10 * MIN_GAP_MS, pending = null } = {}) => ({
  expiresAt: NOW + expiresIn,
  lastRefresh: NOW - sinceRefresh,
  pending,
});

test("a link with 5 minutes or less left is refreshed before it breaks", () => {
  assert.equal(SOON_MS, 5 * 60 * 1000);
  assert.equal(isDue(link(SOON_MS - 1), NOW), true);
  assert.equal(isDue(link(-1000), NOW), true); // already expired
  assert.equal(isDue(link(SOON_MS + 1), NOW), false);
});

test("one image is refreshed at most once a minute, and never twice at the same time", () => {
  assert.equal(isDue(link(0, { sinceRefresh: MIN_GAP_MS - 1 }), NOW), false);
  assert.equal(isDue(link(0, { sinceRefresh: MIN_GAP_MS }), NOW), true);
  assert.equal(isDue(link(0, { pending: Promise.resolve() }), NOW), false);
});
