// The text people see when the API says no.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, errorFrom } from "../../src/pixvault/web/static/js/errors.js";

test("the server's own message is shown as it is", () => {
  const body = { error: "Each tag must be 1–50 characters", code: "invalid" };
  const error = errorFrom(400, body, null);
  assert.ok(error instanceof ApiError);
  assert.equal(error.message, "Each tag must be 1–50 characters");
  assert.equal(error.code, "invalid");
  assert.equal(error.status, 400);
});

test("a rate limit says when to try again, from Retry-After", () => {
  const error = errorFrom(429, { error: "Rate limit exceeded" }, "7");
  assert.equal(error.message, "Too many requests, try again in 7 s");
  assert.equal(error.retryAfter, 7);
  assert.equal(errorFrom(429, null, null).message, "Too many requests, try again in 1 s");
  assert.equal(errorFrom(429, null, "0").retryAfter, 1); // never "try again in 0 s"
});

test("no answer at all reads as a network problem", () => {
  assert.equal(errorFrom(0, null, null).message, "Network error: is the server reachable?");
});

test("an answer without our JSON (e.g. a proxy's HTML page) still says something", () => {
  const error = errorFrom(502, null, null);
  assert.equal(error.message, "Request failed (502)");
  assert.equal(error.code, "http_502");
  assert.equal(errorFrom(500, { error: 42 }, null).message, "Request failed (500)");
});

test("a full quota is told apart from a file that is too large", () => {
  const quota = { error: "Storage quota exceeded", code: "quota_exceeded" };
  assert.equal(errorFrom(413, quota).isQuota, true);
  assert.equal(errorFrom(413, { error: "File too large", code: "too_large" }).isQuota, false);
  assert.equal(errorFrom(400, { error: "quota", code: "x" }).isQuota, false);
});
