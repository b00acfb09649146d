// The account's plan: the current subscription (status, period, cancel) and the paid
// plans with their limits, each subscribable monthly or yearly through the gateway's
// hosted checkout. A subscription is active only once the gateway confirms payment.
import { api, el, errorText, micro, when, toast } from "./lib.js";

class Plan extends HTMLElement {
  connectedCallback() { this.load(); }

  async load() {
    const err = el("p", { class: "error", role: "alert", id: "plan-error", hidden: true });
    this.err = err;
    try {
      const [plans, sub] = await Promise.all([api("GET", "/api/v2/billing/plans"),
        api("GET", "/api/v2/billing/subscription").catch((e) => { if (e.status === 404) return null; throw e; })]);
      const live = sub && ["active", "incomplete", "past_due"].includes(sub.status) ? sub : null;
      const current = live ? live.plan_id : plans.default_plan;
      const status = live
        ? el("p", { id: "subscription" }, `${live.plan_id} (${live.billing_interval}), ${live.status}`,
          live.current_period_end ? `, ${live.cancel_at_period_end ? "ends" : "renews"} ${when(live.current_period_end)}` : "", " ",
          live.cancel_at_period_end ? "" : el("button", { type: "button", class: "secondary", id: "cancel-plan", onclick: () => this.cancel() }, "Cancel at period end"))
        : el("p", { id: "subscription" }, `Free plan. Payments go through the ${plans.gateway} gateway.`);
      const rows = plans.plans.map((p) => el("tr", { "data-plan": p.id },
        el("td", {}, p.name, p.id === current ? el("span", { class: "badge ok" }, " current") : ""),
        el("td", { class: "num" }, p.monthly_micro_usd ? micro(p.monthly_micro_usd) : "free"),
        el("td", { class: "num" }, p.annual_micro_usd ? micro(p.annual_micro_usd) : "–"),
        el("td", { class: "num" }, String(p.max_concurrent_pods)), el("td", { class: "num" }, `${p.rate_limit_per_second}/s`),
        el("td", {}, p.features.join(", ")),
        el("td", {}, p.monthly_micro_usd && p.id !== current ? ["monthly", "annual"].map((i) =>
          el("button", { type: "button", class: "secondary", [`data-subscribe-${i}`]: p.id, onclick: () => this.subscribe(p.id, i) }, i === "monthly" ? "Monthly" : "Yearly")) : "")));
      this.replaceChildren(el("h2", {}, "Plan"), status, err, el("div", { class: "table-wrap" }, el("table", { id: "plans" },
        el("thead", {}, el("tr", {}, ["Plan", "Month", "Year", "Pods at once", "API rate", "Features", ""].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows))));
    } catch (ex) { this.replaceChildren(el("h2", {}, "Plan"), el("p", { class: "error", role: "alert" }, errorText(ex))); }
  }

  async subscribe(plan, interval) {
    try {
      const checkout = await api("POST", "/api/v2/billing/subscription", { plan_id: plan, billing_interval: interval, return_path: "/#/wallet" });
      location.assign(checkout.checkout_url);
    } catch (ex) { this.err.textContent = errorText(ex); this.err.hidden = false; }
  }

  async cancel() {
    if (!confirm("Cancel the subscription at the end of its period? Your plan stays until then.")) return;
    try { await api("DELETE", "/api/v2/billing/subscription"); toast("The subscription ends at the end of its period."); this.load(); } catch (ex) { this.err.textContent = errorText(ex); this.err.hidden = false; }
  }
}
customElements.define("gpb-plan", Plan);
