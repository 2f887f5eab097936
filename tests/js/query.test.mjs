// The gallery's address bar: what a shared or reloaded URL shows, and the status line.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  emptyText,
  pageStatus,
  parseQuery,
  queryUrl,
} from "../../src/pixvault/web/static/js/query.js";

test("a shared URL opens the same page, search and tags", () => {
  assert.deepEqual(parseQuery("?search=%20fores%20&tags=Sky,%20sea,sky&page=2", ","), {
    page: 2,
    search: "fores",
    tags: ["sky", "sea"],
  });
});

test("a missing or broken page number means the first page", () => {
  assert.equal(parseQuery("", ",").page, 1);
  assert.equal(parseQuery("?page=abc", ",").page, 1);
  assert.equal(parseQuery("?page=-3", ",").page, 1);
});

test("the plain gallery is just the path; the rest is only what was chosen", () => {
  assert.equal(queryUrl("/", { page: 1, search: "", tags: [] }, ","), "/");
  assert.equal(queryUrl("/", { page: 1, search: "fores", tags: [] }, ","), "/?search=fores");
  assert.equal(queryUrl("/", { page: 1, search: "", tags: ["sky"] }, ","), "/?tags=sky");
  assert.equal(
    queryUrl("/", { page: 3, search: "a b", tags: ["x", "y"] }, ","),
    "/?search=a+b&tags=x%2Cy&page=3",
  );
});

test("a URL built from a state reads back as that state", () => {
  const state = { page: 4, search: "beach & sun", tags: ["trip", "été"] };
  const url = queryUrl("/", state, ",");
  assert.deepEqual(parseQuery(url.slice(1), ","), state);
});

test("the status line counts what is shown", () => {
  const base = { page: 1, pageSize: 24, shown: 24, total: 30, filtered: false };
  assert.equal(pageStatus(base), "Showing 1–24 of 30 images");
  assert.equal(
    pageStatus({ ...base, page: 2, shown: 6, filtered: true }),
    "Showing 25–30 of 30 images matching the filter",
  );
  assert.equal(pageStatus({ ...base, shown: 1, total: 1 }), "Showing 1–1 of 1 image");
  assert.equal(pageStatus({ ...base, shown: 0, total: 0 }), "");
});

test("an empty filter result is not told as an empty gallery", () => {
  assert.equal(emptyText(false).title, "No images yet");
  assert.equal(emptyText(true).title, "No images match");
  assert.match(emptyText(true).text, /clear the filters/);
});
