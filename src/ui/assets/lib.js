// Shared helpers of the GPUBROKER UI: DOM building, the API client (cookies + CSRF),
// formatting, the signed-in user and the live WebSocket stream.

/** Builds an element: el("a", {href: "#/"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** An SVG element with attributes. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** An error from the API, with its stable code, message and request id. */
export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return "";
}

let refreshing = null;

/** Calls the API with the session cookies; state-changing calls carry X-CSRF-Token.
 *  A 401 with a session cookie renews the session once and retries. */
export async function api(method, path, body, retry = true) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!["GET", "HEAD"].includes(method)) {
    const csrf = cookie("gpb_csrf");
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", "the server cannot be reached; check your connection");
  }
  if (resp.status === 401 && retry && cookie("gpb_csrf") && !path.startsWith("/api/v2/auth/session")) {
    refreshing ??= api("POST", "/api/v2/auth/session/refresh", undefined, false).finally(() => { refreshing = null; });
    try { await refreshing; } catch { setUser(null); throw new ApiError(401, "unauthorized", "your session ended; sign in again"); }
    return api(method, path, body, false);
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const e = data && data.error;
    throw new ApiError(resp.status, e ? e.code : "http_" + resp.status,
      e ? e.message : `request failed (${resp.status})`, e ? e.request_id : resp.headers.get("x-request-id"));
  }
  return data;
}

/** An error box's content for an ApiError (message plus request id for server faults). */
export function errorText(e) {
  if (!(e instanceof ApiError)) return String(e && e.message || e);
  return e.status >= 500 && e.requestId ? `${e.message} (request id ${e.requestId})` : e.message;
}

const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
/** "$1.2345", or an en dash for a missing value. */
export function money(v) { return v === null || v === undefined ? "–" : usd.format(v); }
/** Micro-USD integer as dollars. */
export function micro(v) { return v === null || v === undefined ? "–" : new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" }).format(v / 1e6); }
/** A number with at most `digits` decimals, or an en dash. */
export function num(v, digits = 1) { return v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: digits }); }
/** A date-time in the reader's locale. */
export function when(s) { return s ? new Date(s).toLocaleString() : "–"; }

/** Shows a short message in the live region. */
export function toast(text) {
  const t = document.getElementById("toast");
  if (!t) return;
  t.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ""; }, 4000);
}

// ---- the signed-in user ---------------------------------------------------------------

let currentUser = null;
/** The signed-in user, or null. */
export function user() { return currentUser; }
/** Records the signed-in user and updates the navigation. */
export function setUser(u) {
  currentUser = u;
  document.dispatchEvent(new CustomEvent("gpb-user", { detail: u }));
}
/** Loads the user of the session cookie, if any. */
export async function loadUser() {
  if (!cookie("gpb_csrf")) { setUser(null); return null; }
  try { setUser(await api("GET", "/api/v2/auth/me")); } catch { setUser(null); }
  return currentUser;
}

// ---- compare list ---------------------------------------------------------------------

const COMPARE_KEY = "gpb.compare";
/** Offer ids picked for comparison (at most five). */
export function compareIds() {
  try { return JSON.parse(localStorage.getItem(COMPARE_KEY) || "[]").slice(0, 5); } catch { return []; }
}
/** Adds or removes `id`; false when the list is full. */
export function toggleCompare(id, on) {
  let ids = compareIds().filter((x) => x !== id);
  if (on) { if (ids.length >= 5) return false; ids.push(id); }
  localStorage.setItem(COMPARE_KEY, JSON.stringify(ids));
  document.dispatchEvent(new CustomEvent("gpb-compare"));
  return true;
}

// ---- live stream ------------------------------------------------------------------------

/** The WebSocket stream: one connection, subscriptions survive reconnects. */
class Live {
  constructor() { this.subs = new Map(); this.ws = null; this.backoff = 500; this.open = false; }
  connect() {
    if (this.ws) return;
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => {
      this.open = true; this.backoff = 500; this.state("live");
      for (const [id, s] of this.subs) {
        this.send({ type: "subscribe", id, query: s.query });
        // Changes may have been missed while disconnected: views reload what they show.
        if (this.dropped) s.handler({ type: "resync" });
      }
    };
    ws.onmessage = (m) => {
      let msg; try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === "notification") {
        // The signed-in user's own news (pod state, budget alerts, payments).
        document.dispatchEvent(new CustomEvent("gpb-notification", { detail: msg }));
        return;
      }
      if (msg.type === "resync_required") {
        // Events were dropped for this slow client: every view reloads.
        for (const s of this.subs.values()) s.handler({ type: "resync" });
        return;
      }
      const sub = msg.id && this.subs.get(msg.id);
      if (sub) sub.handler(msg);
    };
    ws.onclose = () => {
      this.ws = null; this.open = false; this.dropped = true; this.state("reconnecting");
      setTimeout(() => this.connect(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, 15000);
    };
  }
  /** Opens a new connection (after sign-in or out, so the session cookie applies). */
  reconnect() {
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; this.open = false; }
    this.dropped = true;
    this.connect();
  }
  state(text) { const s = document.getElementById("live-state"); if (s) s.textContent = `live: ${text}`; }
  send(msg) { if (this.open) this.ws.send(JSON.stringify(msg)); }
  /** Subscribes `id` to `query`; `handler` gets snapshots, events and errors. */
  subscribe(id, query, handler) {
    this.subs.set(id, { query, handler });
    this.connect();
    this.send({ type: "subscribe", id, query });
  }
  unsubscribe(id) {
    if (this.subs.delete(id)) this.send({ type: "unsubscribe", id });
  }
}
/** The page's live stream. */
export const live = new Live();
