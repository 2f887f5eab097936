// The gallery's state as the address bar holds it (?search=…&tags=a,b&page=2), and the line
// that says what is shown. Pure: no DOM, so Node's test runner checks it
// (tests/js/query.test.mjs). The page builds the URL from location, these never read it.

import { splitTags } from "./tags.js";

/** { page, search, tags } from a query string such as location.search. */
export function parseQuery(search, separator) {
  const params = new URLSearchParams(search);
  return {
    page: Math.max(1, parseInt(params.get("page"), 10) || 1),
    search: (params.get("search") || "").trim(),
    tags: splitTags(params.get("tags"), separator),
  };
}

/** The URL for a state: defaults are left out, so the plain gallery is just the path. */
export function queryUrl(pathname, { page, search, tags }, separator) {
  const params = new URLSearchParams();
  if (search) params.set("search", search);
  if (tags.length) params.set("tags", tags.join(separator));
  if (page > 1) params.set("page", String(page));
  const text = params.toString();
  return pathname + (text ? `?${text}` : "");
}

/** "Showing 25–30 of 30 images matching the filter"; "" for an empty page. */
export function pageStatus({ page, pageSize, shown, total, filtered }) {
  if (!shown) return "";
  const first = (page - 1) * pageSize + 1;
  return (
    `Showing ${first}–${first + shown - 1} of ${total} image${total === 1 ? "" : "s"}` +
    (filtered ? " matching the filter" : "")
  );
}

/** The empty state's title and text: a filter that matches nothing is not an empty gallery. */
export function emptyText(filtered) {
  return filtered
    ? { title: "No images match", text: "Try another search or clear the filters." }
    : {
        title: "No images yet",
        text: "Drop a few images above, or use the upload button, to get started.",
      };
}
