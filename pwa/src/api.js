// The one place that talks HTTP to the server (DESIGN.md "The wire format").
import { emit } from "./events.js";

// Every failure is an ApiError: `offline` when no answer came, otherwise the
// problem+json `code` (token-revoked, visit-conflict, validation-error, …) and status.
const BASE = new URL("../api/v1/", document.baseURI).href;
let token = null;
// Whether the last request got an answer: navigator.onLine says only that a network exists.
export const net = { reachable: null };

function reached(value) {
  if (net.reachable !== value) {
    net.reachable = value;
    emit("net", value);
  }
}

export function setToken(value) {
  token = value;
}

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || (status ? `HTTP ${status}` : "offline"));
    this.status = status;
    this.problem = problem;
    this.code = status ? String(problem.type || "").split("/").pop() || `http-${status}` : "offline";
  }
  get offline() {
    return this.status === 0;
  }
  get retryable() {
    return this.status === 0 || this.status >= 500 || this.status === 429 || this.status === 408;
  }
  get unauthorized() {
    return this.status === 401;
  }
}

async function request(method, path, { json, body, type, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (type) {
    headers["Content-Type"] = type;
  }
  let response;
  try {
    response = await fetch(BASE + path, { method, headers, body, cache: "no-store", credentials: "omit" });
  } catch {
    reached(false);
    throw new ApiError(0);
  }
  reached(true);
  if (response.ok) {
    if (response.status === 204 || method === "HEAD") return { status: response.status, data: null };
    try {
      return { status: response.status, data: await response.json() };
    } catch {
      // The answer was cut after its status line: retry later, as when offline (the
      // server's answer to a resend is the same).
      reached(false);
      throw new ApiError(0);
    }
  }
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    /* not JSON: keep the status */
  }
  throw new ApiError(response.status, problem);
}

export async function signIn(username, password, deviceName) {
  return (await request("POST", "auth/token", { json: { username, password, device_name: deviceName }, auth: false })).data;
}

export async function signOut() {
  await request("DELETE", "auth/token");
}

export async function assignments(since) {
  const query = since ? `?since=${encodeURIComponent(since)}` : "";
  return (await request("GET", `sync/assignments${query}`)).data;
}

// true when the server already holds the photo.
export async function hasPhoto(sha256) {
  try {
    await request("HEAD", `photos/${sha256}`);
    return true;
  } catch (error) {
    if (error.status === 404) return false;
    throw error;
  }
}

export async function putPhoto(sha256, blob) {
  return (await request("PUT", `photos/${sha256}`, { body: blob, type: blob.type || "image/jpeg" })).data;
}

export async function putVisit(id, body) {
  return (await request("PUT", `visits/${id}`, { json: body })).data;
}

export async function getVisit(id) {
  return (await request("GET", `visits/${id}`)).data;
}
