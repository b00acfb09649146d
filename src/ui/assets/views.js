// Catalog views: the marketplace (query bar, chips, sortable table, paging, live prices),
// offer detail with its price-history chart, side-by-side comparison and TOPSIS ranking.
import { api, el, errorText, money, num, when, live, toast, compareIds, toggleCompare, svg, user } from "./lib.js";
import { deploy } from "./pods.js";

/** Fields of the catalog query language (docs/query-language.md) for autocomplete. */
export const FIELDS = [
  ["gpu", "GPU model or family"], ["vendor", "nvidia, amd, intel"], ["count", "GPUs in the instance"],
  ["vram", "GB per GPU"], ["total_vram", "GB of all GPUs"], ["vcpus", "virtual CPUs"], ["ram", "system memory, GB"],
  ["disk", "disk, GB"], ["price", "USD/hour, whole instance"], ["price_per_gpu", "USD per GPU-hour"],
  ["spot", "spot USD/hour"], ["provider", "provider id"], ["region", "region or location"],
  ["country", "ISO country code"], ["continent", "NA, EU, AS, …"], ["instance_type", "provider instance type"],
  ["available", "true/false"], ["stale", "true/false"], ["tflops", "dense BF16 TFLOPS"],
  ["bw", "memory bandwidth GB/s"], ["value", "USD per TFLOP-hour"],
  ["sort=", "order: sort=price, sort=-vram"], ["limit=", "result cap 1–1000"], ["weights=", "with sort=topsis"],
];
const NUMERIC = ["price", "price_per_gpu", "spot", "vram", "total_vram", "count", "vcpus", "ram", "disk", "tflops", "bw", "value"];

/** Table columns: label, cell renderer, sort key (numeric fields only), CSS class. */
const COLUMNS = [
  ["GPU", (o) => el("a", { href: `#/offers/${encodeURIComponent(o.id)}` }, o.gpu || o.gpu_raw), null, ""],
  ["×", (o) => o.gpu_count, "count", "num"],
  ["VRAM GB", (o) => num(o.gpu_memory_gb, 0), "vram", "num"],
  ["Provider", (o) => o.provider, null, ""],
  ["Region", (o) => o.region, null, "hide-sm"],
  ["$/hour", (o) => money(o.price_per_hour), "price", "num price"],
  ["$/GPU-hour", (o) => money(o.price_per_gpu_hour), "price_per_gpu", "num"],
  ["Spot $/h", (o) => money(o.spot_price_per_hour), "spot", "num hide-sm"],
  ["TFLOPS", (o) => num(o.tflops, 0), "tflops", "num hide-sm"],
  ["$/TFLOP-h", (o) => (o.value === null || o.value === undefined ? "–" : "$" + num(o.value, 4)), "value", "num"],
  ["Status", (o) => el("span", { class: `badge ${o.stale ? "no" : o.available ? "ok" : o.availability === "unknown" ? "" : "no"}` }, o.stale ? "stale" : o.availability), null, ""],
];

/** Splits a query into terms; `provider in [a, b]` stays one term; quotes are respected. */
export function terms(q) {
  const raw = [];
  let cur = "", quote = "", depth = 0;
  for (const ch of q) {
    if (quote) { cur += ch; if (ch === quote && cur.at(-2) !== "\\") quote = ""; continue; }
    if (ch === '"' || ch === "'") { quote = ch; cur += ch; continue; }
    if (ch === "[" || ch === "(") depth++;
    if (ch === "]" || ch === ")") depth = Math.max(0, depth - 1);
    if (/\s/.test(ch) && depth === 0) { if (cur) raw.push(cur); cur = ""; continue; }
    cur += ch;
  }
  if (cur) raw.push(cur);
  const out = [];
  for (let i = 0; i < raw.length; i++) {
    const next = (raw[i + 1] || "").toLowerCase();
    if ((next === "in" || next === "notin") && raw[i + 2] !== undefined) { out.push(`${raw[i]} ${raw[i + 1]} ${raw[i + 2]}`); i += 2; }
    else out.push(raw[i]);
  }
  return out;
}
const isDirective = (t) => /^(sort|limit|weights|model|precision|batch)=/i.test(t);

/** Parses the hash route's query string. */
export function hashParams() {
  const i = location.hash.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : location.hash.slice(i + 1));
}

function errorBox(e, query) {
  const box = el("div", { class: "error", role: "alert" });
  box.append(el("strong", {}, e.code === "invalid_query" ? "Query error: " : "Error: "), errorText(e));
  const m = /^at position (\d+)/.exec(e.message || "");
  if (m && query !== undefined) {
    const pos = Number(m[1]);
    box.append(el("pre", { "aria-hidden": "true" }, query + "\n" + " ".repeat(pos) + "^"));
  }
  return box;
}

class Marketplace extends HTMLElement {
  connectedCallback() {
    this.query = hashParams().get("q") ?? "sort=price";
    this.cursors = [];
    this.cursor = null;
    this.rows = new Map();
    this.warnings = new Map();
    this.facets = null;
    this.active = -1;
    this.render();
    this.search();
  }
  disconnectedCallback() { live.unsubscribe("market"); }

  render() {
    this.input = el("input", {
      id: "q", type: "search", value: this.query, autocomplete: "off", spellcheck: "false",
      role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": "q-suggest",
      "aria-describedby": "q-help", placeholder: "gpu=H100 price<30 sort=price",
    });
    this.list = el("ul", { id: "q-suggest", class: "suggest", role: "listbox", hidden: true, "aria-label": "Suggestions" });
    this.input.addEventListener("input", () => this.suggest());
    this.input.addEventListener("keydown", (e) => this.onKey(e));
    // Close on leaving the field, unless focus came back meanwhile (a click on a suggestion).
    this.input.addEventListener("blur", () => setTimeout(() => { if (document.activeElement !== this.input) this.closeList(); }, 150));
    this.error = el("div", { id: "q-error" });
    this.banner = el("div", { id: "provider-banner", class: "banner", role: "status" });
    this.chips = el("div", { class: "chips", id: "chips", "aria-label": "Active filters" });
    this.quick = el("div", { class: "chips", id: "quick", "aria-label": "Quick filters" });
    this.summary = el("p", { id: "summary", class: "muted", "aria-live": "polite" });
    this.news = el("div", { id: "live-news" });
    this.tbody = el("tbody");
    this.head = el("tr", {}, el("th", {}, el("span", { class: "visually-hidden" }, "Compare")),
      COLUMNS.map(([label, , key, cls]) => {
        const th = el("th", { class: cls, scope: "col", "data-sort": key || null });
        th.append(key ? el("button", { type: "button", onclick: () => this.sortBy(key) }, label) : label);
        return th;
      }));
    this.prev = el("button", { type: "button", class: "secondary", id: "prev", onclick: () => this.page(-1) }, "← Previous");
    this.next = el("button", { type: "button", class: "secondary", id: "next", onclick: () => this.page(1) }, "Next →");
    const form = el("form", { role: "search", onsubmit: (e) => { e.preventDefault(); this.closeList(); this.query = this.input.value.trim(); this.cursors = []; this.cursor = null; this.search(); } },
      el("label", { for: "q" }, "Search offers"),
      el("div", { class: "qbar" }, this.input, el("button", { type: "submit", id: "search" }, "Search"), this.list),
      el("p", { id: "q-help", class: "muted" }, "Catalog query language: field op value, e.g. ", el("code", {}, "gpu=H100 count>=8 price<30 sort=-vram"), ". Click a column to sort."));
    this.replaceChildren(el("h1", {}, "GPU marketplace"), form, this.error, this.banner, this.chips, this.quick, this.news, this.summary,
      el("div", { class: "table-wrap" }, el("table", { id: "offers", "aria-describedby": "summary" }, el("thead", {}, this.head), this.tbody)),
      el("div", { class: "pager" }, this.prev, this.next));
  }

  async search() {
    const params = new URLSearchParams({ q: this.query, limit: "25" });
    if (this.cursor) params.set("cursor", this.cursor);
    history.replaceState(null, "", `#/?q=${encodeURIComponent(this.query)}`);
    this.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `/api/v2/offers?${params}`);
      this.error.replaceChildren();
      this.input.removeAttribute("aria-invalid");
      this.show(page);
      this.subscribe();
      this.loadFacets();
    } catch (e) {
      this.error.replaceChildren(errorBox(e, this.query));
      this.input.setAttribute("aria-invalid", "true");
      const m = /^at position (\d+)/.exec(e.message || "");
      if (m) { this.input.focus(); this.input.setSelectionRange(Number(m[1]), this.query.length); }
    } finally { this.removeAttribute("aria-busy"); }
  }

  show(page) {
    this.page_ = page;
    this.rows.clear();
    this.tbody.replaceChildren(...page.offers.map((o) => this.row(o)));
    const from = this.cursors.length * 25;
    this.summary.textContent = page.total === 0 ? "No offers match." :
      `Showing ${from + 1}–${from + page.offers.length} of ${page.total} offers.`;
    this.prev.disabled = this.cursors.length === 0;
    this.next.disabled = !page.next_cursor;
    this.news.replaceChildren();
    this.fresh = 0;
    this.warnings = new Map(page.warnings.map((w) => [w.source, w]));
    this.showBanner();
    this.showChips();
    const sorts = terms(this.query).filter((t) => /^sort=/i.test(t)).map((t) => t.slice(5)).join(",").split(",");
    const first = sorts[0] || "";
    for (const th of this.head.querySelectorAll("th[data-sort]")) {
      const key = th.dataset.sort;
      th.setAttribute("aria-sort", first === key || first === key + "+" ? "ascending" : first === "-" + key || first === key + "-" ? "descending" : "none");
    }
  }

  row(o, previous) {
    const box = el("input", { type: "checkbox", "aria-label": `Compare ${o.gpu || o.gpu_raw} at ${o.provider}` });
    box.checked = compareIds().includes(o.id);
    box.addEventListener("change", () => { if (!toggleCompare(o.id, box.checked)) { box.checked = false; toast("You can compare at most five offers."); } });
    const tr = el("tr", { "data-id": o.id }, el("td", {}, box),
      COLUMNS.map(([, cell, , cls]) => el("td", { class: cls }, cell(o))));
    if (previous && previous.price_per_hour !== null && o.price_per_hour !== null && previous.price_per_hour !== o.price_per_hour) {
      const up = o.price_per_hour > previous.price_per_hour;
      tr.querySelector("td.price").prepend(el("span", { class: up ? "up" : "down", title: `was ${money(previous.price_per_hour)}` }, up ? "▲ " : "▼ "));
    }
    this.rows.set(o.id, tr);
    return tr;
  }

  showBanner() {
    const bad = [...this.warnings.values()].filter((w) => w.freshness !== "fresh");
    this.banner.replaceChildren();
    if (!bad.length) return;
    this.banner.append(el("strong", {}, "Some providers are not up to date:"),
      el("ul", {}, bad.map((w) => el("li", { "data-source": w.source }, `${w.source}: ${w.freshness}${w.message ? " — " + w.message : ""}`))));
  }

  showChips() {
    const filters = terms(this.query).filter((t) => !isDirective(t));
    this.chips.replaceChildren(...(filters.length ? [el("span", { class: "muted" }, "Filters:")] : []),
      ...filters.map((t) => el("span", { class: "chip" }, t,
        el("button", { type: "button", "aria-label": `Remove filter ${t}`, onclick: () => this.setQuery(terms(this.query).filter((x) => x !== t).join(" ")) }, "×"))));
  }

  async loadFacets() {
    const filters = terms(this.query).filter((t) => !isDirective(t)).join(" ");
    try {
      this.facets = await api("GET", `/api/v2/offers/facets?${new URLSearchParams({ q: filters })}`);
    } catch { return; }
    const have = terms(this.query);
    const add = (term) => el("button", { type: "button", class: "chip", onclick: () => this.setQuery([...terms(this.query), term].join(" ")) }, "+ " + term);
    const gpus = this.facets.gpus.slice(0, 6).map((f) => `gpu=${f.value}`).filter((t) => !have.includes(t));
    const providers = this.facets.providers.slice(0, 5).map((f) => `provider=${f.value}`).filter((t) => !have.includes(t));
    this.quick.replaceChildren(el("span", { class: "muted" }, "Add:"), ...[...gpus, ...providers].map(add));
  }

  setQuery(q) { this.query = q.trim(); this.input.value = this.query; this.cursors = []; this.cursor = null; this.search(); }

  sortBy(key) {
    const current = terms(this.query).find((t) => /^sort=/i.test(t));
    const asc = `sort=${key}`;
    const next = current === asc ? `sort=-${key}` : asc;
    this.setQuery([...terms(this.query).filter((t) => !/^sort=/i.test(t) && !/^weights=/i.test(t)), next].join(" "));
  }

  page(dir) {
    if (dir > 0 && this.page_ && this.page_.next_cursor) { this.cursors.push(this.cursor); this.cursor = this.page_.next_cursor; }
    else if (dir < 0 && this.cursors.length) { this.cursor = this.cursors.pop(); }
    else return;
    this.search();
  }

  subscribe() {
    delete this.dataset.live;
    const filters = terms(this.query).filter((t) => !isDirective(t));
    live.subscribe("market", [...filters, "limit=1"].join(" "), (msg) => this.onLive(msg));
  }

  onLive(msg) {
    if (msg.type === "snapshot") { this.dataset.live = "subscribed"; return; }
    if (msg.type === "resync") { this.search(); return; }
    if (msg.type !== "event") return;
    if (msg.kind === "provider.status") {
      const p = msg.provider;
      if (p.freshness === "fresh") this.warnings.delete(p.source);
      else this.warnings.set(p.source, { source: p.source, freshness: p.freshness, message: p.last_error || "" });
      this.showBanner();
      return;
    }
    const o = msg.offer;
    const old = o && this.rows.get(o.id);
    if (msg.kind === "offer.removed" || msg.transition === "left") { if (old) old.classList.add("gone"); return; }
    if (old && msg.kind === "offer.price_changed") {
      const tr = this.row(o, msg.previous);
      tr.classList.add("flash");
      old.replaceWith(tr);
      setTimeout(() => tr.classList.remove("flash"), 3000);
      return;
    }
    if (!old && (msg.kind === "offer.added" || msg.transition === "entered")) {
      this.fresh += 1;
      this.news.replaceChildren(el("p", { class: "banner", role: "status" }, `${this.fresh} more offer(s) now match. `,
        el("button", { type: "button", class: "link", onclick: () => this.search() }, "Show them")));
    }
  }

  // ---- autocomplete -----------------------------------------------------------------

  token() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret);
    const start = before.search(/\S*$/);
    return { start, end: caret, text: before.slice(start) };
  }

  suggest() {
    const { text } = this.token();
    const lower = text.toLowerCase();
    let items = [];
    const m = /^([a-z_]+)(=|!=|~)(.*)$/i.exec(text);
    if (m && this.facets) {
      const source = { gpu: this.facets.gpus, provider: this.facets.providers, region: this.facets.regions, country: this.facets.countries }[m[1].toLowerCase()];
      if (source) items = source.filter((f) => f.value.toLowerCase().startsWith(m[3].toLowerCase())).slice(0, 10)
        .map((f) => [`${m[1]}${m[2]}${f.value}`, `${f.count} offers`]);
      if (m[1].toLowerCase() === "sort") items = NUMERIC.filter((f) => f.startsWith(m[3].replace(/^-/, ""))).map((f) => [`sort=${m[3].startsWith("-") ? "-" : ""}${f}`, "sort key"]);
    } else if (lower && !/[<>=!~]/.test(lower)) {
      items = FIELDS.filter(([f]) => f.startsWith(lower) && f !== lower);
    }
    this.items = items;
    this.active = -1;
    this.list.replaceChildren(...items.map(([value, hint], i) => el("li", { id: `q-opt-${i}`, role: "option", "aria-selected": "false", onmousedown: (e) => { e.preventDefault(); this.accept(i); } }, value, el("small", {}, hint))));
    this.list.hidden = items.length === 0;
    this.input.setAttribute("aria-expanded", String(items.length > 0));
    this.input.removeAttribute("aria-activedescendant");
  }

  closeList() { this.list.hidden = true; this.input.setAttribute("aria-expanded", "false"); this.input.removeAttribute("aria-activedescendant"); this.active = -1; }

  move(d) {
    if (!this.items || !this.items.length) return;
    this.active = (this.active + d + this.items.length) % this.items.length;
    [...this.list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === this.active)));
    this.input.setAttribute("aria-activedescendant", `q-opt-${this.active}`);
    this.list.children[this.active].scrollIntoView({ block: "nearest" });
  }

  accept(i) {
    const [value] = this.items[i];
    const { start, end } = this.token();
    const v = this.input.value;
    const insert = value.endsWith("=") || /^[a-z_]+$/.test(value) ? value : value + " ";
    this.input.value = v.slice(0, start) + insert + v.slice(end);
    const caret = start + insert.length;
    this.input.setSelectionRange(caret, caret);
    this.closeList();
    this.input.focus();
  }

  onKey(e) {
    const open = !this.list.hidden;
    if (e.key === "ArrowDown") { e.preventDefault(); if (!open) this.suggest(); this.move(1); }
    else if (e.key === "ArrowUp" && open) { e.preventDefault(); this.move(-1); }
    else if ((e.key === "Enter" || e.key === "Tab") && open && this.active >= 0) { e.preventDefault(); this.accept(this.active); }
    else if (e.key === "Escape" && open) { e.preventDefault(); this.closeList(); }
  }
}
customElements.define("gpb-marketplace", Marketplace);

// ---- offer detail ---------------------------------------------------------------------

/** Models the cost-per-token estimate offers (ids of src/domain/llm.rs). */
const MODELS = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b", "mistral-7b", "mixtral-8x7b",
  "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b", "gemma-2-27b", "qwen3-30b-a3b", "deepseek-v3"];

/** A step chart of the on-demand (and spot) price over time, drawn as SVG. */
export function priceChart(points) {
  const pts = points.filter((p) => p.price_per_hour !== null || p.spot_price_per_hour !== null)
    .map((p) => ({ t: Date.parse(p.observed_at), p: p.price_per_hour, s: p.spot_price_per_hour }));
  if (!pts.length) return el("p", { class: "muted" }, "No price history yet.");
  pts.sort((a, b) => a.t - b.t);
  const W = 640, H = 240, L = 60, R = 12, T = 12, B = 32;
  const now = Date.now();
  const t0 = pts[0].t, t1 = Math.max(now, pts.at(-1).t, t0 + 1);
  const values = pts.flatMap((p) => [p.p, p.s]).filter((v) => v !== null);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { lo = lo * 0.9; hi = hi * 1.1 || 1; }
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const path = (key) => {
    let d = "", last = null;
    for (const p of pts) {
      if (p[key] === null) continue;
      d += last === null ? `M${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}` : `H${x(p.t).toFixed(1)}V${y(p[key]).toFixed(1)}`;
      last = p[key];
    }
    return last === null ? "" : d + `H${x(t1).toFixed(1)}`;
  };
  const ticks = [lo, (lo + hi) / 2, hi];
  const title = `Price history: ${pts.length} observations from ${new Date(t0).toLocaleString()}, between ${money(lo)} and ${money(hi)} per hour`;
  return svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, id: "price-chart" },
    svg("title", {}, title),
    svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }),
    svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }),
    ticks.map((v) => svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, money(v))),
    svg("text", { x: L, y: H - 10 }, new Date(t0).toLocaleDateString()),
    svg("text", { x: W - R, y: H - 10, "text-anchor": "end" }, "now"),
    path("s") ? svg("path", { class: "spot", d: path("s") }) : null,
    path("p") ? svg("path", { class: "line", d: path("p") }) : null);
}

const gb = (v) => (v === null || v === undefined ? "–" : `${num(v, 0)} GB`);

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

class OfferDetail extends HTMLElement {
  async connectedCallback() {
    const id = decodeURIComponent(location.hash.replace(/^#\/offers\//, "").split("?")[0]);
    this.replaceChildren(el("p", { class: "muted" }, "Loading offer…"));
    let offer, history;
    try {
      [offer, history] = await Promise.all([api("GET", `/api/v2/offers/${encodeURIComponent(id)}`), api("GET", `/api/v2/offers/${encodeURIComponent(id)}/history`).catch(() => ({ points: [] }))]);
    } catch (e) {
      this.replaceChildren(el("h1", {}, "Offer"), errorBox(e), el("a", { href: "#/" }, "Back to the marketplace"));
      return;
    }
    this.offer = offer;
    const gpu = offer.gpu ? await api("GET", `/api/v2/gpus/${encodeURIComponent(offer.gpu)}`).catch(() => null) : null;
    const spec = gpu && gpu.spec;
    const box = el("input", { type: "checkbox", id: "compare-this" });
    box.checked = compareIds().includes(offer.id);
    box.addEventListener("change", () => { if (!toggleCompare(offer.id, box.checked)) { box.checked = false; toast("You can compare at most five offers."); } });
    this.model = el("select", { id: "model" }, MODELS.map((m) => el("option", { value: m }, m)));
    this.model.value = "llama-3.1-70b";
    this.model.addEventListener("change", () => this.tokens());
    this.tokenOut = el("p", { id: "token-cost", "aria-live": "polite" });
    this.replaceChildren(
      el("p", {}, el("a", { href: "#/" }, "← Marketplace")),
      el("h1", {}, `${offer.gpu_count}× ${offer.gpu || offer.gpu_raw} · ${offer.provider} · ${offer.region}`),
      el("p", {}, box, " ", el("label", { for: "compare-this", style: null, class: "inline" }, "Add to comparison"),
        offer.demo && user() ? [" ", el("button", { type: "button", id: "deploy", onclick: () => deploy(offer) }, "Deploy (demo market)")] : null),
      el("div", { class: "grid" },
        el("section", { class: "card", "aria-labelledby": "h-offer" }, el("h2", { id: "h-offer" }, "Offer"), kv([
          ["Instance type", offer.instance_type], ["Provider", `${offer.provider} (${offer.source})`], ["Region", [offer.region, offer.zone, offer.country, offer.continent].filter(Boolean).join(" · ")],
          ["Price", `${money(offer.price_per_hour)} / hour`], ["Per GPU", `${money(offer.price_per_gpu_hour)} / GPU-hour`], ["Spot", money(offer.spot_price_per_hour)],
          ["Availability", `${offer.availability}${offer.stale ? " (stale)" : ""}`], ["vCPUs", num(offer.vcpus, 0)], ["RAM", gb(offer.ram_gb)], ["Disk", gb(offer.disk_gb)],
          ["Last seen", when(offer.last_seen)]])),
        el("section", { class: "card", "aria-labelledby": "h-gpu" }, el("h2", { id: "h-gpu" }, "GPU"), spec ? kv([
          ["Model", spec.model], ["Vendor", spec.vendor], ["Architecture", spec.architecture], ["Memory", `${num(spec.vram_gb, 0)} GB per GPU`],
          ["Bandwidth", `${num(spec.memory_bandwidth_gbs, 0)} GB/s`], ["BF16 dense", `${num(spec.bf16_tflops, 0)} TFLOPS`], ["FP8 dense", spec.fp8_tflops ? `${num(spec.fp8_tflops, 0)} TFLOPS` : "–"],
          ["Power", `${spec.tdp_watts} W`], ["Form factor", spec.form_factor]]) : el("p", { class: "muted" }, `“${offer.gpu_raw}” is not in the GPU registry.`)),
        el("section", { class: "card", "aria-labelledby": "h-value" }, el("h2", { id: "h-value" }, "Value"), kv([
          ["$ per TFLOP-hour", offer.value === null ? "–" : "$" + num(offer.value, 4)], ["Total TFLOPS", num(offer.tflops, 0)],
          ["$ per GB VRAM-hour", offer.price_per_hour && offer.gpu_memory_gb ? money(offer.price_per_hour / (offer.gpu_memory_gb * offer.gpu_count)) : "–"]]),
          el("label", { for: "model" }, "$ per 1M output tokens for"), this.model, this.tokenOut)),
      el("section", { "aria-labelledby": "h-history" }, el("h2", { id: "h-history" }, "Price history"), priceChart(history.points || []),
        el("p", { class: "muted" }, "Solid: on-demand price per hour; dashed: spot.")));
    this.tokens();
  }

  async tokens() {
    const o = this.offer;
    if (!o.price_per_hour) { this.tokenOut.textContent = "No on-demand price."; return; }
    try {
      const r = await api("POST", "/api/v2/math/cost-per-token", { target: { gpu: o.gpu || o.gpu_raw, gpu_count: o.gpu_count, model: this.model.value }, price_per_hour: o.price_per_hour });
      const c = r.cost;
      this.tokenOut.textContent = c && c.usd_per_million_tokens !== null && c.usd_per_million_tokens !== undefined
        ? `${money(c.usd_per_million_tokens)} per 1M tokens (${num(c.output_tokens_per_s, 0)} tokens/s)`
        : `${r.model.name || this.model.value} does not fit on this offer.`;
    } catch (e) { this.tokenOut.textContent = errorText(e); }
  }
}
customElements.define("gpb-offer", OfferDetail);

// ---- compare ----------------------------------------------------------------------------

const COMPARE_ROWS = [
  ["GPU", (o) => `${o.gpu_count}× ${o.gpu || o.gpu_raw}`], ["Provider", (o) => o.provider], ["Region", (o) => o.region],
  ["$/hour", (o) => o.price_per_hour, -1, money], ["$/GPU-hour", (o) => o.price_per_gpu_hour, -1, money], ["Spot $/h", (o) => o.spot_price_per_hour, -1, money],
  ["VRAM per GPU, GB", (o) => o.gpu_memory_gb, 1, num], ["TFLOPS", (o) => o.tflops, 1, num], ["$/TFLOP-hour", (o) => o.value, -1, (v) => (v === null ? "–" : "$" + num(v, 4))],
  ["vCPUs", (o) => o.vcpus, 1, num], ["RAM, GB", (o) => o.ram_gb, 1, num], ["Availability", (o) => o.availability],
];

class Compare extends HTMLElement {
  connectedCallback() { this.load(); this.onChange = () => this.load(); document.addEventListener("gpb-compare", this.onChange); }
  disconnectedCallback() { document.removeEventListener("gpb-compare", this.onChange); }
  async load() {
    const ids = compareIds();
    if (!ids.length) { this.replaceChildren(el("h1", {}, "Compare offers"), el("p", {}, "Tick up to five offers in the ", el("a", { href: "#/" }, "marketplace"), " to compare them here.")); return; }
    const offers = (await Promise.all(ids.map((id) => api("GET", `/api/v2/offers/${encodeURIComponent(id)}`).catch(() => null)))).filter(Boolean);
    const rows = COMPARE_ROWS.map(([label, get, better, fmt]) => {
      const vals = offers.map(get);
      const nums = vals.filter((v) => typeof v === "number");
      const best = better && nums.length > 1 ? (better > 0 ? Math.max(...nums) : Math.min(...nums)) : null;
      return el("tr", {}, el("th", { scope: "row" }, label), vals.map((v) => el("td", { class: (typeof v === "number" ? "num" : "") + (v === best ? " best" : "") }, fmt ? fmt(v) : v)));
    });
    this.replaceChildren(el("h1", {}, "Compare offers"),
      el("div", { class: "table-wrap" }, el("table", { id: "compare" },
        el("thead", {}, el("tr", {}, el("td", {}), offers.map((o) => el("th", { scope: "col" }, el("a", { href: `#/offers/${encodeURIComponent(o.id)}` }, o.instance_type), " ",
          el("button", { type: "button", class: "link", "aria-label": `Remove ${o.instance_type}`, onclick: () => toggleCompare(o.id, false) }, "remove"))))),
        el("tbody", {}, rows))),
      el("p", { class: "muted" }, "Best value in each row is bold."));
  }
}
customElements.define("gpb-compare", Compare);

// ---- TOPSIS ranking ---------------------------------------------------------------------

const CRITERIA = [["price", "Price (lower)", 4], ["tflops", "Compute", 3], ["vram", "Memory", 2], ["reliability", "Reliability", 1], ["bw", "Bandwidth", 0], ["value", "$/TFLOP-h (lower)", 0]];

class Rank extends HTMLElement {
  connectedCallback() {
    this.filter = el("input", { id: "rank-filter", type: "search", value: hashParams().get("q") ?? "", spellcheck: "false" });
    this.sliders = CRITERIA.map(([key, label, w]) => {
      const input = el("input", { type: "range", min: 0, max: 10, step: 1, value: w, id: `w-${key}` });
      const out = el("output", { for: `w-${key}` }, String(w));
      input.addEventListener("input", () => { out.textContent = input.value; this.later(); });
      return { key, input, row: el("div", { class: "slider" }, el("label", { for: `w-${key}` }, label), input, out) };
    });
    this.filter.addEventListener("input", () => this.later());
    this.out = el("div", { "aria-live": "polite" });
    this.replaceChildren(el("h1", {}, "Rank offers (TOPSIS)"),
      el("div", { class: "card" }, el("label", { for: "rank-filter" }, "Filters"), this.filter,
        el("fieldset", {}, el("legend", {}, "Weights"), this.sliders.map((s) => s.row))), this.out);
    this.run();
  }
  later() { clearTimeout(this.t); this.t = setTimeout(() => this.run(), 250); }
  async run() {
    const weights = this.sliders.filter((s) => Number(s.input.value) > 0).map((s) => `${s.key}:${s.input.value}`).join(",");
    const q = `${this.filter.value.trim()} sort=topsis${weights ? " weights=" + weights : ""}`.trim();
    try {
      const page = await api("GET", `/api/v2/offers?${new URLSearchParams({ q, limit: "20" })}`);
      const crit = page.ranking ? page.ranking.criteria.map((c) => `${c.name} ${num(c.weight * 100, 0)}% (${c.direction}${c.missing ? `, ${c.missing} imputed` : ""})`).join(" · ") : "";
      this.out.replaceChildren(el("p", { class: "muted" }, `${page.total} offers ranked. ${crit}`),
        el("div", { class: "table-wrap" }, el("table", { id: "ranked" }, el("thead", {}, el("tr", {}, ["#", "Score", "GPU", "Provider", "$/hour", "TFLOPS", "VRAM GB"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, page.offers.map((o, i) => el("tr", {}, el("td", {}, i + 1), el("td", { class: "num" }, num(o.score, 3)),
            el("td", {}, el("a", { href: `#/offers/${encodeURIComponent(o.id)}` }, `${o.gpu_count}× ${o.gpu || o.gpu_raw}`)), el("td", {}, o.provider),
            el("td", { class: "num" }, money(o.price_per_hour)), el("td", { class: "num" }, num(o.tflops, 0)), el("td", { class: "num" }, num(o.gpu_memory_gb, 0))))))));
    } catch (e) { this.out.replaceChildren(errorBox(e, q)); }
  }
}
customElements.define("gpb-rank", Rank);
