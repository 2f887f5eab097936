// The header's account: who is signed in and the storage meter.

import { api } from "./api.js";
import { $ } from "./dom.js";
import { storageSummary } from "./format.js";

export function showAccount(user) {
  $("account").hidden = false;
  $("account-email").textContent = user.email;
  const { used, limit } = user.storageQuota;
  const meter = $("storage-meter");
  meter.max = Math.max(limit, 1);
  meter.value = Math.min(used, meter.max);
  const summary = storageSummary(used, limit);
  $("storage-text").textContent = summary.text;
  meter.title = summary.title;
  meter.classList.toggle("full", summary.full);
}

export function hideAccount() {
  $("account").hidden = true;
}

/** Re-read the quota after an upload or a delete. */
export async function refreshAccount() {
  try {
    showAccount((await api.me()).user);
  } catch {
    /* a 401 already went to sign-in; anything else: the meter stays as it was */
  }
}
