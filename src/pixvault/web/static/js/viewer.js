// The viewer: a modal <dialog> showing one image large, with its details from
// GET /api/images/{id}; edit tags, toggle public, download, delete. Esc closes (native dialog
// behaviour), ← → move between the images of the current gallery page.
//
// It shows the preview (`previewUrl`, WebP, 1600 px); the original is fetched only when asked
// for: "View original" (a toggle button; a click on the picture does the same) shows it at full
// size in a scrollable stage, and Download saves it. HEIC/HEIF originals, which browsers cannot
// decode, and images whose pixels failed to decode are offered as a download only.

import { api } from "./api.js";
import { chipsInput } from "./chips.js";
import { confirmDialog, trapFocus } from "./dialogs.js";
import { $, el } from "./dom.js";
import { formatBytes, formatDate } from "./format.js";
import { forget, showSigned } from "./links.js";
import { canShowOriginal, failureText, isFailed, viewerSource } from "./sources.js";
import { toast } from "./toast.js";

let dialog;
let img;
let tagsInput;
let getItems = () => [];
let hooks = {};
let index = 0;
let current = null; // the image shown (list item, then the full detail)
let seq = 0; // only the newest detail request may fill the panel
let opener = null;
let zoomed = false; // showing the original at full size

export function initViewer({ tagRules, items, focusAfterClose, onChanged, onDeleted }) {
  getItems = items;
  hooks = { focusAfterClose, onChanged, onDeleted };
  dialog = $("viewer");
  img = $("viewer-img");
  trapFocus(dialog);
  tagsInput = chipsInput($("viewer-tags"), {
    inputId: "viewer-tag-input",
    rules: tagRules,
    onChange: saveTags,
  });

  $("viewer-close").addEventListener("click", () => dialog.close());
  $("viewer-prev").addEventListener("click", () => move(-1));
  $("viewer-next").addEventListener("click", () => move(1));
  $("viewer-public").addEventListener("change", savePublic);
  $("viewer-download").addEventListener("click", download);
  $("viewer-zoom").addEventListener("click", toggleZoom);
  img.addEventListener("click", toggleZoom);
  img.addEventListener("load", () => {
    if (!zoomed) return;
    const stage = $("viewer-figure"); // start in the middle of the original
    stage.scrollLeft = (stage.scrollWidth - stage.clientWidth) / 2;
    stage.scrollTop = (stage.scrollHeight - stage.clientHeight) / 2;
  });
  $("viewer-delete").addEventListener("click", remove);
  dialog.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement && event.target.type === "text";
    if (typing || event.altKey || event.ctrlKey || event.metaKey) return;
    if (zoomed && event.target === $("viewer-figure")) return; // arrows scroll the original
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      move(-1);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      move(1);
    }
  });
  // A click on the backdrop (outside the content box) closes, as people expect of a lightbox.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    seq += 1;
    setZoom(false);
    forget(img);
    const shown = current ? current.id : null;
    current = null;
    // The opener's card may have been re-rendered by an edit: then focus its new button.
    const target = opener && opener.isConnected ? opener : hooks.focusAfterClose(shown);
    if (target) target.focus();
  });
}

export function openViewer(id) {
  const at = getItems().findIndex((i) => i.id === id);
  if (at < 0) return;
  opener = document.activeElement;
  if (!dialog.open) dialog.showModal();
  show(at);
  $("viewer-close").focus();
}

export function isOpen() {
  return Boolean(dialog && dialog.open);
}

function move(step) {
  const list = getItems();
  if (!list.length) return;
  // The gallery may have reloaded underneath (an upload finished): find where we are again.
  const here = current ? list.findIndex((i) => i.id === current.id) : -1;
  const next = (here >= 0 ? here : index) + step;
  if (next < 0 || next >= list.length) return;
  show(next);
  // Focus follows to that image's card, so closing returns there.
  opener = hooks.focusAfterClose(list[next].id) || opener;
}

function show(at) {
  const list = getItems();
  index = at;
  current = list[at];
  const mine = ++seq;
  $("viewer-error").textContent = "";
  $("viewer-prev").disabled = at <= 0;
  $("viewer-next").disabled = at >= list.length - 1;
  fill(current);
  img.alt = current.originalName;
  setZoom(false);
  showPicture();
  api
    .getImage(current.id)
    .then((body) => {
      if (mine !== seq) return;
      current = body.image;
      fill(current);
    })
    .catch((error) => {
      if (mine === seq) $("viewer-error").textContent = error.message;
    });
}

/** Put the preview (or, zoomed, the original) of the current image in the stage. */
function showPicture() {
  const source = viewerSource(current, zoomed);
  if (source) {
    showSigned(img, current.id, source.url, current.urlExpiresAt, source.kind);
  } else {
    forget(img);
    $("viewer-figure").classList.add("is-unavailable");
  }
}

function setZoom(on) {
  zoomed = on;
  const stage = $("viewer-figure");
  stage.classList.toggle("is-zoomed", on);
  $("viewer-zoom").setAttribute("aria-pressed", String(on));
  if (on) {
    // Focusable while zoomed, so the keyboard can scroll the original.
    stage.setAttribute("tabindex", "0");
    stage.setAttribute("aria-label", "Original image at full size, scrollable");
  } else {
    stage.removeAttribute("tabindex");
    stage.removeAttribute("aria-label");
  }
}

function toggleZoom() {
  if (!current || !canShowOriginal(current)) return;
  setZoom(!zoomed);
  showPicture();
}

function fact(term, value, cls) {
  return [el("dt", { text: term }), el("dd", { text: value, cls })];
}

function fill(image) {
  $("viewer-title").textContent = image.originalName;
  const facts = [
    ...fact("Size", formatBytes(image.size)),
    ...fact("Dimensions", `${image.dimensions.width} × ${image.dimensions.height} px`),
    ...fact("Type", image.contentType),
    ...fact("Uploaded", formatDate(image.uploadedAt)),
  ];
  if (image.checksums) {
    facts.push(
      ...fact("SHA-256", image.checksums.sha256, "mono"),
      ...fact("MD5", image.checksums.md5, "mono"),
    );
  }
  if (isFailed(image)) facts.push(...fact("Status", `Failed: ${failureText(image)}`, "failed"));
  $("viewer-facts").replaceChildren(...facts);
  const viewable = canShowOriginal(image);
  $("viewer-zoom").hidden = !viewable;
  $("viewer-figure").classList.toggle("can-zoom", viewable);
  const note = $("viewer-note");
  note.hidden = viewable;
  if (isFailed(image)) {
    note.textContent =
      "The server could not read this image's pixels. Download the original, or delete it.";
  } else if (!viewable) {
    note.textContent =
      `Browsers cannot show ${image.contentType} originals: this is a preview. ` +
      "Download saves the original.";
  }
  tagsInput.set(image.tags);
  $("viewer-public").checked = Boolean(image.isPublic);
}

async function patch(changes) {
  const image = current;
  $("viewer-error").textContent = "";
  try {
    const body = await api.patchImage(image.id, changes);
    if (current && current.id === image.id) {
      current = body.image;
      fill(current);
    }
    hooks.onChanged(body.image);
    return true;
  } catch (error) {
    $("viewer-error").textContent = error.message;
    if (current && current.id === image.id) fill(current); // put the old values back
    return false;
  }
}

function saveTags(tags) {
  if (!current) return;
  if (tags.join() === [...current.tags].join()) return;
  patch({ tags });
}

async function savePublic() {
  if (!current) return;
  const isPublic = $("viewer-public").checked;
  if (await patch({ isPublic })) {
    toast(isPublic ? "The image is now public" : "The image is now private", "info", 3000);
  }
}

async function download() {
  if (!current) return;
  try {
    const body = await api.presign(current.id, "download");
    // The link answers with Content-Disposition: attachment, so the page stays where it is.
    location.assign(body.url);
  } catch (error) {
    $("viewer-error").textContent = error.message;
  }
}

async function remove() {
  if (!current) return;
  const image = current;
  const ok = await confirmDialog({
    title: "Delete this image?",
    message: `"${image.originalName}" will be deleted for good, and its links stop working.`,
    confirmLabel: "Delete",
  });
  if (!ok) return;
  try {
    await api.deleteImage(image.id);
  } catch (error) {
    $("viewer-error").textContent = error.message;
    return;
  }
  opener = null;
  current = null; // its card is going away: focus goes to the first card instead
  dialog.close();
  toast(`Deleted ${image.originalName}`, "info", 3000);
  hooks.onDeleted(image.id);
}
