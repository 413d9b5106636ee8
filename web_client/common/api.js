// fetch() wrapper for the operator pages: JSON in and out, the session's CSRF token on every
// request that changes state, and errors turned into ApiError with the gateway's plain message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || ("HTTP " + status));
    this.status = status;
    this.code = code || "http_" + status;
  }
}

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token;
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (UNSAFE.has(method) && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "network", "Cannot reach the gateway. Check the network connection.");
  }
  if (resp.status === 401) {
    // Session gone (expired, logged out elsewhere): back to the login page, then here again.
    const next = location.pathname + location.search;
    location.assign("/login?next=" + encodeURIComponent(next));
    throw new ApiError(401, "unauthorised", "Please log in again.");
  }
  const type = resp.headers.get("Content-Type") || "";
  const data = /[/+]json\b/.test(type) ? await resp.json().catch(() => null) : null;
  if (!resp.ok) {
    const code = data && data.error;
    const message = (data && data.message) || resp.statusText || ("HTTP " + resp.status);
    throw new ApiError(resp.status, code, message);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);

// Who is logged in; also installs the CSRF token for later POSTs.
export async function whoAmI() {
  const me = await get("/api/me");
  setCsrfToken(me.csrf_token);
  return me;
}

export async function logout() {
  const form = new URLSearchParams();
  if (csrfToken) form.set("csrf", csrfToken);
  await fetch("/logout", {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken || "" },
    body: form,
  }).catch(() => {});
  location.assign("/login");
}
