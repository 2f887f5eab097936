// When a signed image URL is due for a fresh one. Pure: no DOM, so Node's test runner checks it
// (tests/js/expiry.test.mjs); links.js applies it to the images on the page.

export const SOON_MS = 5 * 60 * 1000; // refresh when less than this is left
export const MIN_GAP_MS = 60 * 1000; // proactive refreshes of one image at most once a minute

/** True when `link` ({ expiresAt, lastRefresh, pending }, ms) should be refreshed at `now`. */
export function isDue(link, now) {
  if (link.pending || now - link.lastRefresh < MIN_GAP_MS) return false;
  return link.expiresAt - now < SOON_MS;
}
