// Workload assistant: describe a job in plain words, see what was understood, the
// requirements, and a ranked shortlist with an estimated bill; or ask in a chat.
import { api, el, errorText, money, num, user } from "./lib.js";
import { deploy } from "./pods.js";

const EXAMPLES = [
  "serve llama 3 70b at 2k tokens/s in the EU under $8/h",
  "fine-tune a 7B model with LoRA for 10 hours, cheapest",
  "train a 1B model on 20B tokens, spot is fine",
];

function offerLink(o) {
  return el("a", { href: `#/offers/${encodeURIComponent(o.id)}` }, `${o.provider} · ${o.gpu_count}× ${o.gpu || o.gpu_raw}`);
}

function requirementsList(r) {
  const rows = [
    ["Task", r.task], ["Model", r.model], ["Parameters (B)", r.model_params_b], ["GPU", r.gpu], ["GPUs", r.gpu_count],
    ["Memory per GPU", r.min_vram_gb === null || r.min_vram_gb === undefined ? null : `${num(r.min_vram_gb)} GB`],
    ["Throughput", r.tokens_per_second ? `${num(r.tokens_per_second, 0)} tokens/s` : null],
    ["Duration", r.duration_hours ? `${num(r.duration_hours)} h` : null], ["Place", r.place],
    ["Budget per hour", r.budget_per_hour === null || r.budget_per_hour === undefined ? null : money(r.budget_per_hour)],
    ["Precision", r.precision], ["Spot allowed", r.spot_allowed ? "yes" : "no"],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  return el("dl", { class: "kv", id: "requirements" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]));
}

class Assistant extends HTMLElement {
  connectedCallback() {
    this.err = el("div", { class: "error", role: "alert", id: "wizard-error" });
    this.result = el("section", { id: "wizard-result", "aria-live": "polite" });
    const input = el("textarea", { id: "wizard-text", rows: "3", required: true, placeholder: EXAMPLES[0] });
    const form = el("form", { id: "wizard-form", class: "card wide", onsubmit: (e) => { e.preventDefault(); this.recommend(input.value.trim()); } },
      el("label", { for: "wizard-text" }, "Describe the job"), input,
      el("p", { class: "muted" }, "Try: ", EXAMPLES.flatMap((x, i) => [i ? " · " : "", el("a", { href: "#/assistant", onclick: (e) => { e.preventDefault(); input.value = x; this.recommend(x); } }, x)])),
      el("p", {}, el("button", { type: "submit" }, "Find offers")));
    this.chatLog = el("ol", { id: "chat-log", class: "chat" });
    const chatInput = el("input", { id: "chat-text", required: true, placeholder: "cheapest way to fine-tune a 7B model for 10 hours" });
    const chat = el("form", { id: "chat-form", class: "row", onsubmit: (e) => { e.preventDefault(); this.ask(chatInput); } },
      el("label", { for: "chat-text" }, "Ask"), chatInput, el("button", { type: "submit" }, "Send"));
    this.replaceChildren(el("h1", {}, "Workload assistant"), form, this.err, this.result,
      el("h2", {}, "Chat"), this.chatLog, chat);
  }

  async recommend(text) {
    if (!text) return;
    this.err.replaceChildren();
    this.result.replaceChildren(el("p", { class: "muted" }, "Working it out…"));
    try {
      const r = await api("POST", "/api/v2/recommendations", { text, limit: 8 });
      const warnings = [...(r.warnings || []), ...(r.catalog_warnings || []).map((w) => `${w.source}: ${w.message}`)];
      const rows = r.recommendations.map((rec) => el("tr", {},
        el("td", { class: "num" }, String(rec.rank)), el("td", {}, offerLink(rec.offer)), el("td", {}, rec.offer.region),
        el("td", { class: "num" }, money(rec.estimate.hourly_usd)),
        el("td", { class: "num" }, rec.estimate.tokens_per_second ? num(rec.estimate.tokens_per_second, 0) : "–"),
        el("td", { class: "num" }, rec.estimate.usd_per_million_tokens === null || rec.estimate.usd_per_million_tokens === undefined ? "–" : money(rec.estimate.usd_per_million_tokens)),
        el("td", { class: "num" }, rec.estimate.total_usd === null || rec.estimate.total_usd === undefined ? "–" : money(rec.estimate.total_usd)),
        el("td", {}, (rec.reasons || []).join("; ")),
        el("td", {}, rec.offer.demo && user() ? el("button", { type: "button", class: "secondary", "data-deploy": rec.offer.id, onclick: () => deploy(rec.offer) }, "Deploy") : null)));
      this.result.replaceChildren(
        el("h2", {}, "Understood"), el("p", { id: "recognised" }, r.recognised.length ? r.recognised.join(" · ") : "Nothing specific; defaults apply."),
        warnings.length ? el("ul", { class: "warn" }, warnings.map((w) => el("li", {}, w))) : null,
        el("h2", {}, "Requirements"), requirementsList(r.requirements),
        (r.requirements.assumptions || []).length ? el("p", { class: "muted" }, "Assumed: ", r.requirements.assumptions.join("; ")) : null,
        el("h2", {}, `Shortlist (${r.suitable} suitable of ${r.considered} live offers)`),
        rows.length
          ? el("div", { class: "table-wrap" }, el("table", { id: "shortlist" },
            el("thead", {}, el("tr", {}, ["#", "Offer", "Region", "Per hour", "Tokens/s", "$ / 1M tokens", "Estimated bill", "Why", ""].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, rows)))
          : el("p", { id: "no-match" }, "No live offer fits. ", r.excluded.length ? `Most were left out because: ${r.excluded[0].reason} (${r.excluded[0].offers}).` : ""));
    } catch (ex) {
      this.result.replaceChildren();
      this.err.textContent = errorText(ex);
    }
  }

  async ask(input) {
    const message = input.value.trim();
    if (!message) return;
    this.chatLog.append(el("li", { class: "me" }, message));
    input.value = "";
    try {
      const a = await api("POST", "/api/v2/ai/chat", { message, conversation_id: this.conversation || null });
      this.conversation = a.conversation_id;
      this.chatLog.append(el("li", { class: "bot" }, el("p", {}, a.reply),
        (a.offers || []).length ? el("ul", {}, a.offers.slice(0, 5).map((o) => el("li", {}, offerLink(o), " ", money(o.price_per_hour), "/h"))) : null));
    } catch (ex) { this.chatLog.append(el("li", { class: "bot error" }, errorText(ex))); }
  }
}
customElements.define("gpb-assistant", Assistant);
