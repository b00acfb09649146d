// Pods: deploy an offer of the demo market, watch it run, see its cost against the
// billed price and its budget, and stop or terminate it. The server meters per second,
// enforces budgets and pushes state changes and alerts over the live stream; the page
// also refreshes every few seconds so the cost so far keeps moving.
import { api, el, svg, errorText, micro, when, user, toast } from "./lib.js";

const LIVE = ["requested", "provisioning", "running", "stopping"];

/** Deploys `offer` and opens the pods page; errors become a toast. */
export async function deploy(offer) {
  try {
    const pod = await api("POST", "/api/v2/pods", { offer_id: offer.id, client_token: `ui-${offer.id}-${Date.now()}` });
    toast(pod.state === "failed" ? `Launch failed: ${pod.failure || "the provider refused"}` : `Pod ${pod.name} is ${pod.state}.`);
    location.hash = "#/pods";
  } catch (ex) { toast(errorText(ex)); }
}

/** Cost so far at the billed price (what the wallet is charged, per second). */
function runningCost(p) {
  if (!p.running_since) return 0;
  const end = p.stopped_at ? new Date(p.stopped_at) : new Date();
  const seconds = Math.max(0, (end - new Date(p.running_since)) / 1000);
  return Math.round(p.price_per_hour_micro_usd * seconds / 3600);
}

/** A labelled bar of `spent` against `limit`. */
function budgetBar(b) {
  const pct = Math.min(100, b.percent);
  return el("span", { class: "budget" },
    el("meter", { min: 0, max: 100, low: 75, high: 90, optimum: 0, value: pct, "aria-label": `${b.percent}% of the budget used` }),
    ` ${micro(b.spent_micro_usd)} of ${micro(b.limit_micro_usd)} (${b.percent}%)`);
}

/** Dollars typed by the user → micro-USD, or null. */
function microOf(text) {
  const v = Number(String(text).replace(/[$,\s]/g, ""));
  return Number.isFinite(v) && v > 0 ? Math.round(v * 1e6) : null;
}

// How to reach a running machine: the ssh command and a Jupyter link (https only).
function reach(c) {
  if (!c) return [];
  const out = [];
  if (c.ssh_host) {
    const port = c.ssh_port && c.ssh_port !== 22 ? `-p ${c.ssh_port} ` : "";
    out.push(el("br"), el("code", { "data-ssh": "" }, `ssh ${port}${c.ssh_user ? `${c.ssh_user}@` : ""}${c.ssh_host}`));
  }
  if (c.jupyter_url && c.jupyter_url.startsWith("https://")) {
    out.push(" ", el("a", { href: c.jupyter_url, target: "_blank", rel: "noopener noreferrer" }, "Jupyter"));
  }
  return out;
}

/** The last hour's GPU utilisation (average over the pod's GPUs) as a sparkline, with
 * the latest utilisation, temperature and power; "no agent" when nothing was reported. */
function telemetry(t) {
  if (!t || !t.gpus.length || !t.last_sample_at) return el("span", { class: "muted", "data-telemetry": "none" }, "no agent");
  const byMinute = new Map();
  for (const g of t.gpus) for (const p of g.points) {
    if (p.utilization_avg === null) continue;
    const k = Date.parse(p.at);
    const acc = byMinute.get(k) || { sum: 0, n: 0 };
    acc.sum += p.utilization_avg; acc.n += 1;
    byMinute.set(k, acc);
  }
  const pts = [...byMinute.entries()].sort((a, b) => a[0] - b[0]).map(([k, a]) => [k, a.sum / a.n]);
  const last = t.gpus.map((g) => g.points.at(-1)).filter(Boolean);
  const util = pts.length ? pts.at(-1)[1] : null;
  const temp = Math.max(...last.map((p) => p.temperature_max ?? -Infinity));
  const power = last.reduce((s, p) => s + (p.power_avg ?? 0), 0);
  const W = 96, H = 24;
  const t0 = pts.length ? pts[0][0] : 0, t1 = pts.length ? Math.max(pts.at(-1)[0], t0 + 1) : 1;
  const d = pts.map(([k, v], i) => `${i ? "L" : "M"}${((k - t0) / (t1 - t0) * W).toFixed(1)},${(H - v / 100 * H).toFixed(1)}`).join("");
  const label = `GPU utilisation over the last hour, now ${util === null ? "unknown" : `${Math.round(util)}%`}`;
  return el("span", { "data-telemetry": "live" },
    svg("svg", { class: "spark", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label }, svg("title", {}, label), d ? svg("path", { d }) : null),
    ` ${util === null ? "–" : `${Math.round(util)}%`}`, Number.isFinite(temp) ? ` · ${temp}°C` : "", power ? ` · ${Math.round(power)} W` : "");
}

class Pods extends HTMLElement {
  connectedCallback() {
    if (!user()) {
      this.replaceChildren(el("h1", {}, "Pods"), el("p", {}, el("a", { href: "#/login" }, "Sign in"), " to deploy and watch pods."));
      return;
    }
    this.err = el("div", { class: "error", role: "alert", id: "pods-error" });
    this.info = el("div", { id: "pod-info" });
    this.body = el("tbody");
    this.month = el("p", { id: "month-budget" }, "No monthly budget.");
    this.limit = el("input", { id: "budget-limit", type: "number", min: "0.01", step: "0.01", inputmode: "decimal", required: true });
    this.autoStop = el("input", { id: "budget-autostop", type: "checkbox", checked: true });
    this.alerts = el("ul", { id: "alerts", class: "alerts" });
    const form = el("form", { id: "budget-form", class: "row", onsubmit: (e) => { e.preventDefault(); this.setMonthly(); } },
      el("label", { for: "budget-limit" }, "Monthly budget ($)"), this.limit,
      el("label", { class: "inline" }, this.autoStop, " stop pods at 100 %"),
      el("button", { type: "submit" }, "Set"),
      el("button", { type: "button", class: "secondary", id: "budget-remove", onclick: () => this.removeMonthly() }, "Remove"));
    this.replaceChildren(el("h1", {}, "Pods"), this.err, this.info,
      el("p", { class: "muted" }, "Deploy from an offer of the demo market (its detail page). Usage is charged per second from your wallet at the price shown when you deployed."),
      el("div", { class: "table-wrap" }, el("table", { id: "pods" },
        el("thead", {}, el("tr", {}, ["Name", "Provider", "State", "Price / h", "Cost so far", "Budget", "GPU", "Since", ""].map((h) => el("th", { scope: "col" }, h)))), this.body)),
      el("section", { "aria-labelledby": "budgets-h" }, el("h2", { id: "budgets-h" }, "Budgets"),
        el("p", { class: "muted" }, "Alerts at 50, 75 and 90 %; with auto-stop, pods are stopped before the limit is passed."),
        this.month, form),
      el("section", { "aria-labelledby": "alerts-h" }, el("h2", { id: "alerts-h" }, "Alerts"), this.alerts,
        el("button", { type: "button", class: "secondary", id: "alerts-read", onclick: () => this.markRead() }, "Mark all read")));
    this.onNews = (e) => {
      const kind = e.detail.kind || "";
      if (kind.startsWith("pod.") || kind.startsWith("budget.")) this.load();
    };
    document.addEventListener("gpb-notification", this.onNews);
    this.load();
    this.timer = setInterval(() => this.load(), 5000);
  }
  disconnectedCallback() {
    clearInterval(this.timer);
    if (this.onNews) document.removeEventListener("gpb-notification", this.onNews);
  }

  async load() {
    try {
      const [pods, budgets, news] = await Promise.all([api("GET", "/api/v2/pods"), api("GET", "/api/v2/budgets"), api("GET", "/api/v2/notifications?limit=10")]);
      const byPod = new Map(budgets.filter((b) => b.pod_id).map((b) => [b.pod_id, b]));
      const running = pods.filter((p) => p.state === "running");
      const seen = await Promise.all(running.map((p) => api("GET", `/api/v2/pods/${encodeURIComponent(p.id)}/telemetry?minutes=60&step=1`).catch(() => null)));
      const gpus = new Map(running.map((p, i) => [p.id, seen[i]]));
      this.body.replaceChildren(...(pods.length ? pods.map((p) => this.row(p, byPod.get(p.id), gpus))
        : [el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No pods yet."))]));
      const month = budgets.find((b) => b.scope === "month");
      this.month.replaceChildren(...(month
        ? [`${month.period}: `, budgetBar(month), month.auto_stop ? " · auto-stop on" : " · alerts only"]
        : ["No monthly budget."]));
      this.alerts.replaceChildren(...(news.length ? news.map((n) => el("li", { class: n.read_at ? "read" : "unread", "data-kind": n.kind },
        el("strong", {}, n.title), " ", n.body, " ", el("span", { class: "muted" }, when(n.created_at))))
        : [el("li", { class: "muted" }, "No alerts.")]));
      this.err.textContent = "";
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  row(p, budget, gpus) {
    const actions = [];
    if (["running", "provisioning"].includes(p.state)) actions.push(el("button", { type: "button", class: "secondary", "data-stop": p.id, onclick: () => this.act(p, "stop") }, "Stop"));
    if (p.state === "stopped") actions.push(el("button", { type: "button", class: "secondary", "data-start": p.id, onclick: () => this.act(p, "start") }, "Start"));
    if (!["terminated", "failed"].includes(p.state)) actions.push(el("button", { type: "button", class: "secondary", "data-terminate": p.id, onclick: () => this.act(p, "terminate") }, "Terminate"));
    if (LIVE.includes(p.state)) actions.push(el("button", { type: "button", class: "secondary", "data-budget": p.id, onclick: () => this.podBudget(p) }, "Budget…"));
    if (p.state === "running") actions.push(el("button", { type: "button", class: "secondary", "data-agent": p.id, onclick: () => this.agent(p) }, "Agent…"));
    return el("tr", { "data-pod": p.id },
      el("td", {}, p.name, ...reach(p.connection)), el("td", {}, p.provider),
      el("td", {}, el("span", { class: `badge ${LIVE.includes(p.state) ? "ok" : ""}`, "data-state": p.state }, p.state), p.failure ? ` ${p.failure}` : ""),
      el("td", { class: "num" }, micro(p.price_per_hour_micro_usd)), el("td", { class: "num" }, micro(runningCost(p))),
      el("td", {}, budget ? budgetBar(budget) : "–"),
      el("td", {}, p.state === "running" ? telemetry(gpus.get(p.id)) : "–"),
      el("td", {}, when(p.running_since || p.created_at)), el("td", {}, actions));
  }

  async act(p, what) {
    if (what === "terminate" && !confirm(`Terminate ${p.name}? Its machine is destroyed.`)) return;
    try {
      const after = await api("POST", `/api/v2/pods/${encodeURIComponent(p.id)}/${what}`);
      toast(`${after.name} is ${after.state}.`);
      this.load();
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async setMonthly() {
    const limit = microOf(this.limit.value);
    if (!limit) { this.err.textContent = "Enter a budget in dollars, e.g. 50."; return; }
    try {
      await api("POST", "/api/v2/budgets", { limit_micro_usd: limit, auto_stop: this.autoStop.checked });
      toast("Monthly budget set.");
      this.load();
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async removeMonthly() {
    try {
      const month = (await api("GET", "/api/v2/budgets")).find((b) => b.scope === "month");
      if (!month) return;
      await api("DELETE", `/api/v2/budgets/${encodeURIComponent(month.id)}`);
      toast("Monthly budget removed.");
      this.load();
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async podBudget(p) {
    const limit = microOf(prompt(`Budget for ${p.name} in dollars (its whole run):`, "10") || "");
    if (!limit) return;
    try {
      await api("POST", "/api/v2/budgets", { pod_id: p.id, limit_micro_usd: limit, auto_stop: true });
      this.load();
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  /** Issues the pod's agent token and shows the command to run on the machine. */
  async agent(p) {
    if (!confirm(`Issue a new agent token for ${p.name}? A token issued before stops working.`)) return;
    try {
      const t = await api("POST", `/api/v2/pods/${encodeURIComponent(p.id)}/agent-token`);
      const command = `GPUBROKER_AGENT_TOKEN=${t.token} gpubroker agent --broker ${location.origin}`;
      this.info.replaceChildren(el("p", {}, "Run this on the pod's machine (the token is shown once):"), el("pre", { id: "agent-command" }, el("code", {}, command)));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async markRead() {
    try { await api("POST", "/api/v2/notifications/read"); this.load(); } catch (ex) { this.err.textContent = errorText(ex); }
  }
}
customElements.define("gpb-pods", Pods);
