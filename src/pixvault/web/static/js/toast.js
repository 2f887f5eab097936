// Short notices that go away by themselves, announced politely to screen readers.

import { $, el } from "./dom.js";

export function toast(message, kind = "info", ms = 6000) {
  const box = $("toasts");
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
