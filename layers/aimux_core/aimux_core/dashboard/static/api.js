// The admin API from the page: same-origin fetch, the admin token from this tab's sessionStorage, and the
// x-aimux-admin header the admin routes require on changes (a form posted by another site cannot send it).

const TOKEN_KEY = "aimux-admin-token";

export function adminToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setAdminToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.error && body.error.message;
    super(detail || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Call an admin route; resolves to the JSON answer (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = { accept: "application/json", "x-aimux-admin": "dashboard" };
  const token = adminToken();
  if (token) headers["x-aimux-admin-token"] = token;
  const init = { method, headers, credentials: "same-origin", cache: "no-store", redirect: "error" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api("GET", path);

/** YYYY-MM-DD of a Date in UTC (the admin API's usage days are UTC days). */
export function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

/** The UTC days from `from` to `to` inclusive, as YYYY-MM-DD strings. */
export function daysBetween(from, to) {
  const days = [];
  const cursor = new Date(from + "T00:00:00Z");
  const end = new Date(to + "T00:00:00Z");
  while (cursor <= end) {
    days.push(utcDay(cursor));
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return days;
}
