// Uploads: check each file against the server's own limits (GET /api/config) before sending,
// then send one request per file with XMLHttpRequest, whose upload progress events give real
// bytes sent. One file per request also makes each file its own all-or-nothing upload.
//
// While a file is sent, the browser makes its ThumbHash from it (localhash.js): the server's
// comes with the thumbnail, after the upload has answered, and a fresh card paints this one at
// once meanwhile.

import { authHeaders, handleUnauthorized } from "./api.js";
import { chipsInput } from "./chips.js";
import { $, el } from "./dom.js";
import { errorFrom } from "./errors.js";
import { formatBytes } from "./format.js";
import { forgetPlaceholders, rememberPlaceholder, thumbHashOfFile } from "./localhash.js";
import { acceptAttribute, acceptedHint, failureText, rejectionReason } from "./uploadrules.js";

// One at a time: files land (and show up newest first) in the order chosen, each bar moves
// alone, and the gallery's own requests are never starved. A LAN link is filled by one upload.
const PARALLEL = 1;
// How long the gallery's refresh waits for a hash still being made: decoding a large photo can
// take a moment, and a hash that comes later is painted on the card when it comes.
const HASH_WAIT_MS = 400;

let config = null;
let tagsInput;
let onUploaded = () => {};
let onPlaceholder = () => {};
const waiting = [];
let running = 0;

export function initUpload(cfg, hooks) {
  config = cfg;
  onUploaded = hooks.onUploaded;
  onPlaceholder = hooks.onPlaceholder || (() => {});
  tagsInput = chipsInput($("upload-tags"), { inputId: "upload-tag-input", rules: cfg.tagRules });

  $("accepted-hint").textContent = acceptedHint(cfg);
  const input = $("file-input");
  input.accept = acceptAttribute(cfg);

  // The drop zone is a real button: Enter/Space (or a click) opens the file picker.
  $("dropzone").addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = ""; // choosing the same file again must fire `change` again
  });

  // Dropping anywhere on the page works; the drop zone lights up while files hover.
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  let depth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event) || $("app-view").hidden) return;
    depth += 1;
    document.body.classList.add("dragging");
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) document.body.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = $("app-view").hidden ? "none" : "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault(); // never let the browser navigate to the dropped file
    depth = 0;
    document.body.classList.remove("dragging");
    if (!$("app-view").hidden) addFiles([...event.dataTransfer.files]);
  });
}

/** Validate a selection, list the refused ones with their reason, queue the rest. */
export function addFiles(files) {
  if (!files.length) return;
  // A new selection starts a fresh list; rows still sending stay.
  for (const row of [...$("upload-queue").children]) {
    if (row.dataset.state === "done" || row.dataset.state === "failed") row.remove();
  }
  const reasons = [];
  const options = { tags: tagsInput.get(), isPublic: $("upload-public").checked };
  for (const file of files) {
    const reason = rejectionReason(file, config);
    if (reason) reasons.push(reason);
    else waiting.push({ file, options, row: queueRow(file) });
  }
  $("rejections").replaceChildren(...reasons.map((text) => el("li", { text })));
  pump();
}

function queueRow(file) {
  const bar = el("progress", {
    attrs: { max: "100", value: "0", "aria-label": `Upload of ${file.name}` },
  });
  const status = el("span", { cls: "queue-status", text: "Waiting…" });
  const row = el("li", { cls: "queue-row", attrs: { "data-state": "waiting" } }, [
    el("span", { cls: "queue-name", text: file.name }),
    el("span", { cls: "queue-size", text: formatBytes(file.size) }),
    bar,
    status,
  ]);
  $("upload-queue").append(row);
  return { row, bar, status };
}

function pump() {
  while (running < PARALLEL && waiting.length) {
    const job = waiting.shift();
    running += 1;
    send(job).finally(() => {
      running -= 1;
      pump();
    });
  }
}

function setState({ row, bar, status }, state, text, percent) {
  row.dataset.state = state;
  status.textContent = text;
  if (percent !== undefined) bar.value = percent;
}

/** Remember the hash made here for the stored images, then let the gallery catch up. */
async function uploaded(images, hash) {
  const remembered = hash.then((placeholder) => {
    if (!placeholder) return; // this browser could not decode the file: as before
    for (const image of images) {
      if (image.placeholder) continue; // the server's own, should it ever come this early
      rememberPlaceholder(image.id, placeholder);
      onPlaceholder(image.id); // a card already drawn without it gets it now
    }
  });
  await Promise.race([remembered, new Promise((done) => setTimeout(done, HASH_WAIT_MS))]);
  onUploaded(); // the gallery and meter catch up while the rest is still sending
}

function send({ file, options, row }) {
  // Decoded and hashed while the bytes travel; never rejects (null when it cannot be done).
  const hash = thumbHashOfFile(file);
  return new Promise((resolve) => {
    const form = new FormData();
    form.append("files", file, file.name);
    form.append("tags", JSON.stringify(options.tags));
    form.append("isPublic", options.isPublic ? "true" : "false");
    const headers = authHeaders();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/images/upload");
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    setState(row, "sending", "0%", 0);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      // Bytes of the whole multipart body, so 100% means every byte left the browser.
      const percent = Math.floor((event.loaded / event.total) * 100);
      setState(row, "sending", percent < 100 ? `${percent}%` : "Checking…", percent);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        setState(row, "done", "Uploaded", 100);
        uploaded((xhr.response && xhr.response.images) || [], hash);
      } else {
        const error = errorFrom(xhr.status, xhr.response, xhr.getResponseHeader("Retry-After"));
        setState(row, "failed", failureText(error));
        handleUnauthorized(error, "Authorization" in headers);
      }
      resolve();
    });
    xhr.addEventListener("error", () => {
      setState(row, "failed", errorFrom(0, null, null).message);
      resolve();
    });
    xhr.send(form);
  });
}

/** Signing out: forget what is queued (rows still sending finish on their own). */
export function resetUploads() {
  waiting.length = 0;
  forgetPlaceholders();
  $("upload-queue").replaceChildren();
  $("rejections").replaceChildren();
}
