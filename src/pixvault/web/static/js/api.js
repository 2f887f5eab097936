// The JSON API client: token, fetch wrapper, and what a 401 means. Error shapes: errors.js.
//
// Token storage: the Bearer token lives in sessionStorage. It survives a reload of the tab and
// is gone when the tab closes; it is never put in localStorage (outlives the session, shared by
// every tab) nor in a cookie (sent automatically, which would need CSRF defences). Script
// injection, the usual way to steal it, is kept out by the page's strict CSP (no inline or
// foreign script) and by rendering every piece of user data as text, never as HTML.

import { errorFrom } from "./errors.js";

const TOKEN_KEY = "pixvault.token";

let unauthorizedHandler = () => {};

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage disabled: behave as signed out
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* nothing stored */
  }
}

/** Called with the ApiError when a signed-in request answers 401 (token expired or revoked). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function authHeaders() {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** A 401 on a signed-in request means the session is over: drop the token and go to sign-in. */
export function handleUnauthorized(error, hadToken) {
  if (error.status === 401 && hadToken) {
    clearToken();
    unauthorizedHandler(error);
  }
}

async function request(method, path, { json, query, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json", ...authHeaders() };
  const hadToken = "Authorization" in headers;
  const init = { method, headers, signal, cache: "no-store" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw errorFrom(0, null, null);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null; // e.g. a proxy's HTML error page
  }
  if (!response.ok) {
    const error = errorFrom(response.status, body, response.headers.get("Retry-After"));
    handleUnauthorized(error, hadToken);
    throw error;
  }
  return body;
}

export const api = {
  config: () => request("GET", "/api/config"),
  register: (email, password) =>
    request("POST", "/api/auth/register", { json: { email, password } }),
  async login(email, password) {
    const body = await request("POST", "/api/auth/login", { json: { email, password } });
    setToken(body.accessToken);
    return body;
  },
  async logout() {
    try {
      await request("POST", "/api/auth/logout");
    } finally {
      clearToken();
    }
  },
  me: () => request("GET", "/api/auth/me"),
  listImages: ({ page, limit, search, tags }, signal) =>
    request("GET", "/api/images/user", { query: { page, limit, search, tags }, signal }),
  getImage: (id) => request("GET", `/api/images/${encodeURIComponent(id)}`),
  patchImage: (id, patch) =>
    request("PATCH", `/api/images/${encodeURIComponent(id)}`, { json: patch }),
  deleteImage: (id) => request("DELETE", `/api/images/${encodeURIComponent(id)}`),
  presign: (imageId, purpose = "view") =>
    request("POST", "/api/images/presigned-url", { json: { imageId, purpose } }),
};
