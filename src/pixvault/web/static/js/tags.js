// Tag rules as the server enforces them (core/names.py). The numbers and the separator are not
// repeated here: they come from GET /api/config's `tagRules` ({ maxTags, maxLength, separator }).
// Pure: no DOM, so Node's test runner checks it (tests/js/tags.test.mjs).

/** What the server stores for a typed tag: NFC, trimmed, lower-case. */
export function normalizeTag(raw) {
  return String(raw).normalize("NFC").trim().toLowerCase();
}

/** Normalized, without empties or repeats (the first one kept), in order. */
export function uniqueTags(list) {
  return [...new Set((list || []).map(normalizeTag).filter(Boolean))];
}

/** "cats, Holiday,,cats" → ["cats", "holiday"]: the gallery filter and the URL use this. */
export function splitTags(raw, separator) {
  return uniqueTags(String(raw || "").split(separator));
}

// Python counts code points, not UTF-16 units: an emoji is one character on the server.
const length = (tag) => [...tag].length;
const CONTROL = /[\p{Cc}\p{Cf}]/u;

/** Why the server would refuse this (normalized, non-empty) tag, or null. */
export function tagProblem(tag, rules) {
  if (length(tag) > rules.maxLength) return `Tags are at most ${rules.maxLength} characters`;
  if (CONTROL.test(tag)) return "Tags cannot contain control characters";
  return null;
}

/**
 * Add what was typed (the separator ends a tag, so "a,b" is two) to `tags`. Returns the new
 * list and the message to show for the part that could not be added ("" when all went in).
 */
export function addTags(tags, raw, rules) {
  const next = [...tags];
  let problem = "";
  for (const part of String(raw).split(rules.separator)) {
    const tag = normalizeTag(part);
    if (!tag || next.includes(tag)) continue;
    const refused = tagProblem(tag, rules);
    if (refused) problem = refused;
    else if (next.length >= rules.maxTags) problem = `At most ${rules.maxTags} tags`;
    else next.push(tag);
  }
  return { tags: next, problem };
}
