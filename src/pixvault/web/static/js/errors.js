// One error shape for every API answer, from fetch and from XHR alike. Pure: no DOM or network,
// so Node's test runner checks the messages people see (tests/js/errors.test.mjs).

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }

  get isQuota() {
    return this.status === 413 && (this.code === "quota_exceeded" || /quota/i.test(this.message));
  }
}

/** The server's `error` text, or a plain fallback; a 429 says when to try again. */
export function errorFrom(status, body, retryAfterHeader) {
  const code = body && typeof body.code === "string" ? body.code : "http_" + status;
  let message = body && typeof body.error === "string" ? body.error : "";
  let retryAfter = null;
  if (status === 429) {
    retryAfter = Math.max(1, parseInt(retryAfterHeader, 10) || 1);
    message = `Too many requests, try again in ${retryAfter} s`;
  } else if (!message) {
    message =
      status === 0 ? "Network error: is the server reachable?" : `Request failed (${status})`;
  }
  return new ApiError(status, code, message, retryAfter);
}
