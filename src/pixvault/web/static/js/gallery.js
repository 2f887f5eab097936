// The gallery: one page of images at a time, with page, search and tags kept in the URL query
// (shareable; back/forward replay it). Only the current page is in the DOM, so hundreds of
// images cost nothing; cards are built with createElement/textContent.
//
// A card shows the image's thumbnail (WebP, 400 px: a few dozen KiB where the original may be
// megabytes), with the ThumbHash placeholder decoded and painted under it at once, so the grid
// has its colours before a single image byte arrives. A photo uploaded from this page a moment
// ago has no placeholder from the server yet: the one this browser made from the file stands in
// (localhash.js). High-density screens get the 800 px thumbnail (`thumbnail2xUrl`, a signed
// link like the others) through srcset; 1x screens never download it.

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { formatBytes } from "./format.js";
import { showSigned } from "./links.js";
import { placeholderOf } from "./localhash.js";
import { emptyText, pageStatus, parseQuery, queryUrl } from "./query.js";
import { failureText, gallerySource, isFailed } from "./sources.js";
import { splitTags } from "./tags.js";
import { placeholderDataUrl } from "./thumbhash.js";
import { toast } from "./toast.js";

export const PAGE_SIZE = 24;
const DEBOUNCE_MS = 300;

let items = [];
let pages = 0;
let seq = 0; // only the newest list request may render
let controller = null;
let openHandler = () => {};
let separator; // between two tags in the filter and the URL: tagRules.separator, from initGallery

/** The gallery state, read from the address bar. */
export function readQuery() {
  return parseQuery(location.search, separator);
}

/** Change the state: a new history entry (so Back undoes it), then load. */
function navigate(patch, { replace = false } = {}) {
  const next = { ...readQuery(), ...patch };
  const url = queryUrl(location.pathname, next, separator);
  if (url !== location.pathname + location.search) {
    history[replace ? "replaceState" : "pushState"](null, "", url);
  }
  loadGallery();
}

function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

function syncInputs({ search, tags }, force = false) {
  // Do not fight the person typing: only rewrite a field that does not have focus.
  const searchBox = $("search");
  if (force || document.activeElement !== searchBox) searchBox.value = search;
  const tagBox = $("tag-filter");
  if (force || document.activeElement !== tagBox) tagBox.value = tags.join(`${separator} `);
}

export function initGallery({ open, tagRules }) {
  openHandler = open;
  separator = tagRules.separator;
  const applySearch = () => navigate({ search: $("search").value.trim(), page: 1 });
  const typedTags = () => splitTags($("tag-filter").value, separator);
  const applyTags = () => navigate({ tags: typedTags(), page: 1 });
  const onSearch = debounce(applySearch, DEBOUNCE_MS);
  const onTags = debounce(applyTags, DEBOUNCE_MS);
  $("search").addEventListener("input", onSearch);
  $("tag-filter").addEventListener("input", onTags);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault(); // Enter applies at once
    navigate({ search: $("search").value.trim(), tags: typedTags(), page: 1 });
  });
  $("clear-filters").addEventListener("click", () => {
    $("search").value = "";
    $("tag-filter").value = "";
    navigate({ search: "", tags: [], page: 1 });
  });
  $("prev-page").addEventListener("click", () => navigate({ page: readQuery().page - 1 }));
  $("next-page").addEventListener("click", () => navigate({ page: readQuery().page + 1 }));
  window.addEventListener("popstate", () => {
    if (!$("app-view").hidden) loadGallery({ fromHistory: true });
  });
}

/** Fetch and render the page the URL names. */
export async function loadGallery({ fromHistory = false } = {}) {
  const state = readQuery();
  syncInputs(state, fromHistory);
  const mine = ++seq;
  if (controller) controller.abort();
  controller = new AbortController();
  $("grid").setAttribute("aria-busy", "true");
  try {
    const body = await api.listImages(
      { page: state.page, limit: PAGE_SIZE, search: state.search, tags: state.tags.join(",") },
      controller.signal,
    );
    if (mine !== seq) return;
    const { total } = body.pagination;
    pages = body.pagination.pages;
    if (state.page > pages && pages > 0) {
      navigate({ page: pages }, { replace: true }); // e.g. the last image of a page was deleted
      return;
    }
    items = body.images;
    render(state, total);
  } catch (error) {
    if (error.name === "AbortError" || mine !== seq) return;
    $("gallery-status").textContent = error.message;
    if (error.status !== 401) toast(error.message, "error");
  } finally {
    if (mine === seq) $("grid").removeAttribute("aria-busy");
  }
}

function render(state, total) {
  const filtered = Boolean(state.search || state.tags.length);
  $("grid").replaceChildren(...items.map((image) => card(image)));
  $("empty").hidden = items.length > 0;
  if (!items.length) {
    const empty = emptyText(filtered);
    $("empty-title").textContent = empty.title;
    $("empty-text").textContent = empty.text;
  }
  $("gallery-status").textContent = pageStatus({
    page: state.page,
    pageSize: PAGE_SIZE,
    shown: items.length,
    total,
    filtered,
  });
  $("pager").hidden = pages <= 1;
  $("page-info").textContent = `Page ${state.page} of ${Math.max(pages, 1)}`;
  $("prev-page").disabled = state.page <= 1;
  $("next-page").disabled = state.page >= pages;
}

/** Decorative (the real image carries the alt text); a data: URL, so it paints at once. */
function placeholderImg(image) {
  const blur = placeholderDataUrl(placeholderOf(image));
  return blur
    ? el("img", { cls: "placeholder", attrs: { src: blur, alt: "", "aria-hidden": "true" } })
    : null;
}

function card(image) {
  const source = gallerySource(image);
  const img = el("img", {
    cls: "thumb-img",
    attrs: {
      alt: image.originalName,
      loading: "lazy",
      decoding: "async",
      width: image.dimensions.width,
      height: image.dimensions.height,
    },
  });
  if (source) {
    const { url, kind, url2x = null, kind2x = null } = source;
    showSigned(img, image.id, url, image.urlExpiresAt, kind, url2x, kind2x);
  }
  const thumb = el(
    "button",
    {
      cls: "thumb",
      attrs: { type: "button", title: image.originalName },
      on: { click: () => openHandler(image.id) },
    },
    [
      placeholderImg(image),
      img,
      el("span", { cls: "unavailable", text: "Image temporarily unavailable" }),
    ],
  );
  const failure = isFailed(image)
    ? el("p", { cls: "card-failure" }, [
        el("strong", { text: "Could not be processed: " }),
        el("span", { cls: "card-failure-reason", text: failureText(image) }),
      ])
    : null;
  const tags = el(
    "ul",
    { cls: "card-tags", attrs: { "aria-label": "Tags" } },
    image.tags.map((tag) =>
      el("li", {}, [
        el("button", {
          cls: "tag",
          text: tag,
          attrs: { type: "button", "aria-label": `Show images tagged ${tag}` },
          on: { click: () => navigate({ tags: [tag], page: 1 }) },
        }),
      ]),
    ),
  );
  const meta = el("div", { cls: "card-meta" }, [
    el("span", { cls: "card-name", text: image.originalName }),
    el("span", {
      cls: "card-size",
      text: `${formatBytes(image.size)} · ${image.dimensions.width}×${image.dimensions.height}`,
    }),
    image.isPublic ? el("span", { cls: "badge", text: "public" }) : null,
    isFailed(image) ? el("span", { cls: "badge badge-failed", text: image.status }) : null,
  ]);
  let cls = isFailed(image) ? "card img-box is-failed" : "card img-box";
  if (!source) cls += " is-unavailable"; // nothing a browser can show

  return el("li", { cls, attrs: { "data-id": image.id, "data-status": image.status } }, [
    thumb,
    meta,
    failure,
    tags,
  ]);
}

/** The images of the current page, for the viewer's ← →. */
export function currentItems() {
  return items;
}

/** The focusable card of image `id`, to return focus to when the viewer closes. */
export function cardButton(id) {
  const cardEl = [...$("grid").children].find((li) => li.dataset.id === id);
  return cardEl ? cardEl.querySelector(".thumb") : null;
}

/** A placeholder for image `id` came in after its card was drawn without one: paint it now. */
export function showPlaceholder(id) {
  const image = items.find((i) => i.id === id);
  const cardEl = [...$("grid").children].find((li) => li.dataset.id === id);
  const thumb = cardEl && cardEl.querySelector(".thumb");
  if (!image || !thumb || thumb.querySelector("img.placeholder")) return;
  const placeholder = placeholderImg(image);
  if (placeholder) thumb.prepend(placeholder);
}

/** After an edit in the viewer: update the item and re-render its card in place. */
export function replaceItem(image) {
  const index = items.findIndex((i) => i.id === image.id);
  if (index < 0) return;
  items[index] = { ...items[index], ...image };
  const old = [...$("grid").children].find((li) => li.dataset.id === image.id);
  if (old) old.replaceWith(card(items[index]));
}

/** After a delete: drop the card at once, then reload so the page fills up again. */
export function removeItem(id) {
  const cardEl = [...$("grid").children].find((li) => li.dataset.id === id);
  if (cardEl) cardEl.remove();
  items = items.filter((i) => i.id !== id);
  return loadGallery();
}

export function clearGallery() {
  seq += 1;
  items = [];
  $("grid").replaceChildren();
  $("gallery-status").textContent = "";
}
