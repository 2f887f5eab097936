// Small shared widgets: element builder, sizes, toasts, the confirm dialog, tag chips, focus trap.

/** createElement with text and attributes: user data only ever goes in as text. */
export function el(tag, { cls, text, attrs, on } = {}, children = []) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value);
  }
  for (const [type, handler] of Object.entries(on || {})) node.addEventListener(type, handler);
  for (const child of children) if (child) node.append(child);
  return node;
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** Binary units, as the server counts them: 10485760 → "10 MB". */
export function formatBytes(bytes) {
  let value = Math.max(0, Number(bytes) || 0);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits).replace(/\.0$/, "")} ${UNITS[unit]}`;
}

export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

// --- toasts -----------------------------------------------------------------------------------

export function toast(message, kind = "info", ms = 6000) {
  const box = document.getElementById("toasts");
  const item = el("div", { cls: `toast toast-${kind}`, text: message });
  box.append(item);
  // The box is a popover: re-showing it puts it in the top layer above any open modal dialog.
  if (box.showPopover) {
    if (box.matches(":popover-open")) box.hidePopover();
    box.showPopover();
  }
  setTimeout(() => {
    item.remove();
    const open = box.hidePopover && box.matches(":popover-open");
    if (open && !box.childElementCount) box.hidePopover();
  }, ms);
}

// --- focus --------------------------------------------------------------------------------------

const FOCUSABLE = [
  "a[href]",
  "button:not([disabled])",
  'input:not([disabled]):not([tabindex="-1"])',
  "select",
  "textarea",
  '[tabindex]:not([tabindex="-1"])',
].join(", ");

/** Keep Tab inside a modal dialog (showModal makes the page inert; this wraps around too). */
export function trapFocus(dialog) {
  dialog.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((n) => n.offsetParent !== null);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
}

// --- confirm dialog ---------------------------------------------------------------------------

/** Resolves true when the person confirms; Esc, Cancel or closing resolve false. */
export function confirmDialog({ title, message, confirmLabel = "Delete" }) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = message;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  const opener = document.activeElement;
  dialog.returnValue = "cancel";
  dialog.showModal();
  // The safe choice has focus, so an Enter typed too fast does not delete.
  document.getElementById("confirm-cancel").focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        if (opener && opener.isConnected) opener.focus();
        resolve(dialog.returnValue === "ok");
      },
      { once: true },
    );
  });
}

// --- tag chips ----------------------------------------------------------------------------------

const MAX_TAGS = 20;
const MAX_TAG_LEN = 50;

/** Same rules as the server: trimmed, lower-case, unique, 1–50 characters, no commas. */
export function cleanTag(raw) {
  return String(raw).trim().toLowerCase();
}

/**
 * A chip list with a text input inside `container`. Enter or comma adds a tag; Backspace in an
 * empty input removes the last one. `onChange(tags)` runs after every change.
 */
export function chipsInput(container, { inputId, placeholder = "Add a tag", onChange } = {}) {
  let tags = [];
  const list = el("ul", { cls: "chip-list" });
  const input = el("input", {
    attrs: { id: inputId, type: "text", placeholder, autocomplete: "off", maxlength: MAX_TAG_LEN },
  });
  const hint = el("span", { cls: "chip-hint", attrs: { "aria-live": "polite" } });
  container.replaceChildren(list, input, hint);

  function render() {
    list.replaceChildren(
      ...tags.map((tag) =>
        el("li", { cls: "chip" }, [
          el("span", { text: tag }),
          el("button", {
            cls: "chip-remove",
            text: "×",
            attrs: { type: "button", "aria-label": `Remove tag ${tag}` },
            on: { click: () => remove(tag) },
          }),
        ]),
      ),
    );
  }

  function changed() {
    render();
    if (onChange) onChange([...tags]);
  }

  function add(raw) {
    let added = false;
    for (const part of String(raw).split(",")) {
      const tag = cleanTag(part);
      if (!tag) continue;
      if (tag.length > MAX_TAG_LEN) {
        hint.textContent = `Tags are at most ${MAX_TAG_LEN} characters`;
      } else if (tags.length >= MAX_TAGS) {
        hint.textContent = `At most ${MAX_TAGS} tags`;
      } else if (!tags.includes(tag)) {
        tags.push(tag);
        added = true;
      }
    }
    if (added) {
      hint.textContent = "";
      changed();
    }
  }

  function remove(tag) {
    tags = tags.filter((t) => t !== tag);
    changed();
    input.focus();
  }

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault();
      add(input.value);
      input.value = "";
    } else if (event.key === "Backspace" && !input.value && tags.length) {
      remove(tags[tags.length - 1]);
    }
  });
  // Leaving the field keeps what was typed, so a half-typed tag is not silently lost.
  input.addEventListener("blur", () => {
    if (input.value.trim()) {
      add(input.value);
      input.value = "";
    }
  });
  container.addEventListener("click", (event) => {
    if (event.target === container || event.target === list) input.focus();
  });

  return {
    input,
    get: () => {
      if (input.value.trim()) {
        add(input.value);
        input.value = "";
      }
      return [...tags];
    },
    set(next) {
      tags = [...new Set((next || []).map(cleanTag).filter(Boolean))];
      input.value = "";
      hint.textContent = "";
      render();
    },
  };
}
