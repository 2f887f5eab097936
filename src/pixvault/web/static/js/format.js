// Display text for sizes, dates and the storage meter. Pure: no DOM, so Node's test runner
// checks it (tests/js/format.test.mjs).

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** `value` with one decimal, ".0" dropped; a tie rounds to even, as Python's "{:.1f}" does. */
function oneDecimal(value) {
  const scaled = value * 10;
  let tenths = Math.round(scaled); // a tie goes up here...
  if (tenths - scaled === 0.5 && tenths % 2 === 1) tenths -= 1; // ...and to even in Python
  const text = (tenths / 10).toFixed(1);
  return text.endsWith(".0") ? text.slice(0, -2) : text;
}

/**
 * Binary units, written exactly as the server's `human_size` writes them (core/spool.py), so a
 * limit reads the same in the page and in an error message: 10485760 → "10 MiB",
 * 1536 → "1.5 KiB".
 */
export function formatBytes(bytes) {
  let value = Math.max(0, Number(bytes) || 0);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${oneDecimal(value)} ${UNITS[unit]}`;
}

/** A server timestamp in the reader's locale; "" for something that is not a date. */
export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

/** The header meter's text, tooltip and warning state for `used` of `limit` bytes. */
export function storageSummary(used, limit) {
  const share = limit ? Math.round((used / limit) * 100) : 100;
  return {
    text: `${formatBytes(used)} of ${formatBytes(limit)}`,
    title: `${share}% of your storage is used`,
    full: share >= 90,
  };
}
