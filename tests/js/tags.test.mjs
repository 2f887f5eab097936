// Tag rules as the tag editor applies them. RULES is what GET /api/config sends today; the
// other rule sets show the numbers and the separator come from the config, not the code.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addTags,
  normalizeTag,
  splitTags,
  tagProblem,
  uniqueTags,
} from "../../src/pixvault/web/static/js/tags.js";

const RULES = { maxTags: 20, maxLength: 50, separator: "," };

test("a comma ends a tag: 'Cats, holiday' becomes two tags", () => {
  assert.deepEqual(addTags([], "Cats, holiday", RULES), { tags: ["cats", "holiday"], problem: "" });
});

test("a tag longer than the limit is refused with the message the person sees", () => {
  const long = "x".repeat(51);
  assert.deepEqual(addTags(["a"], long, RULES), {
    tags: ["a"],
    problem: "Tags are at most 50 characters",
  });
  assert.deepEqual(addTags([], "x".repeat(50), RULES).tags, ["x".repeat(50)]);
});

test("length counts characters as the server does, not UTF-16 units", () => {
  const emoji = "😀".repeat(50); // 100 UTF-16 units, 50 characters
  assert.deepEqual(addTags([], emoji, RULES).tags, [emoji]);
});

test("one tag past the limit is refused; the others stay", () => {
  const twenty = Array.from({ length: 20 }, (_, i) => `t${i}`);
  const result = addTags(twenty, "one-more", RULES);
  assert.deepEqual(result.tags, twenty);
  assert.equal(result.problem, "At most 20 tags");
});

test("a tag already there is not an error, even when the list is full", () => {
  const twenty = Array.from({ length: 20 }, (_, i) => `t${i}`);
  assert.deepEqual(addTags(twenty, "T3", RULES), { tags: twenty, problem: "" });
});

test("what is added is kept even when another part is refused", () => {
  const result = addTags([], `ok,${"y".repeat(51)}`, RULES);
  assert.deepEqual(result.tags, ["ok"]);
  assert.equal(result.problem, "Tags are at most 50 characters");
});

test("invisible control characters are refused, as the server refuses them", () => {
  assert.equal(tagProblem("zero\u200bwidth", RULES), "Tags cannot contain control characters");
  assert.equal(addTags([], "bell\u0007", RULES).problem, "Tags cannot contain control characters");
});

test("the limits and separator come from the rules given", () => {
  const rules = { maxTags: 2, maxLength: 3, separator: ";" };
  assert.deepEqual(addTags([], "ab;cd;ef", rules), {
    tags: ["ab", "cd"],
    problem: "At most 2 tags",
  });
  assert.deepEqual(addTags([], "a,b", rules).tags, ["a,b"]); // a comma is not the separator here
  assert.equal(tagProblem("abcd", rules), "Tags are at most 3 characters");
});

test("tags are stored trimmed, lower-case and NFC, so 'Café' typed two ways is one tag", () => {
  assert.equal(normalizeTag("  Holiday "), "holiday");
  assert.equal(normalizeTag("Cafe\u0301"), "caf\u00e9");
  assert.deepEqual(uniqueTags(["Café", "cafe\u0301", " ", "x"]), ["caf\u00e9", "x"]);
});

test("the gallery filter splits on the separator and drops empties and repeats", () => {
  assert.deepEqual(splitTags("cats, Holiday,,cats ", ","), ["cats", "holiday"]);
  assert.deepEqual(splitTags("", ","), []);
  assert.deepEqual(splitTags(null, ","), []);
});
