// Signed image URLs expire. Every <img> showing one is registered here with the field it came
// from (`kind`: "url" for the original, "thumbnailUrl" or "previewUrl" for a derivative, plus
// "thumbnail2xUrl" as the srcset's 2x candidate of a thumbnail): a failed load or an expiry
// within 5 minutes fetches fresh links of those kinds and swaps them in.
// The original is re-signed with POST /presigned-url ("view"); derivatives come fresh with the
// image's detail (GET /api/images/{id}), which signs all three without an access-log entry. One
// refresh per failure: if the fresh URL fails too, the image's box shows "Image temporarily
// unavailable".

import { api } from "./api.js";
import { isDue } from "./expiry.js";
import { toast } from "./toast.js";

const CHECK_EVERY_MS = 30 * 1000;

const states = new WeakMap(); // img -> { id, kind, kind2x, expiresAt, retried, pending, ... }
const live = new Set(); // imgs to check for expiry; dropped once detached from the page

function box(img) {
  return img.closest(".img-box") || img.parentElement;
}

function setUnavailable(img, unavailable) {
  const holder = box(img);
  if (holder) holder.classList.toggle("is-unavailable", unavailable);
}

function onLoad(event) {
  const state = states.get(event.currentTarget);
  if (state) state.retried = false; // it worked: a later failure earns a new refresh
  setUnavailable(event.currentTarget, false);
}

function onError(event) {
  const img = event.currentTarget;
  const state = states.get(img);
  if (!state || !img.getAttribute("src")) return;
  if (state.retried) {
    setUnavailable(img, true);
    return;
  }
  state.retried = true;
  refresh(img);
}

/** `src`, and a `srcset` offering `url2x` to high-density screens when there is one. */
function setSources(img, url, url2x) {
  if (url2x) img.srcset = `${url} 1x, ${url2x} 2x`;
  else img.removeAttribute("srcset");
  img.src = url;
}

/**
 * Show `url` (valid until `expiresAt`, ISO) for image `id` in `img`, and keep it fresh. `kind`
 * names the image field the link came from: "url", "thumbnailUrl" or "previewUrl"; `url2x`
 * (of field `kind2x`) is the same picture for high-density screens, if any.
 */
export function showSigned(img, id, url, expiresAt, kind = "url", url2x = null, kind2x = null) {
  if (!states.has(img)) {
    img.addEventListener("load", onLoad);
    img.addEventListener("error", onError);
  }
  states.set(img, {
    id,
    kind,
    kind2x: url2x ? kind2x : null,
    expiresAt: Date.parse(expiresAt) || 0,
    retried: false,
    pending: null,
    lastRefresh: 0,
  });
  live.add(img);
  setUnavailable(img, false);
  setSources(img, url, url2x);
}

/** Stop tracking `img` and empty it (e.g. when the viewer closes). */
export function forget(img) {
  states.delete(img);
  live.delete(img);
  img.removeAttribute("srcset");
  img.removeAttribute("src");
  setUnavailable(img, false);
}

/** A fresh { url, url2x, expiresAt } of the kinds `state` shows. */
async function freshLink({ id, kind, kind2x }) {
  if (kind === "url") return api.presign(id, "view");
  const { image } = await api.getImage(id);
  const url2x = kind2x ? image[kind2x] || null : null;
  return { url: image[kind] || null, url2x, expiresAt: image.urlExpiresAt };
}

/** Ask for a fresh link for `img`; concurrent calls share one request. */
export function refresh(img) {
  const state = states.get(img);
  if (!state) return Promise.resolve();
  if (state.pending) return state.pending;
  state.lastRefresh = Date.now();
  state.pending = freshLink(state)
    .then((link) => {
      if (states.get(img) !== state) return; // the img shows another image by now
      if (!link.url) {
        setUnavailable(img, true);
        return;
      }
      state.expiresAt = Date.parse(link.expiresAt) || 0;
      setSources(img, link.url, link.url2x || null);
    })
    .catch((error) => {
      if (states.get(img) !== state) return;
      setUnavailable(img, true);
      if (error.status === 429) toast(error.message, "error");
    })
    .finally(() => {
      state.pending = null;
    });
  return state.pending;
}

function checkExpiry() {
  const now = Date.now();
  for (const img of live) {
    if (!img.isConnected) {
      live.delete(img);
      continue;
    }
    const state = states.get(img);
    if (!state || !isDue(state, now)) continue;
    if (img.offsetParent === null) continue; // not shown (e.g. the viewer is closed)
    refresh(img);
  }
}

setInterval(checkExpiry, CHECK_EVERY_MS);
// A laptop waking up or a tab coming back may find every link expired: check at once.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") checkExpiry();
});
