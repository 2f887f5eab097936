// Sign in and sign up: one form, two modes. Creating an account signs in right after.

import { api } from "./api.js";
import { $ } from "./dom.js";

const MIN_PASSWORD = 8; // the server's rule; checked here only to answer before a round trip
let mode = "signin"; // or "signup"
let allowRegistration = false;
let signedIn = () => {};

export function setMode(next) {
  mode = next === "signup" && allowRegistration ? "signup" : "signin";
  const signup = mode === "signup";
  $("auth-title").textContent = signup ? "Create your account" : "Sign in";
  $("auth-submit").textContent = signup ? "Create account" : "Sign in";
  $("auth-password").autocomplete = signup ? "new-password" : "current-password";
  $("auth-switch-text").textContent = signup ? "Already have an account?" : "No account yet?";
  $("auth-switch").textContent = signup ? "Sign in" : "Create one";
  $("auth-switch-line").hidden = !allowRegistration;
  $("auth-error").textContent = "";
}

/** Show the form, with `message` (e.g. why the session ended) in its error line. */
export function showAuthForm(message = "") {
  $("auth-view").hidden = false;
  $("auth-error").textContent = message;
  $("auth-email").focus();
}

async function submit(event) {
  event.preventDefault();
  const email = $("auth-email").value.trim();
  const password = $("auth-password").value;
  const error = $("auth-error");
  if (!email || !password) {
    error.textContent = "Enter your email and password.";
    return;
  }
  if (mode === "signup" && password.length < MIN_PASSWORD) {
    error.textContent = `Use a password of at least ${MIN_PASSWORD} characters.`;
    return;
  }
  $("auth-submit").disabled = true;
  error.textContent = "";
  try {
    if (mode === "signup") await api.register(email, password);
    const body = await api.login(email, password);
    $("auth-password").value = "";
    signedIn(body.user);
  } catch (err) {
    error.textContent = err.message;
  } finally {
    $("auth-submit").disabled = false;
  }
}

/** `onSignedIn(user)` runs after a successful sign-in or sign-up. */
export function initAuth(config, { onSignedIn }) {
  allowRegistration = config.allowRegistration;
  signedIn = onSignedIn;
  $("auth-form").addEventListener("submit", submit);
  $("auth-switch").addEventListener("click", () =>
    setMode(mode === "signup" ? "signin" : "signup"),
  );
  setMode("signin");
}
