// Account views: register, sign in (browser session cookies), API keys and the wallet.
import { api, el, errorText, micro, when, setUser, user, toast } from "./lib.js";

function field(id, label, attrs) {
  return [el("label", { for: id }, label), el("input", { id, name: id, required: true, ...attrs })];
}

function authForm(kind) {
  const err = el("div", { class: "error", role: "alert", id: `${kind}-error` });
  const register = kind === "register";
  const form = el("form", { class: "card", id: `${kind}-form`, "aria-labelledby": `${kind}-title` },
    field(`${kind}-email`, "Email", { type: "email", autocomplete: "email" }),
    field(`${kind}-password`, "Password", { type: "password", autocomplete: register ? "new-password" : "current-password", minlength: register ? 12 : null }),
    register ? el("p", { class: "muted" }, "At least 12 characters; common passwords are refused.") : null,
    err, el("p", {}, el("button", { type: "submit" }, register ? "Create account" : "Sign in")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.replaceChildren();
    const creds = { email: form.elements[`${kind}-email`].value.trim(), password: form.elements[`${kind}-password`].value };
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      if (register) await api("POST", "/api/v2/auth/register", creds);
      setUser(await api("POST", "/api/v2/auth/session", creds));
      toast(register ? "Account created; you are signed in." : "Signed in.");
      location.hash = "#/wallet";
    } catch (ex) {
      err.textContent = errorText(ex);
      form.elements[`${kind}-email`].focus();
    } finally { button.disabled = false; }
  });
  return form;
}

class Login extends HTMLElement {
  connectedCallback() {
    this.replaceChildren(el("h1", { id: "login-title" }, "Sign in"), authForm("login"),
      el("p", {}, "No account? ", el("a", { href: "#/register" }, "Register")));
  }
}
customElements.define("gpb-login", Login);

class Register extends HTMLElement {
  connectedCallback() {
    this.replaceChildren(el("h1", { id: "register-title" }, "Create an account"), authForm("register"),
      el("p", {}, "Already registered? ", el("a", { href: "#/login" }, "Sign in")));
  }
}
customElements.define("gpb-register", Register);

function needUser(view) {
  if (user()) return true;
  view.replaceChildren(el("h1", {}, "Sign in required"), el("p", {}, el("a", { href: "#/login" }, "Sign in"), " or ", el("a", { href: "#/register" }, "register"), " to see this page."));
  return false;
}

class Keys extends HTMLElement {
  connectedCallback() {
    if (!needUser(this)) return;
    this.err = el("div", { class: "error", role: "alert" });
    this.created = el("div", { "aria-live": "polite" });
    this.body = el("tbody");
    const name = el("input", { id: "key-name", required: true, maxlength: 64, placeholder: "ci-runner" });
    const scopes = ["read", "trade"].map((s) => el("label", { class: "inline" }, el("input", { type: "checkbox", value: s, checked: s === "read" }), ` ${s}`));
    const form = el("form", { class: "card", id: "key-form" }, el("label", { for: "key-name" }, "Name"), name,
      el("fieldset", {}, el("legend", {}, "Scopes"), scopes), el("p", {}, el("button", { type: "submit" }, "Create key")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      this.err.replaceChildren();
      const picked = [...form.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
      try {
        const k = await api("POST", "/api/v2/auth/api-keys", { name: name.value.trim(), scopes: picked });
        this.created.replaceChildren(el("div", { class: "card" }, el("strong", {}, `Key “${k.name}” created. Copy it now; it is not shown again:`),
          el("p", { class: "secret", id: "new-key" }, k.key)));
        name.value = "";
        this.load();
      } catch (ex) { this.err.textContent = errorText(ex); }
    });
    this.replaceChildren(el("h1", {}, "API keys"), form, this.err, this.created,
      el("h2", {}, "Your keys"), el("div", { class: "table-wrap" }, el("table", { id: "keys" },
        el("thead", {}, el("tr", {}, ["Name", "Prefix", "Scopes", "Created", "Last used", ""].map((h) => el("th", { scope: "col" }, h)))), this.body)));
    this.load();
  }
  async load() {
    try {
      const keys = await api("GET", "/api/v2/auth/api-keys");
      this.body.replaceChildren(...(keys.length ? keys.map((k) => el("tr", {}, el("td", {}, k.name), el("td", {}, el("code", {}, k.prefix)), el("td", {}, k.scopes.join(", ")),
        el("td", {}, when(k.created_at)), el("td", {}, when(k.last_used_at)),
        el("td", {}, el("button", { type: "button", class: "secondary", "aria-label": `Revoke key ${k.name}`, onclick: () => this.revoke(k) }, "Revoke"))))
        : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No API keys yet."))]));
    } catch (ex) { this.err.textContent = errorText(ex); }
  }
  async revoke(k) {
    if (!confirm(`Revoke the key “${k.name}”? Programs using it stop working.`)) return;
    try { await api("DELETE", `/api/v2/auth/api-keys/${encodeURIComponent(k.id)}`); toast(`Key ${k.name} revoked.`); this.load(); } catch (ex) { this.err.textContent = errorText(ex); }
  }
}
customElements.define("gpb-keys", Keys);

class Wallet extends HTMLElement {
  async connectedCallback() {
    if (!needUser(this)) return;
    this.replaceChildren(el("h1", {}, "Wallet"), el("p", { class: "muted" }, "Loading…"));
    try {
      const [w, page] = await Promise.all([api("GET", "/api/v2/billing/wallet"), api("GET", "/api/v2/billing/transactions?limit=50")]);
      this.body = el("tbody");
      this.more = el("button", { type: "button", class: "secondary", id: "more-tx", hidden: !page.next_cursor, onclick: () => this.page() }, "More");
      this.cursor = page.next_cursor;
      this.rows(page.transactions);
      this.topupError = el("p", { id: "topup-error", class: "error", role: "alert", hidden: true });
      const topup = el("form", { id: "topup-form", class: "row", onsubmit: (e) => this.topUp(e) },
        el("label", { for: "topup-amount" }, "Add funds (USD)"),
        el("input", { id: "topup-amount", type: "number", min: "5", max: "10000", step: "0.01", value: "25", required: true, inputmode: "decimal" }),
        el("button", { type: "submit" }, "Top up"));
      this.replaceChildren(el("h1", {}, "Wallet"), topup, this.topupError,
        el("div", { class: "grid", id: "balances" },
          el("div", { class: "card" }, el("h2", {}, "Available"), el("p", { id: "available", class: "big" }, micro(w.available_micro_usd))),
          el("div", { class: "card" }, el("h2", {}, "Posted balance"), el("p", { id: "posted" }, micro(w.posted_micro_usd))),
          el("div", { class: "card" }, el("h2", {}, "On hold"), el("p", { id: "held" }, micro(w.held_micro_usd)))),
        el("p", { id: "statements" }, "This month's statement: ",
          ...["html", "csv", "json"].flatMap((f, i) => [i ? " · " : "", el("a", { href: `/api/v2/billing/statements/${new Date().toISOString().slice(0, 7)}?format=${f}`, target: f === "html" ? "_blank" : null, rel: "noopener" }, f.toUpperCase())])),
        el("gpb-plan"),
        el("h2", {}, "Holds"), w.holds.length ? el("ul", { id: "holds" }, w.holds.map((h) => el("li", {}, `${micro(h.amount_micro_usd)} until ${when(h.expires_at)}`))) : el("p", { class: "muted" }, "No holds."),
        el("h2", {}, "Transactions"), el("div", { class: "table-wrap" }, el("table", { id: "transactions" },
          el("thead", {}, el("tr", {}, ["When", "Kind", "Amount"].map((h) => el("th", { scope: "col" }, h)))), this.body)), el("p", {}, this.more));
      this.returned();
    } catch (ex) { this.replaceChildren(el("h1", {}, "Wallet"), el("div", { class: "error", role: "alert" }, errorText(ex))); }
  }
  /** Opens a checkout for the amount and hands over to the payment gateway's page. */
  async topUp(e) {
    e.preventDefault();
    const dollars = Number(this.querySelector("#topup-amount").value);
    this.topupError.hidden = true;
    try {
      const checkout = await api("POST", "/api/v2/billing/top-ups", { amount_micro_usd: Math.round(dollars * 100) * 10000, return_path: "/#/wallet" });
      location.assign(checkout.checkout_url);
    } catch (ex) { this.topupError.textContent = errorText(ex); this.topupError.hidden = false; }
  }
  /** Back from the gateway: waits for its confirmation, then shows the new balance. */
  async returned() {
    const params = new URLSearchParams(location.hash.split("?")[1] || "");
    const id = params.get("checkout");
    if (!id || this.followed === id) return;
    this.followed = id;
    if (params.get("result") !== "success") { toast("Top-up canceled; nothing was charged."); return; }
    for (let i = 0; i < 20; i++) {
      try {
        const c = await api("GET", `/api/v2/billing/top-ups/${encodeURIComponent(id)}`);
        if (c.status === "completed") { toast(`Payment of ${micro(c.amount_micro_usd)} received.`); history.replaceState(null, "", "#/wallet"); this.connectedCallback(); return; }
        if (c.status !== "open") { toast(`The top-up ${c.status}.`); return; }
      } catch (ex) { toast(errorText(ex)); return; }
      await new Promise((r) => setTimeout(r, 500));
    }
    toast("Waiting for the payment gateway to confirm; refresh in a moment.");
  }
  rows(txs) {
    if (!txs.length && !this.body.children.length) this.body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No transactions yet.")));
    for (const t of txs) {
      const sign = t.direction === "debit" ? "−" : "+";
      this.body.append(el("tr", {}, el("td", {}, when(t.created_at)), el("td", {}, t.kind), el("td", { class: `num ${t.direction === "debit" ? "up" : "down"}` }, sign + micro(t.amount_micro_usd))));
    }
  }
  async page() {
    try {
      const page = await api("GET", `/api/v2/billing/transactions?limit=50&cursor=${encodeURIComponent(this.cursor)}`);
      this.rows(page.transactions); this.cursor = page.next_cursor; this.more.hidden = !page.next_cursor;
    } catch (ex) { toast(errorText(ex)); }
  }
}
customElements.define("gpb-wallet", Wallet);
