// The page's only way to the Ballast API: through the console's proxy at /api, which signs each call with the user's
// AWS credentials. Every answer also tells the page whether the API is reachable and the credentials accepted.

export class ApiError extends Error {
  constructor({ code = 0, reason = "Error", message = "", details = {} }) {
    super(message || reason);
    this.name = "ApiError";
    this.code = code;
    this.reason = reason;
    this.field = details.field;
    this.line = details.line;
    this.column = details.column;
  }
}

// "ok" | "unreachable" (the proxy answers, the API does not) | "console-down" (the proxy does not answer)
// | "unauthorized" (the API refused the credentials, or there are none) | "no-session" (the page lacks the cookie)
const listeners = new Set();
let health = { state: "ok", at: null, message: "" };

export function onHealth(listener) {
  listeners.add(listener);
  listener(health);
  return () => listeners.delete(listener);
}

function report(state, message = "") {
  health = { state, message, at: state === "ok" ? new Date() : health.at };
  for (const listener of listeners) listener(health);
}

function stateOf(error) {
  if (error.reason === "NoSession") return "no-session";
  if (error.code === 502 || error.reason === "Unreachable") return "unreachable";
  if (error.code === 401 || error.code === 403) return "unauthorized";
  return "ok"; // the API answered: a 400, 404 or 409 is about the request, not about the connection
}

let namespace = "default";
export function setNamespace(value) {
  namespace = value;
}

// Object routes take the console's namespace; the images API is per user and takes none.
const NAMESPACED = /^\/(workloads|nodepools|events)(\/|$)/;

export async function call(method, path, { body, query = {}, contentType = "application/json", accept = "application/json",
                                           headers: extra = {}, withHeaders = false } = {}) {
  const url = new URL("/api" + path, window.location.origin);
  const params = NAMESPACED.test(path) ? { namespace, ...query } : query;
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: accept, ...extra };
  if (body !== undefined) headers["Content-Type"] = contentType;
  let response;
  try {
    response = await fetch(url, {
      method, headers, cache: "no-store", credentials: "same-origin",
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
  } catch (failure) {
    report("console-down", "The console's own server does not answer: is `ballast dashboard` still running?");
    throw new ApiError({ code: 0, reason: "ConsoleUnreachable", message: String(failure) });
  }
  const text = await response.text();
  if (!response.ok) {
    let status;
    try {
      status = JSON.parse(text);
    } catch {
      status = { message: text.slice(0, 300) };
    }
    const error = new ApiError({ code: response.status, reason: status.reason || status.Code || "Error",
                                 message: status.message || status.Message || response.statusText, details: status.details || {} });
    const state = stateOf(error);
    report(state, state === "ok" ? "" : error.message);
    throw error;
  }
  report("ok");
  const parsed = accept !== "application/json" ? text : text ? JSON.parse(text) : {};
  return withHeaders ? { body: parsed, headers: response.headers } : parsed;
}

export const api = {
  get: (path, query) => call("GET", path, { query }),
  post: (path, body) => call("POST", path, { body }),
  put: (path, body) => call("PUT", path, { body }),
  patch: (path, body) => call("PATCH", path, { body, contentType: "application/merge-patch+json" }),
  delete: (path, query) => call("DELETE", path, { query }),
  // The editor's manifest and its ETag (a fingerprint of the spec and labels it shows): a save sent with it as If-Match
  // is refused if either changed since, however often the controller wrote status in between.
  getYaml: (path) => call("GET", path, { accept: "application/yaml", withHeaders: true })
    .then(({ body, headers }) => ({ text: body, etag: headers.get("ETag") })),
  putYaml: (path, text, etag) => call("PUT", path, { body: text, contentType: "application/yaml", headers: { "If-Match": etag } }),
};

export async function consoleInfo() {
  const response = await fetch("/console/info", { cache: "no-store", credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) {
    report(body.reason === "NoSession" ? "no-session" : "console-down", body.message);
    throw new ApiError(body);
  }
  return body;
}
