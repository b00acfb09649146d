// Pods: deploy an offer of the demo market, watch it run, see its cost against the
// billed price, and stop or terminate it. The server meters per second and enforces
// every limit; the page refreshes every few seconds while it is open.
import { api, el, errorText, micro, when, user, toast } from "./lib.js";

const LIVE = ["requested", "provisioning", "running", "stopping"];

/** Deploys `offer` and opens the pods page; errors become a toast. */
export async function deploy(offer) {
  try {
    const pod = await api("POST", "/api/v2/pods", { offer_id: offer.id, client_token: `ui-${offer.id}-${Date.now()}` });
    toast(pod.state === "failed" ? `Launch failed: ${pod.failure || "the provider refused"}` : `Pod ${pod.name} is ${pod.state}.`);
    location.hash = "#/pods";
  } catch (ex) { toast(errorText(ex)); }
}

/** Cost so far: billed intervals are what the wallet was charged. */
function runningCost(p) {
  if (!p.running_since) return 0;
  const end = p.stopped_at ? new Date(p.stopped_at) : new Date();
  const seconds = Math.max(0, (end - new Date(p.running_since)) / 1000);
  return Math.round(p.price_per_hour_micro_usd * seconds / 3600);
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

class Pods extends HTMLElement {
  connectedCallback() {
    if (!user()) {
      this.replaceChildren(el("h1", {}, "Pods"), el("p", {}, el("a", { href: "#/login" }, "Sign in"), " to deploy and watch pods."));
      return;
    }
    this.err = el("div", { class: "error", role: "alert", id: "pods-error" });
    this.body = el("tbody");
    this.replaceChildren(el("h1", {}, "Pods"), this.err,
      el("p", { class: "muted" }, "Deploy from an offer of the demo market (its detail page). Usage is charged per second from your wallet at the price shown when you deployed."),
      el("div", { class: "table-wrap" }, el("table", { id: "pods" },
        el("thead", {}, el("tr", {}, ["Name", "Provider", "State", "Price / h", "Cost so far", "Since", ""].map((h) => el("th", { scope: "col" }, h)))), this.body)));
    this.load();
    this.timer = setInterval(() => this.load(), 3000);
  }
  disconnectedCallback() { clearInterval(this.timer); }

  async load() {
    try {
      const pods = await api("GET", "/api/v2/pods");
      this.body.replaceChildren(...(pods.length ? pods.map((p) => this.row(p))
        : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No pods yet."))]));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  row(p) {
    const actions = [];
    if (["running", "provisioning"].includes(p.state)) actions.push(el("button", { type: "button", class: "secondary", "data-stop": p.id, onclick: () => this.act(p, "stop") }, "Stop"));
    if (!["terminated", "failed"].includes(p.state)) actions.push(el("button", { type: "button", class: "secondary", "data-terminate": p.id, onclick: () => this.act(p, "terminate") }, "Terminate"));
    return el("tr", { "data-pod": p.id },
      el("td", {}, p.name, ...reach(p.connection)), el("td", {}, p.provider),
      el("td", {}, el("span", { class: `badge ${LIVE.includes(p.state) ? "ok" : ""}`, "data-state": p.state }, p.state), p.failure ? ` ${p.failure}` : ""),
      el("td", { class: "num" }, micro(p.price_per_hour_micro_usd)), el("td", { class: "num" }, micro(runningCost(p))),
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
}
customElements.define("gpb-pods", Pods);
