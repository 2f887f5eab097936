// Wiring: boot, and the switch between the sign-in view and the app. Each feature lives in its
// own module (auth, account, upload, gallery, viewer, links); this one only connects them.

import { hideAccount, refreshAccount, showAccount } from "./account.js";
import { api, getToken, onUnauthorized } from "./api.js";
import { initAuth, setMode, showAuthForm } from "./auth.js";
import { $ } from "./dom.js";
import {
  cardButton,
  clearGallery,
  currentItems,
  initGallery,
  loadGallery,
  removeItem,
  replaceItem,
  showPlaceholder,
} from "./gallery.js";
import { toast } from "./toast.js";
import { initUpload, resetUploads } from "./upload.js";
import { initViewer, isOpen, openViewer } from "./viewer.js";

let config = null; // GET /api/config: the server's limits and rules
let appReady = false;

function showAuth(message = "") {
  $("boot-status").hidden = true;
  $("app-view").hidden = true;
  hideAccount();
  if (isOpen()) $("viewer").close();
  if ($("confirm").open) $("confirm").close();
  clearGallery();
  resetUploads();
  showAuthForm(message);
}

function initApp() {
  // Called after each stored file: a burst of small files costs one refresh, not one each.
  let timer = 0;
  initUpload(config, {
    onUploaded: () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        loadGallery();
        refreshAccount();
      }, 250);
    },
    onPlaceholder: showPlaceholder, // made in this browser from the file just uploaded
  });
  initGallery({ open: openViewer, tagRules: config.tagRules });
  initViewer({
    tagRules: config.tagRules,
    items: currentItems,
    focusAfterClose: (id) =>
      (id && cardButton(id)) || $("grid").querySelector(".thumb") || $("dropzone"),
    onChanged: replaceItem,
    onDeleted: (id) => {
      removeItem(id);
      refreshAccount();
    },
  });
}

function showApp(user) {
  $("boot-status").hidden = true;
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  showAccount(user);
  if (!appReady) {
    appReady = true;
    initApp();
  }
  loadGallery();
}

async function signOut() {
  try {
    await api.logout();
  } catch {
    /* the token is dropped locally whatever the server says */
  }
  setMode("signin");
  showAuth();
  toast("Signed out", "info", 3000);
}

async function boot() {
  try {
    config = await api.config();
  } catch (error) {
    $("boot-status").textContent = `Cannot reach the server: ${error.message}`;
    return;
  }
  onUnauthorized(() => showAuth("Your session has ended. Please sign in again."));
  initAuth(config, { onSignedIn: showApp });
  $("sign-out").addEventListener("click", signOut);

  if (!getToken()) {
    showAuth();
    return;
  }
  try {
    showApp((await api.me()).user);
  } catch (error) {
    if (error.status !== 401) showAuth(error.message);
  }
}

boot();
