// The web app's modules without a browser: every import names a real export (a typo would only
// show up as a blank page), and the pure modules stay free of the DOM so these tests can run.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";

const DIR = new URL("../../src/pixvault/web/static/js/", import.meta.url);
const PURE = [
  "errors.js",
  "expiry.js",
  "format.js",
  "query.js",
  "sources.js",
  "tags.js",
  "thumbhash.js",
  "uploadrules.js",
];
const BROWSER_API = new RegExp(
  "\\b(document|window|location|history|navigator|sessionStorage|localStorage|fetch|" +
    "XMLHttpRequest)\\b",
);
const EXPORT = /export\s+(?:async\s+)?(?:function|const|let|class)\s+([\w$]+)/g;
const IMPORT = /import\s*\{([^}]*)\}\s*from\s*"\.\/([\w-]+\.js)"/g;

const files = readdirSync(DIR).filter((name) => name.endsWith(".js"));
// Comments removed, so a comment that mentions `document` is not a finding.
const code = (name) =>
  readFileSync(new URL(name, DIR), "utf8")
    .replace(/^\s*\/\/.*$/gm, "")
    .replace(/\/\*[\s\S]*?\*\//g, "");

const exportsOf = (name) => new Set([...code(name).matchAll(EXPORT)].map((m) => m[1]));

function importsOf(name) {
  return [...code(name).matchAll(IMPORT)].map((m) => ({
    from: m[2],
    names: m[1]
      .split(",")
      .map((s) => s.trim().split(/\s+as\s+/)[0])
      .filter(Boolean),
  }));
}

test("every imported name is exported by the module it is imported from", () => {
  assert.ok(files.includes("main.js"));
  for (const name of files) {
    for (const { from, names } of importsOf(name)) {
      assert.ok(files.includes(from), `${name} imports missing ${from}`);
      const exported = exportsOf(from);
      for (const imported of names) {
        assert.ok(exported.has(imported), `${name} imports ${imported}, not exported by ${from}`);
      }
    }
  }
});

test("the DOM helpers are defined once, in dom.js", () => {
  for (const name of files.filter((f) => f !== "dom.js")) {
    const own = /getElementById|createElement/;
    assert.doesNotMatch(code(name), own, `${name} has its own DOM helper`);
  }
});

test("pure modules use no browser API and import only pure modules", async () => {
  for (const name of PURE) {
    assert.doesNotMatch(code(name), BROWSER_API, `${name} touches the browser`);
    for (const { from } of importsOf(name)) {
      assert.ok(PURE.includes(from), `${name} imports ${from}`);
    }
    await import(new URL(name, DIR)); // and they load with no DOM at all
  }
});
