// Modal dialogs: keeping Tab inside one, and the app's own confirmation dialog (styled,
// accessible and testable, unlike window.confirm).

import { $ } from "./dom.js";

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

/** Resolves true when the person confirms; Esc, Cancel or closing resolve false. */
export function confirmDialog({ title, message, confirmLabel = "Delete" }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = message;
  $("confirm-ok").textContent = confirmLabel;
  const opener = document.activeElement;
  dialog.returnValue = "cancel";
  dialog.showModal();
  // The safe choice has focus, so an Enter typed too fast does not delete.
  $("confirm-cancel").focus();
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
