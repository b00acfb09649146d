// Admin center (staff only): overview, payments with refunds, refund history, the audit
// log and its verification; for admins also users and roles and the configuration store.
// The server enforces every role; this page only hides what a role cannot do.
import { api, el, errorText, micro, when, user, toast } from "./lib.js";

const STAFF = ["admin", "finance", "support"];
const CAN_REFUND = ["admin", "finance"];

/** Whether the signed-in user is staff. */
export function isStaff(u) { return Boolean(u && STAFF.includes(u.role)); }

class Admin extends HTMLElement {
  connectedCallback() {
    const u = user();
    if (!isStaff(u)) {
      this.replaceChildren(el("h1", {}, "Admin center"), el("p", {}, "This page is for staff accounts. ", el("a", { href: "#/login" }, "Sign in"), " with one."));
      return;
    }
    this.canRefund = CAN_REFUND.includes(u.role);
    this.err = el("div", { class: "error", role: "alert", id: "admin-error" });
    this.payments = el("tbody");
    this.refunds = el("tbody");
    this.audit = el("p", { id: "audit-result", class: "muted" }, "Not verified yet.");
    this.overview = el("div", { class: "grid", id: "overview" });
    this.users = el("tbody");
    this.config = el("tbody");
    this.auditRows = el("tbody");
    const admin = u.role === "admin";
    this.replaceChildren(
      el("h1", {}, "Admin center"), this.err, this.overview,
      el("h2", {}, "Payments"),
      el("div", { class: "table-wrap" }, el("table", { id: "payments" },
        el("thead", {}, el("tr", {}, ["When", "User", "Gateway", "Amount", "Refunded", ""].map((h) => el("th", { scope: "col" }, h)))), this.payments)),
      el("h2", {}, "Refunds"),
      el("div", { class: "table-wrap" }, el("table", { id: "refunds" },
        el("thead", {}, el("tr", {}, ["When", "Payment", "Amount", "Status", "Reason", "By"].map((h) => el("th", { scope: "col" }, h)))), this.refunds)),
      ...(u.role === "finance" ? [] : [el("h2", {}, "Audit log"),
        el("p", {}, el("button", { type: "button", id: "audit-verify", onclick: () => this.verify() }, "Verify the audit chain")), this.audit,
        el("div", { class: "table-wrap" }, el("table", { id: "audit" },
          el("thead", {}, el("tr", {}, ["#", "When", "Actor", "Action", "Target"].map((h) => el("th", { scope: "col" }, h)))), this.auditRows))]),
      ...(admin ? [
        el("h2", {}, "Users and roles"),
        el("div", { class: "table-wrap" }, el("table", { id: "users" },
          el("thead", {}, el("tr", {}, ["Email", "Role", "Status", "Created"].map((h) => el("th", { scope: "col" }, h)))), this.users)),
        el("h2", {}, "Configuration store"), el("p", { class: "muted" }, "Secrets are masked; revealing one is audited (API: POST /api/v2/admin/config/{key}/reveal)."),
        el("div", { class: "table-wrap" }, el("table", { id: "config" },
          el("thead", {}, el("tr", {}, ["Key", "Value", "Type", "Updated"].map((h) => el("th", { scope: "col" }, h)))), this.config))] : []));
    this.load();
    this.loadOverview();
    if (u.role !== "finance") this.loadAudit();
    if (admin) this.loadAdmin();
  }

  async loadOverview() {
    try {
      const [payments, providers, o] = await Promise.all([api("GET", "/api/v2/admin/payments?limit=200"), api("GET", "/api/v2/providers"), api("GET", "/api/v2/admin/overview")]);
      const revenue = payments.payments.reduce((sum, p) => sum + p.amount - p.refunded, 0);
      const unhealthy = providers.providers.filter((p) => p.status && p.status.freshness !== "fresh");
      this.overview.replaceChildren(
        el("div", { class: "card" }, el("h2", {}, "Net top-ups (latest 200)"), el("p", { class: "big", id: "revenue" }, micro(revenue))),
        el("div", { class: "card" }, el("h2", {}, "Payments"), el("p", { class: "big" }, String(payments.payments.length))),
        el("div", { class: "card" }, el("h2", {}, `Usage ${o.month}`), el("p", { class: "big", id: "usage-revenue" }, micro(o.usage_revenue_micro_usd))),
        el("div", { class: "card" }, el("h2", {}, "Active pods"), el("p", { class: "big", id: "active-pods" }, String(o.active_pods)),
          el("p", { class: "muted" }, Object.entries(o.pods_by_state).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ") || "no pods yet")),
        el("div", { class: "card" }, el("h2", {}, "Accounts"), el("p", { class: "big", id: "users-count" }, String(o.users)),
          o.disabled_users ? el("p", { class: "muted" }, `${o.disabled_users} disabled`) : ""),
        el("div", { class: "card" }, el("h2", {}, "Provider health"), el("p", { id: "provider-health" },
          unhealthy.length ? unhealthy.map((p) => `${p.source}: ${p.status.freshness}`).join(", ") : `all ${providers.providers.length} sources fresh`)));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async loadAudit() {
    try {
      const entries = await api("GET", "/api/v2/admin/audit?limit=500");
      this.auditRows.replaceChildren(...entries.slice(-50).reverse().map((e) => el("tr", {},
        el("td", { class: "num" }, String(e.seq)), el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action), el("td", {}, e.target || "–"))));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async loadAdmin() {
    try {
      const [users, config] = await Promise.all([api("GET", "/api/v2/auth/users"), api("GET", "/api/v2/admin/config")]);
      const me = user();
      this.users.replaceChildren(...users.map((u) => {
        const role = el("select", { "aria-label": `Role of ${u.email}`, disabled: u.id === me.id, onchange: (e) => this.update(u, { role: e.target.value }) },
          ["user", "support", "finance", "admin"].map((r) => el("option", { value: r, selected: r === u.role }, r)));
        const toggle = el("button", { type: "button", class: "secondary", disabled: u.id === me.id, onclick: () => this.update(u, { disabled: !u.disabled }) }, u.disabled ? "Enable" : "Disable");
        return el("tr", {}, el("td", {}, u.email), el("td", {}, role), el("td", {}, u.disabled ? "disabled " : "active ", toggle), el("td", {}, when(u.created_at)));
      }));
      this.config.replaceChildren(...(config.length ? config.map((c) => el("tr", {}, el("td", {}, c.key), el("td", {}, c.value), el("td", {}, String(c.value_type)), el("td", {}, when(c.updated_at))))
        : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "Empty."))]));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  async update(u, change) {
    try {
      await api("PATCH", `/api/v2/auth/users/${encodeURIComponent(u.id)}`, change);
      toast(`${u.email} updated.`);
      this.loadAdmin();
      this.loadAudit();
    } catch (ex) { this.err.textContent = errorText(ex); this.loadAdmin(); }
  }

  async load() {
    this.err.replaceChildren();
    try {
      const [payments, refunds] = await Promise.all([api("GET", "/api/v2/admin/payments?limit=100"), api("GET", "/api/v2/admin/refunds?limit=100")]);
      this.payments.replaceChildren(...(payments.payments.length ? payments.payments.map((p) => this.paymentRow(p))
        : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No payments yet."))]));
      this.refunds.replaceChildren(...(refunds.refunds.length ? refunds.refunds.map((r) => el("tr", {},
        el("td", {}, when(r.created_at)), el("td", {}, r.payment_id), el("td", { class: "num" }, micro(r.amount)),
        el("td", {}, el("span", { class: `badge ${r.status}` }, r.status)), el("td", {}, r.reason), el("td", {}, r.requested_by)))
        : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No refunds yet."))]));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }

  paymentRow(p) {
    const left = p.amount - p.refunded;
    const action = this.canRefund && left > 0
      ? el("button", { type: "button", class: "secondary", "data-refund": p.id, onclick: () => this.refundForm(p, row) }, "Refund…")
      : null;
    const row = el("tr", {}, el("td", {}, when(p.created_at)), el("td", {}, p.user_id), el("td", {}, p.gateway),
      el("td", { class: "num" }, micro(p.amount)), el("td", { class: "num" }, micro(p.refunded)), el("td", {}, action));
    return row;
  }

  refundForm(p, row) {
    const left = (p.amount - p.refunded) / 1e6;
    const id = `refund-${p.id}`;
    const form = el("form", { class: "row", id: "refund-form", onsubmit: (e) => this.refund(e, p) },
      el("label", { for: `${id}-amount` }, "Amount (USD)"),
      el("input", { id: `${id}-amount`, name: "amount", type: "number", min: "0.01", max: String(left), step: "0.01", value: String(left), required: true }),
      el("label", { for: `${id}-reason` }, "Reason"),
      el("input", { id: `${id}-reason`, name: "reason", maxlength: "500", required: true }),
      el("button", { type: "submit" }, "Refund"));
    row.after(el("tr", {}, el("td", { colspan: 6 }, form)));
    form.elements.reason.focus();
  }

  async refund(e, p) {
    e.preventDefault();
    const form = e.target;
    const amount = Math.round(Number(form.elements.amount.value) * 100) * 10000;
    form.querySelector("button").disabled = true;
    try {
      const r = await api("POST", "/api/v2/admin/refunds", { payment_id: p.id, amount_micro_usd: amount, reason: form.elements.reason.value.trim() });
      toast(`Refund of ${micro(r.amount)}: ${r.status}.`);
      this.load();
    } catch (ex) {
      this.err.textContent = errorText(ex);
      form.querySelector("button").disabled = false;
    }
  }

  async verify() {
    try {
      const r = await api("POST", "/api/v2/admin/audit/verify");
      this.audit.className = r.intact ? "ok" : "error";
      this.audit.textContent = r.intact
        ? `Intact: ${r.entries} entries verified up to #${r.head_seq}.`
        : `Broken (${r.problem_count} problems): ${r.problems.join("; ")}`;
    } catch (ex) { this.audit.className = "error"; this.audit.textContent = errorText(ex); }
  }
}
customElements.define("gpb-admin", Admin);
