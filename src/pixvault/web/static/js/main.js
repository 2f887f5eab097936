// Wiring: boot, the switch between the sign-in view and the app, the header's account and
// storage meter. Each concern lives in its own module; this one only connects them.

import { api, getToken, onUnauthorized } from "./api.js";
import {
  cardButton,
  clearGallery,
  currentItems,
  initGallery,
  loadGallery,
  removeItem,
  replaceItem,
} from "./gallery.js";
import { formatBytes, toast } from "./ui.js";
import { initUpload, resetUploads } from "./upload.js";
import { initViewer, isOpen, openViewer } from "./viewer.js";

const $ = (id) => document.getElementById(id);
let config = null;
let mode = "signin"; // or "signup"
let appReady = false;

// --- storage meter ------------------------------------------------------------------------------

function showAccount(user) {
  $("account").hidden = false;
  $("account-email").textContent = user.email;
  const { used, limit } = user.storageQuota;
  const meter = $("storage-meter");
  meter.max = Math.max(limit, 1);
  meter.value = Math.min(used, meter.max);
  const share = limit ? Math.round((used / limit) * 100) : 100;
  $("storage-text").textContent = `${formatBytes(used)} of ${formatBytes(limit)}`;
  meter.title = `${share}% of your storage is used`;
  meter.classList.toggle("full", share >= 90);
}

async function refreshAccount() {
  try {
    showAccount((await api.me()).user);
  } catch {
    /* a 401 already went to sign-in; anything else: the meter stays as it was */
  }
}

// --- views --------------------------------------------------------------------------------------

function setMode(next) {
  mode = next === "signup" && config.allowRegistration ? "signup" : "signin";
  const signup = mode === "signup";
  $("auth-title").textContent = signup ? "Create your account" : "Sign in";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
  $("auth-switch-text").textContent = signup ? "Already have an account?" : "No account yet?";
  $("auth-switch").textContent = signup ? "Sign in" : "Create one";
  $("auth-switch-line").hidden = !config.allowRegistration;
  $("auth-error").textContent = "";
}

function showAuth(message = "") {
  $("boot-status").hidden = true;
  $("app-view").hidden = true;
  $("account").hidden = true;
  $("auth-view").hidden = false;
  if (isOpen()) $("viewer").close();
  if ($("confirm").open) $("confirm").close();
  clearGallery();
  resetUploads();
  $("auth-error").textContent = message;
  $("auth-email").focus();
}

function showApp(user) {
  $("boot-status").hidden = true;
  $("auth-view").hidden = true;
  $("app-view").hidden = false;
  showAccount(user);
  if (!appReady) {
    appReady = true;
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
    });
    initGallery({ open: openViewer });
    initViewer({
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
  loadGallery();
}

// --- sign in / up / out -------------------------------------------------------------------------

async function submitAuth(event) {
  event.preventDefault();
  const email = $("auth-email").value.trim();
  const password = $("auth-password").value;
  const error = $("auth-error");
  if (!email || !password) {
    error.textContent = "Enter your email and password.";
    return;
  }
  if (mode === "signup" && password.length < 8) {
    error.textContent = "Use a password of at least 8 characters.";
    return;
  }
  $("auth-submit").disabled = true;
  error.textContent = "";
  try {
    if (mode === "signup") await api.register(email, password);
    const body = await api.login(email, password);
    $("auth-password").value = "";
    showApp(body.user);
  } catch (err) {
    error.textContent = err.message;
  } finally {
    $("auth-submit").disabled = false;
  }
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

// --- boot ---------------------------------------------------------------------------------------

async function boot() {
  try {
    config = await api.config();
  } catch (error) {
    $("boot-status").textContent = `Cannot reach the server: ${error.message}`;
    return;
  }
  onUnauthorized(() => showAuth("Your session has ended. Please sign in again."));
  $("auth-form").addEventListener("submit", submitAuth);
  $("auth-switch").addEventListener("click", () =>
    setMode(mode === "signup" ? "signin" : "signup"),
  );
  $("sign-out").addEventListener("click", signOut);
  setMode("signin");

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
