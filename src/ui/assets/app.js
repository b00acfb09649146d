// GPUBROKER web UI entry: hash routing, navigation, theme and session wiring.
import { api, el, loadUser, setUser, toast, compareIds, errorText, live } from "./lib.js";
import "./views.js";
import "./account.js";
import { isStaff } from "./admin.js";
import "./assistant.js";
import "./pods.js";
import "./plans.js";

/** Hash route → [custom element, nav key, title]. */
const ROUTES = [
  [/^\/offers\/.+/, "gpb-offer", "market", "Offer"],
  [/^\/compare$/, "gpb-compare", "compare", "Compare"],
  [/^\/rank$/, "gpb-rank", "rank", "Rank"],
  [/^\/assistant$/, "gpb-assistant", "assistant", "Workload assistant"],
  [/^\/login$/, "gpb-login", "login", "Sign in"],
  [/^\/register$/, "gpb-register", "register", "Register"],
  [/^\/keys$/, "gpb-keys", "keys", "API keys"],
  [/^\/wallet$/, "gpb-wallet", "wallet", "Wallet"],
  [/^\/pods$/, "gpb-pods", "pods", "Pods"],
  [/^\/admin$/, "gpb-admin", "admin", "Admin center"],
  [/^\/?$/, "gpb-marketplace", "market", "Marketplace"],
];

function route() {
  const path = (location.hash.replace(/^#/, "") || "/").split("?")[0];
  const view = document.getElementById("view");
  const match = ROUTES.find(([re]) => re.test(path));
  if (!match) {
    view.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No page here. ", el("a", { href: "#/" }, "Go to the marketplace")));
    return;
  }
  const [, tag, nav, title] = match;
  document.title = `${title} · GPUBROKER`;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  view.replaceChildren(document.createElement(tag));
  if (route.moved) view.focus({ preventScroll: true });
  route.moved = true;
}

function showUser(u) {
  for (const li of document.querySelectorAll("[data-auth]")) li.hidden = (li.dataset.auth === "in") !== Boolean(u);
  for (const li of document.querySelectorAll("[data-staff]")) li.hidden = !isStaff(u);
  document.getElementById("who").textContent = u ? `(${u.email})` : "";
}

function showCompare() {
  const n = compareIds().length;
  document.getElementById("compare-count").textContent = n ? String(n) : "";
}

const THEME_KEY = "gpb.theme";
function applyTheme(theme) {
  const root = document.documentElement;
  if (theme) root.dataset.theme = theme; else delete root.dataset.theme;
  const dark = theme ? theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  const button = document.getElementById("theme");
  button.setAttribute("aria-label", dark ? "Switch to light theme" : "Switch to dark theme");
}

/** Shows the nav entries whose API exists in this server's OpenAPI document. */
async function showOptionalNav() {
  const wanted = document.querySelectorAll("[data-requires]");
  if (!wanted.length) return;
  try {
    const doc = await api("GET", "/api/v2/openapi.json");
    for (const li of wanted) li.hidden = !Object.keys(doc.paths || {}).some((p) => p.startsWith(li.dataset.requires));
  } catch { /* stay hidden */ }
}

let liveUser;
document.addEventListener("gpb-user", (e) => {
  showUser(e.detail);
  // The stream carries the user's notifications only when it was opened signed in.
  const id = e.detail ? e.detail.id : null;
  if (liveUser !== undefined && liveUser !== id) live.reconnect();
  liveUser = id;
});
document.addEventListener("gpb-notification", (e) => {
  const n = e.detail;
  if (n.payload && n.payload.title) toast(n.payload.title);
});
document.addEventListener("gpb-compare", showCompare);
window.addEventListener("storage", showCompare);
window.addEventListener("hashchange", route);
document.getElementById("theme").addEventListener("click", () => {
  const dark = document.documentElement.dataset.theme ? document.documentElement.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  const next = dark ? "light" : "dark";
  localStorage.setItem(THEME_KEY, next);
  applyTheme(next);
});
document.getElementById("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v2/auth/session"); } catch (e) { if (e.status !== 401) { toast(errorText(e)); return; } }
  setUser(null);
  toast("Signed out.");
  location.hash = "#/login";
});

applyTheme(localStorage.getItem(THEME_KEY));
showCompare();
live.connect();
loadUser().then(() => { route(); showOptionalNav(); }, () => route());
