// The one place the UI talks to the backend's public API (same origin, under /api).
// Every failure becomes an ApiError whose `message` a person can act on.

import { clearSession, getToken, hasLiveToken } from "./session.js";

export class ApiError extends Error {
  /**
   * status: HTTP status, or 0 when the server could not be reached.
   * detail: the JSON body's `detail` (string, list of validation errors, or anything else).
   */
  constructor(status, message, detail = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

/** Fired on window when the session is missing or expired; the app sends the user to the login page. */
export const SESSION_ENDED = "cloudemy:session-ended";

function endSession(reason) {
  clearSession();
  window.dispatchEvent(new CustomEvent(SESSION_ENDED, { detail: { reason } }));
}

/** FastAPI's 422 detail [{loc: ["body", "rubric", 0, "points"], msg}] -> "rubric › 1 › points: msg" lines. */
export function describeValidation(detail) {
  if (!Array.isArray(detail)) return typeof detail === "string" ? detail : "";
  return detail
    .map((item) => {
      const loc = Array.isArray(item?.loc) ? item.loc.filter((part) => part !== "body") : [];
      const where = loc.map((part) => (typeof part === "number" ? `#${part + 1}` : String(part))).join(" › ");
      const msg = typeof item?.msg === "string" ? item.msg : JSON.stringify(item);
      return where ? `${where}: ${msg}` : msg;
    })
    .join("\n");
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return describeValidation(detail);
  return "";
}

/** The sentence shown for a failed call; `messages` may override it per status for one call. */
export function describeError(status, detail, messages = {}) {
  if (messages[status]) return messages[status];
  const said = detailText(detail);
  switch (status) {
    case 0:
      return "Cannot reach the Cloudemy server. Check your network connection and try again.";
    case 400:
      return said ? `The request was refused: ${said}` : "The request was refused.";
    case 401:
      return "Your session has ended. Please log in again.";
    case 403:
      return said ? `Not allowed: ${said}` : "You do not have permission to do that.";
    case 404:
      return "Not found: it does not exist, or you do not have access to it.";
    case 409:
      return said ? `Conflict: ${said}` : "Conflict: this was changed in the meantime. Reload and try again.";
    case 413:
      return `Too large: ${said || "the request is over the server's size limit"}. Make it smaller and try again.`;
    case 422:
      return `Please correct the following:\n${said || "some values are not valid."}`;
    case 429:
      return "Too many requests. Wait a moment and try again.";
    default:
      if (status >= 500) return `The server had a problem (HTTP ${status}). Try again in a moment.`;
      return said ? `Request failed (HTTP ${status}): ${said}` : `Request failed (HTTP ${status}).`;
  }
}

/**
 * Call the API. options: method, json (body as JSON), form (URLSearchParams body), text + contentType (a
 * raw text body, e.g. CSV), auth (default true), base (default "/api"; "" for the /lti endpoints),
 * messages ({status: text} overrides), signal (AbortSignal), accept ("json" default, or "blob").
 * Resolves to the parsed body (null for 204); rejects with ApiError.
 */
export async function api(path, options = {}) {
  const { method = "GET", json, form, text, contentType = "text/plain", auth = true, messages = {}, signal, accept = "json", headers: extra = {}, base = "/api" } = options;
  const headers = { Accept: accept === "json" ? "application/json" : "*/*", ...extra };
  if (auth) {
    if (!hasLiveToken()) {
      endSession(getToken() ? "expired" : "missing");
      throw new ApiError(401, describeError(401, null, messages));
    }
    headers.Authorization = `Bearer ${getToken()}`;
  }
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  } else if (text !== undefined) {
    headers["Content-Type"] = contentType;
    body = text;
  }

  let response;
  try {
    response = await fetch(`${base}${path}`, { method, headers, body, signal, credentials: "omit", cache: "no-store" });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError(0, describeError(0, null, messages));
  }

  if (response.ok) {
    if (response.status === 204) return null;
    if (accept === "blob") return response.blob();
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  let detail = null;
  try {
    detail = (await response.json())?.detail ?? null;
  } catch {
    detail = null;
  }
  if (response.status === 401 && auth) endSession("rejected");
  throw new ApiError(response.status, describeError(response.status, detail, messages), detail);
}

/** Every item of a cursor-paginated list endpoint (bounded by maxPages). */
export async function listAll(path, params = {}, { maxPages = 50, signal } = {}) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const query = new URLSearchParams({ ...params, limit: "100" });
    if (cursor) query.set("cursor", cursor);
    const body = await api(`${path}?${query}`, { signal });
    const { items: pageItems, nextCursor } = readPage(body);
    items.push(...pageItems);
    if (!nextCursor || pageItems.length === 0) break;
    cursor = nextCursor;
  }
  return items;
}

/** Accepts a bare list or {items, next_cursor}. */
function readPage(body) {
  if (Array.isArray(body)) return { items: body, nextCursor: null };
  return { items: body?.items ?? [], nextCursor: body?.next_cursor ?? null };
}
