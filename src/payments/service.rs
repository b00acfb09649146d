//! The payment service: opens checkouts, applies verified gateway events exactly once,
//! refunds, and runs subscriptions. Money moves only through the ledger, each movement
//! under an idempotency key derived from the gateway object it comes from (the checkout,
//! the invoice, the refund), so a replayed, duplicated or reordered event never moves it
//! twice. An event whose prerequisite has not arrived yet (an invoice before its
//! subscription's checkout) waits and is applied when the prerequisite lands.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use url::Url;

use super::events::{self, CheckoutMode, Event, EventKind, RefundState};
use super::gateway::{CheckoutKind, CheckoutRequest, Gateway, GatewayError, RefundRequest};
use super::plans::{self, Plan};
use super::sandbox::Sandbox;
use super::signature;
use super::PaymentError;
use crate::config::ConfigStore;
use crate::domain::money::MicroUsd;
use crate::ledger::{
    wallet_id, AccountKind, IdempotencyKey, Ledger, LedgerError, Leg, Side, TransferKind,
};
use crate::settings::payments::GatewayChoice;
use crate::settings::Settings;
use crate::store::payments::{
    Checkout, InvoiceFacts, PaidTopUp, Payment, PaymentMethod, Refund, SubscriptionRow,
};
use crate::store::Store;

/// Smallest top-up, micro-USD ($5).
pub const MIN_TOP_UP: i64 = 5_000_000;
/// Largest top-up, micro-USD ($10,000).
pub const MAX_TOP_UP: i64 = 10_000_000_000;
/// Micro-USD per cent.
const MICRO_PER_CENT: i64 = 10_000;
/// Waiting events re-examined per pass.
const WAITING_BATCH: i64 = 200;

/// What applying an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied (or recognised as needing nothing); never looked at again.
    Done(String),
    /// A prerequisite is missing; retried when later events arrive.
    Waiting(String),
}

/// The answer to a webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookReceipt {
    pub event_id: String,
    /// False when the event id had been received before (nothing was applied again).
    pub first_delivery: bool,
    pub outcome: String,
}

/// A subscription with its derived status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub plan_id: String,
    /// `monthly` or `annual`.
    pub billing_interval: String,
    /// `incomplete` (paid checkout, first invoice not confirmed yet), `active`,
    /// `past_due`, or `canceled`.
    pub status: String,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    /// Credited to the wallet for the unused part of the period on immediate
    /// cancellation (micro-USD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration_credit_micro_usd: Option<i64>,
}

/// Stands in for a gateway that could not be set up: every call fails with the reason,
/// and no webhook verifies.
struct Unavailable(String);

impl Gateway for Unavailable {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn webhook_secret(&self) -> &str {
        ""
    }

    fn create_checkout<'a>(
        &'a self,
        _: &'a CheckoutRequest,
    ) -> super::gateway::GatewayFuture<'a, super::gateway::CheckoutSession> {
        Box::pin(async move { Err(GatewayError::Unavailable(self.0.clone())) })
    }

    fn refund<'a>(
        &'a self,
        _: &'a RefundRequest,
    ) -> super::gateway::GatewayFuture<'a, super::gateway::GatewayRefund> {
        Box::pin(async move { Err(GatewayError::Unavailable(self.0.clone())) })
    }

    fn cancel_subscription<'a>(
        &'a self,
        _: &'a str,
        _: bool,
    ) -> super::gateway::GatewayFuture<'a, ()> {
        Box::pin(async move { Err(GatewayError::Unavailable(self.0.clone())) })
    }
}

/// The payment service; cheap to clone.
#[derive(Clone)]
pub struct Payments {
    store: Store,
    ledger: Ledger,
    gateway: Arc<dyn Gateway>,
    sandbox: Option<Sandbox>,
    config: Option<ConfigStore>,
    settings: Arc<Settings>,
    local_addr: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// Per-user request rate limits by plan, briefly cached (see [`Payments::rate_limit_of`]).
    plan_limits:
        Arc<std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u32)>>>,
}

/// How long a user's plan limit is cached.
const PLAN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);
/// Entries kept before the cache is emptied.
const PLAN_CACHE_MAX: usize = 100_000;

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payments")
            .field("gateway", &self.gateway.name())
            .finish_non_exhaustive()
    }
}

fn key(scope: &str, key: &str) -> Result<IdempotencyKey, PaymentError> {
    Ok(IdempotencyKey::new(scope, key)?)
}

fn cents(micro: i64) -> Result<i64, PaymentError> {
    if micro % MICRO_PER_CENT != 0 {
        return Err(PaymentError::Invalid(
            "amounts must be whole cents (multiples of 10000 micro-USD)".into(),
        ));
    }
    Ok(micro / MICRO_PER_CENT)
}

fn micro(cents: i64) -> Result<i64, PaymentError> {
    cents
        .checked_mul(MICRO_PER_CENT)
        .ok_or_else(|| PaymentError::Invalid("amount overflows".into()))
}

/// The status of a stored subscription at `now`.
pub fn subscription_status(row: &SubscriptionRow, now: DateTime<Utc>) -> &'static str {
    match (row.canceled_at, row.paid_through) {
        (Some(_), _) => "canceled",
        (None, None) => {
            if row.failed_through.is_some() {
                "past_due"
            } else {
                "incomplete"
            }
        }
        (None, Some(paid)) => {
            if row.failed_through.is_some_and(|failed| failed > paid) {
                "past_due"
            } else if paid <= now {
                if row.cancel_at_period_end {
                    "canceled"
                } else {
                    "past_due"
                }
            } else {
                "active"
            }
        }
    }
}

fn view(row: &SubscriptionRow, now: DateTime<Utc>, proration: Option<i64>) -> SubscriptionView {
    SubscriptionView {
        id: row.id.clone(),
        plan_id: row.plan_id.clone(),
        billing_interval: row.billing_interval.clone(),
        status: subscription_status(row, now).to_owned(),
        current_period_start: row.period_start,
        current_period_end: row.paid_through,
        cancel_at_period_end: row.cancel_at_period_end,
        canceled_at: row.canceled_at,
        proration_credit_micro_usd: proration,
    }
}

impl Payments {
    /// The service with the gateway chosen by `settings` (the sandbox's secret derives
    /// from `master_key`).
    pub fn new(
        settings: Arc<Settings>,
        store: Store,
        ledger: Ledger,
        master_key: &crate::secret::MasterKey,
    ) -> Self {
        let config = ConfigStore::new(store.clone(), master_key).ok();
        let (gateway, sandbox): (Arc<dyn Gateway>, Option<Sandbox>) =
            match (&settings.payments.gateway, &settings.payments.stripe) {
                (GatewayChoice::Stripe, Some(stripe)) => {
                    match super::stripe::Stripe::new(stripe.clone(), settings.outbound) {
                        Ok(client) => (Arc::new(client), None),
                        Err(err) => (Arc::new(Unavailable(err.to_string())), None),
                    }
                }
                (GatewayChoice::Stripe, None) => (
                    Arc::new(Unavailable("the Stripe gateway has no keys".into())),
                    None,
                ),
                (GatewayChoice::Sandbox, _) => {
                    let sandbox = Sandbox::new(master_key, settings.public_url.clone());
                    (Arc::new(sandbox.clone()), Some(sandbox))
                }
            };
        Self {
            store,
            ledger,
            gateway,
            sandbox,
            config,
            settings,
            local_addr: Arc::default(),
            plan_limits: Arc::default(),
        }
    }

    /// Requests per second `user_id` may make: their plan's limit, cached for 30 s (so a
    /// new subscription takes effect within that, on every replica). A failure to look
    /// the plan up falls back to the free plan's limit.
    pub async fn rate_limit_of(&self, user_id: &str) -> u32 {
        let now = std::time::Instant::now();
        if let Ok(cache) = self.plan_limits.lock() {
            if let Some((at, limit)) = cache.get(user_id) {
                if now.duration_since(*at) < PLAN_CACHE_TTL {
                    return *limit;
                }
            }
        }
        let limit = match self.plan_of(user_id).await {
            Ok(plan) => plan.rate_limit_per_second,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the caller's plan; applying the free limit");
                self.settings.rate_limits.free
            }
        };
        if let Ok(mut cache) = self.plan_limits.lock() {
            if cache.len() >= PLAN_CACHE_MAX {
                cache.clear();
            }
            cache.insert(user_id.to_owned(), (now, limit));
        }
        limit
    }

    /// Drops a user's cached plan limit (after their subscription changed here).
    fn forget_plan(&self, user_id: &str) {
        if let Ok(mut cache) = self.plan_limits.lock() {
            cache.remove(user_id);
        }
    }

    /// The configured gateway's name.
    pub fn gateway_name(&self) -> &'static str {
        self.gateway.name()
    }

    /// The secret the configured gateway signs its webhooks with.
    pub fn webhook_secret(&self) -> &str {
        self.gateway.webhook_secret()
    }

    /// The sandbox, when it is the gateway.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Records the listening address (the sandbox delivers its webhooks there).
    pub fn set_local_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.local_addr.set(addr);
        if let Some(sandbox) = &self.sandbox {
            sandbox.set_local_addr(addr);
        }
    }

    /// The plans in force.
    pub async fn plans(&self) -> Vec<Plan> {
        plans::current(self.config.as_ref(), &self.settings.rate_limits).await
    }

    /// The plan `user_id` is on now (`free` without an active subscription).
    pub async fn plan_of(&self, user_id: &str) -> Result<Plan, PaymentError> {
        let plans = self.plans().await;
        let active = self
            .store
            .subscription_of_user(user_id)
            .await?
            .filter(|s| subscription_status(s, crate::store::now()) == "active")
            .map(|s| s.plan_id);
        let id = active.unwrap_or_else(|| "free".to_owned());
        plans
            .iter()
            .find(|p| p.id == id)
            .or_else(|| plans.iter().find(|p| p.id == "free"))
            .cloned()
            .ok_or_else(|| PaymentError::Invalid("no free plan is defined".into()))
    }

    fn base_url(&self) -> String {
        match (
            &self.settings.public_url,
            &self.sandbox,
            self.local_addr.get(),
        ) {
            (Some(url), _, _) => url.as_str().trim_end_matches('/').to_owned(),
            (None, Some(sandbox), _) => sandbox.base_url(),
            (None, None, Some(addr)) if !addr.ip().is_unspecified() => format!("http://{addr}"),
            (None, None, _) => format!("http://{}", self.settings.listen),
        }
    }

    /// Resolves a return path (`/…`, same site only) for the gateway's redirects.
    fn return_url(
        &self,
        path: Option<&str>,
        checkout_id: &str,
        outcome: &str,
    ) -> Result<String, PaymentError> {
        let path = path.unwrap_or("/#/wallet");
        if !path.starts_with('/')
            || path.starts_with("//")
            || path.contains('\\')
            || path.len() > 512
        {
            return Err(PaymentError::Invalid(
                "return_path must be a path on this site, starting with a single /".into(),
            ));
        }
        let base = Url::parse(&self.base_url())
            .map_err(|e| PaymentError::Invalid(format!("bad base URL: {e}")))?;
        let mut url = base
            .join(path)
            .map_err(|e| PaymentError::Invalid(format!("bad return_path: {e}")))?;
        let fragment = url.fragment().map(str::to_owned);
        match fragment {
            // A hash route keeps its own query inside the fragment.
            Some(f) => {
                let sep = if f.contains('?') { '&' } else { '?' };
                url.set_fragment(Some(&format!(
                    "{f}{sep}checkout={checkout_id}&result={outcome}"
                )));
            }
            None => {
                url.query_pairs_mut()
                    .append_pair("checkout", checkout_id)
                    .append_pair("result", outcome);
            }
        }
        Ok(url.into())
    }

    async fn open_checkout(
        &self,
        user_id: &str,
        email: &str,
        kind: CheckoutKind,
        plan: Option<(&str, &str)>,
        amount: i64,
        return_path: Option<&str>,
    ) -> Result<Checkout, PaymentError> {
        let amount_cents = cents(amount)?;
        let purpose = match kind {
            CheckoutKind::TopUp => "top_up",
            CheckoutKind::Subscription { .. } => "subscription",
        };
        // Validate the return path before anything is stored.
        self.return_url(return_path, "x", "success")?;
        let checkout = self
            .store
            .checkout_create(user_id, self.gateway.name(), purpose, plan, amount, "usd")
            .await?;
        let request = CheckoutRequest {
            checkout_id: checkout.id.clone(),
            kind,
            amount_cents,
            currency: "usd".into(),
            user_id: user_id.to_owned(),
            email: email.to_owned(),
            customer_ref: self
                .store
                .customer_of_user(user_id, self.gateway.name())
                .await?,
            success_url: self.return_url(return_path, &checkout.id, "success")?,
            cancel_url: self.return_url(return_path, &checkout.id, "canceled")?,
        };
        let session = match self.gateway.create_checkout(&request).await {
            Ok(session) => session,
            Err(err) => {
                self.store.checkout_end(&checkout.id, "failed").await?;
                return Err(err.into());
            }
        };
        self.store
            .checkout_set_session(
                &checkout.id,
                &session.session_ref,
                [&session.url, &request.success_url, &request.cancel_url],
            )
            .await?;
        self.checkout(&checkout.id).await
    }

    async fn checkout(&self, id: &str) -> Result<Checkout, PaymentError> {
        self.store
            .checkout(id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no checkout {id}")))
    }

    /// Opens a wallet top-up checkout of `amount` micro-USD for the user.
    pub async fn start_top_up(
        &self,
        user_id: &str,
        email: &str,
        amount: i64,
        return_path: Option<&str>,
    ) -> Result<Checkout, PaymentError> {
        if !(MIN_TOP_UP..=MAX_TOP_UP).contains(&amount) {
            return Err(PaymentError::Invalid(format!(
                "a top-up must be between {} and {}",
                MicroUsd(MIN_TOP_UP),
                MicroUsd(MAX_TOP_UP)
            )));
        }
        self.open_checkout(
            user_id,
            email,
            CheckoutKind::TopUp,
            None,
            amount,
            return_path,
        )
        .await
    }

    /// The user's checkout (another user's answers not found).
    pub async fn checkout_of(&self, user_id: &str, id: &str) -> Result<Checkout, PaymentError> {
        match self.store.checkout(id).await? {
            Some(c) if c.user_id == user_id => Ok(c),
            _ => Err(PaymentError::NotFound(format!("no checkout {id}"))),
        }
    }

    /// Verifies, stores and applies one webhook delivery for `gateway`.
    pub async fn receive_webhook(
        &self,
        gateway: &str,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookReceipt, PaymentError> {
        if gateway != self.gateway.name() {
            return Err(PaymentError::NotFound(format!(
                "no payment gateway {gateway:?} is configured here"
            )));
        }
        signature::verify(
            signature_header,
            body,
            self.gateway.webhook_secret(),
            Utc::now().timestamp(),
            signature::DEFAULT_TOLERANCE_SECS,
        )?;
        let event = events::parse(body)?;
        let payload = std::str::from_utf8(body)
            .map_err(|_| PaymentError::Invalid("the event is not UTF-8".into()))?;
        let first = self
            .store
            .payment_event_insert(gateway, &event.id, &event.event_type, payload)
            .await?;
        let outcome = self.apply_and_record(gateway, &event).await?;
        self.apply_waiting(gateway).await;
        Ok(WebhookReceipt {
            event_id: event.id,
            first_delivery: first,
            outcome,
        })
    }

    async fn apply_and_record(&self, gateway: &str, event: &Event) -> Result<String, PaymentError> {
        let (outcome, processed) = match self.apply(gateway, event).await? {
            Applied::Done(outcome) => (outcome, true),
            Applied::Waiting(reason) => (format!("waiting: {reason}"), false),
        };
        self.store
            .payment_event_outcome(gateway, &event.id, &outcome, processed)
            .await?;
        Ok(outcome)
    }

    /// Re-examines waiting events until none makes progress; failures are logged (the
    /// events stay waiting).
    pub async fn apply_waiting(&self, gateway: &str) {
        loop {
            let waiting = match self
                .store
                .payment_events_waiting(gateway, WAITING_BATCH)
                .await
            {
                Ok(w) => w,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot list waiting payment events");
                    return;
                }
            };
            let mut progress = false;
            for stored in waiting {
                let event = match events::parse(stored.payload.as_bytes()) {
                    Ok(e) => e,
                    Err(err) => {
                        let _ = self
                            .store
                            .payment_event_outcome(
                                gateway,
                                &stored.event_id,
                                &err.to_string(),
                                true,
                            )
                            .await;
                        continue;
                    }
                };
                match self.apply_and_record(gateway, &event).await {
                    Ok(outcome) if !outcome.starts_with("waiting: ") => progress = true,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(event = %stored.event_id, error = %err, "applying a waiting payment event failed");
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn gateway_key(gateway: &str, what: &str) -> Result<IdempotencyKey, PaymentError> {
        key(&format!("gateway:{gateway}"), what)
    }

    /// Applies one event's effect; every step is idempotent.
    async fn apply(&self, gateway: &str, event: &Event) -> Result<Applied, PaymentError> {
        Ok(match &event.kind {
            EventKind::CheckoutPaid {
                session_ref,
                checkout_id,
                mode,
                payment_ref,
                subscription_ref,
                customer_ref,
                amount_total,
                currency,
            } => {
                let checkout = match checkout_id {
                    Some(id) => self.store.checkout(id).await?,
                    None => self.store.checkout_by_session(gateway, session_ref).await?,
                };
                let Some(checkout) = checkout.filter(|c| c.gateway == gateway) else {
                    return Ok(Applied::Done(
                        "ignored: not a checkout of this broker".into(),
                    ));
                };
                if !currency.eq_ignore_ascii_case(&checkout.currency) {
                    tracing::warn!(checkout = %checkout.id, %currency, "checkout paid in an unexpected currency; not credited");
                    return Ok(Applied::Done(format!(
                        "refused: paid in {currency}, expected {}",
                        checkout.currency
                    )));
                }
                match (mode, checkout.purpose.as_str()) {
                    (CheckoutMode::Payment, "top_up") => {
                        let paid = micro(*amount_total)?;
                        if paid == 0 {
                            return Ok(Applied::Done("nothing was paid".into()));
                        }
                        let payment_ref = payment_ref.as_deref().unwrap_or(session_ref);
                        let tx = self
                            .ledger
                            .top_up(
                                &Self::gateway_key(gateway, &format!("checkout:{}", checkout.id))?,
                                &checkout.user_id,
                                MicroUsd(paid),
                                json!({"checkout_id": checkout.id, "payment_ref": payment_ref, "gateway": gateway}),
                            )
                            .await?;
                        self.store
                            .payment_record_top_up(&PaidTopUp {
                                checkout_id: &checkout.id,
                                user_id: &checkout.user_id,
                                gateway,
                                payment_ref,
                                customer_ref: customer_ref.as_deref(),
                                amount: paid,
                                currency: &checkout.currency,
                                ledger_transaction_id: &tx.id,
                            })
                            .await?;
                        if paid != checkout.amount {
                            tracing::warn!(checkout = %checkout.id, paid, expected = checkout.amount, "checkout paid a different amount; credited what was paid");
                        }
                        Applied::Done(format!("credited {}", MicroUsd(paid)))
                    }
                    (CheckoutMode::Subscription, "subscription") => {
                        let Some(subscription_ref) = subscription_ref else {
                            return Ok(Applied::Done(
                                "ignored: no subscription on the session".into(),
                            ));
                        };
                        self.store
                            .subscription_record_checkout(
                                &checkout,
                                subscription_ref,
                                customer_ref.as_deref(),
                            )
                            .await?;
                        self.forget_plan(&checkout.user_id);
                        Applied::Done("subscription started".into())
                    }
                    _ => Applied::Done(
                        "ignored: the checkout mode does not match its purpose".into(),
                    ),
                }
            }
            EventKind::CheckoutAwaitingPayment { .. } => {
                Applied::Done("payment processing; waiting for its result".into())
            }
            EventKind::CheckoutEnded {
                session_ref,
                checkout_id,
                expired,
            } => {
                let checkout = match checkout_id {
                    Some(id) => self.store.checkout(id).await?,
                    None => self.store.checkout_by_session(gateway, session_ref).await?,
                };
                match checkout {
                    Some(c) => {
                        let status = if *expired { "expired" } else { "failed" };
                        self.store.checkout_end(&c.id, status).await?;
                        Applied::Done(format!("checkout {status} unless already paid"))
                    }
                    None => Applied::Done("ignored: unknown checkout".into()),
                }
            }
            EventKind::Refund {
                refund_ref,
                refund_id,
                state,
            } => {
                let refund = match refund_id {
                    Some(id) => self.store.refund(id).await?,
                    None => self.store.refund_by_ref(refund_ref).await?,
                };
                let Some(refund) = refund else {
                    return Ok(Applied::Waiting(format!(
                        "refund {refund_ref} is not one of ours (made outside the broker?)"
                    )));
                };
                match state {
                    RefundState::Failed => {
                        self.fail_refund(&refund, gateway).await?;
                        Applied::Done("refund failed; the wallet was credited back".into())
                    }
                    RefundState::Succeeded | RefundState::Pending => {
                        let succeeded = *state == RefundState::Succeeded;
                        self.store
                            .refund_confirm(&refund.id, Some(refund_ref), succeeded)
                            .await?;
                        Applied::Done(
                            if succeeded {
                                "refund succeeded"
                            } else {
                                "refund pending"
                            }
                            .into(),
                        )
                    }
                }
            }
            EventKind::Invoice {
                invoice_ref,
                number,
                subscription_ref,
                paid,
                amount,
                currency,
                period_start,
                period_end,
            } => {
                let Some(subscription) = self
                    .store
                    .subscription_by_ref(gateway, subscription_ref)
                    .await?
                else {
                    return Ok(Applied::Waiting(format!(
                        "subscription {subscription_ref} is not known yet"
                    )));
                };
                let amount = micro(*amount)?;
                let mut ledger_tx = None;
                if *paid && amount > 0 {
                    let legs = vec![
                        Leg {
                            account_id: AccountKind::PaymentClearing.system_id(),
                            side: Side::Debit,
                            amount: MicroUsd(amount),
                        },
                        Leg {
                            account_id: AccountKind::Revenue.system_id(),
                            side: Side::Credit,
                            amount: MicroUsd(amount),
                        },
                    ];
                    let tx = self
                        .ledger
                        .post(
                            &Self::gateway_key(gateway, &format!("invoice:{invoice_ref}"))?,
                            TransferKind::Transfer,
                            legs,
                            json!({"invoice_ref": invoice_ref, "subscription_id": subscription.id, "user_id": subscription.user_id, "reason": "subscription"}),
                        )
                        .await?;
                    ledger_tx = Some(tx.id);
                }
                self.forget_plan(&subscription.user_id);
                self.store
                    .invoice_record(&InvoiceFacts {
                        subscription: &subscription,
                        invoice_ref,
                        number: number.as_deref(),
                        paid: *paid,
                        amount,
                        currency,
                        period_start: *period_start,
                        period_end: *period_end,
                        ledger_transaction_id: ledger_tx.as_deref(),
                    })
                    .await?;
                Applied::Done(
                    if *paid {
                        "invoice paid"
                    } else {
                        "invoice payment failed"
                    }
                    .into(),
                )
            }
            EventKind::SubscriptionDeleted {
                subscription_ref,
                at,
            } => {
                let Some(subscription) = self
                    .store
                    .subscription_by_ref(gateway, subscription_ref)
                    .await?
                else {
                    return Ok(Applied::Waiting(format!(
                        "subscription {subscription_ref} is not known yet"
                    )));
                };
                self.store
                    .subscription_canceled(&subscription.id, *at)
                    .await?;
                self.forget_plan(&subscription.user_id);
                Applied::Done("subscription canceled".into())
            }
            EventKind::PaymentMethodAttached {
                method_ref,
                customer_ref,
                brand,
                last4,
                exp_month,
                exp_year,
            } => {
                let Some(user_id) = self.store.customer_user(gateway, customer_ref).await? else {
                    return Ok(Applied::Waiting(format!(
                        "customer {customer_ref} is not known yet"
                    )));
                };
                self.store
                    .payment_method_insert(&PaymentMethod {
                        id: format!("pm_{}", uuid::Uuid::now_v7().simple()),
                        user_id,
                        gateway: gateway.to_owned(),
                        method_ref: method_ref.clone(),
                        brand: brand.clone(),
                        last4: last4.clone(),
                        exp_month: *exp_month,
                        exp_year: *exp_year,
                        created_at: crate::store::now(),
                    })
                    .await?;
                Applied::Done("payment method saved".into())
            }
            EventKind::Ignored => Applied::Done("ignored".into()),
        })
    }

    /// Gives a failed refund's money back to the wallet (once) and marks it failed.
    async fn fail_refund(&self, refund: &Refund, gateway: &str) -> Result<(), PaymentError> {
        let mut reversal = None;
        if refund.ledger_transaction_id.is_some() {
            let legs = vec![
                Leg {
                    account_id: AccountKind::Refunds.system_id(),
                    side: Side::Debit,
                    amount: MicroUsd(refund.amount),
                },
                Leg {
                    account_id: wallet_id(&refund.user_id),
                    side: Side::Credit,
                    amount: MicroUsd(refund.amount),
                },
            ];
            let tx = self
                .ledger
                .post(
                    &Self::gateway_key(gateway, &format!("refund-reversal:{}", refund.id))?,
                    TransferKind::Transfer,
                    legs,
                    json!({"refund_id": refund.id, "payment_id": refund.payment_id, "reason": "refund failed at the gateway"}),
                )
                .await?;
            reversal = Some(tx.id);
        }
        self.store
            .refund_fail(&refund.id, reversal.as_deref())
            .await?;
        Ok(())
    }

    /// A payment by id.
    pub async fn payment(&self, id: &str) -> Result<Payment, PaymentError> {
        self.store
            .payment(id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no payment {id}")))
    }

    /// Refunds `amount` (default: all that is left) of a payment, asked by `actor`: the
    /// money leaves the wallet first, then the gateway is asked; a refusal gives it back.
    pub async fn refund(
        &self,
        actor: &str,
        payment_id: &str,
        amount: Option<i64>,
        reason: &str,
    ) -> Result<Refund, PaymentError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(PaymentError::Invalid(
                "reason must be 1 to 500 characters".into(),
            ));
        }
        let payment = self.payment(payment_id).await?;
        let refundable = payment.amount - payment.refunded;
        let amount = amount.unwrap_or(refundable);
        if amount <= 0 {
            return Err(if refundable == 0 {
                PaymentError::Conflict(format!("payment {payment_id} is already fully refunded"))
            } else {
                PaymentError::Invalid("amount_micro_usd must be positive".into())
            });
        }
        cents(amount)?;
        if amount > refundable {
            return Err(PaymentError::Conflict(format!(
                "a refund of {} exceeds the {} still refundable on payment {payment_id}",
                MicroUsd(amount),
                MicroUsd(refundable)
            )));
        }
        let refund = self
            .store
            .refund_reserve(&payment, amount, reason, actor)
            .await?
            .ok_or_else(|| {
                PaymentError::Conflict(format!(
                    "payment {payment_id} changed meanwhile; less than {} is refundable now",
                    MicroUsd(amount)
                ))
            })?;
        self.complete_refund(refund, &payment).await
    }

    /// Takes a reserved refund out of the wallet (unless already done) and asks the
    /// gateway for it (unless already asked). Every step is idempotent: the ledger by the
    /// key `refund:<id>` in the requester's scope, the gateway by the refund id as its
    /// idempotency key; so an interrupted refund can be completed by running this again.
    async fn complete_refund(
        &self,
        refund: Refund,
        payment: &Payment,
    ) -> Result<Refund, PaymentError> {
        let refund = if refund.ledger_transaction_id.is_some() {
            refund
        } else {
            let taken = self
                .ledger
                .refund(
                    &key(&refund.requested_by, &format!("refund:{}", refund.id))?,
                    &payment.user_id,
                    MicroUsd(refund.amount),
                    json!({"refund_id": refund.id, "payment_id": payment.id, "reason": refund.reason}),
                )
                .await;
            let tx = match taken {
                Ok(tx) => tx,
                Err(err) => {
                    if matches!(
                        err,
                        LedgerError::InsufficientFunds { .. } | LedgerError::Invalid(_)
                    ) {
                        self.store.refund_fail(&refund.id, None).await?;
                    }
                    return Err(match err {
                        LedgerError::InsufficientFunds { available, .. } => PaymentError::Conflict(format!(
                            "the wallet has only {available} available; a refund cannot take it below zero"
                        )),
                        other => other.into(),
                    });
                }
            };
            self.store.refund_set_ledger(&refund.id, &tx.id).await?;
            Refund {
                ledger_transaction_id: Some(tx.id),
                ..refund
            }
        };
        if refund.gateway_ref.is_none() {
            let request = RefundRequest {
                refund_id: refund.id.clone(),
                payment_ref: payment.payment_ref.clone(),
                amount_cents: cents(refund.amount)?,
            };
            match self.gateway.refund(&request).await {
                Ok(answer) if answer.failed => {
                    self.fail_refund(&refund, &payment.gateway).await?;
                    return Err(PaymentError::Gateway(GatewayError::Rejected(
                        "the gateway declined the refund; the wallet was credited back".into(),
                    )));
                }
                Ok(answer) => {
                    self.store
                        .refund_confirm(&refund.id, Some(&answer.refund_ref), answer.succeeded)
                        .await?;
                }
                Err(GatewayError::Rejected(message)) => {
                    self.fail_refund(&refund, &payment.gateway).await?;
                    return Err(PaymentError::Gateway(GatewayError::Rejected(message)));
                }
                Err(err) => {
                    // The gateway may or may not have made it: the refund stays pending
                    // (the money is out of the wallet) until a webhook or the retry
                    // sweep settles it.
                    tracing::warn!(refund = %refund.id, error = %err, "refund left pending: the gateway did not answer");
                    return Err(PaymentError::Gateway(err));
                }
            }
        }
        self.store
            .refund(&refund.id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no refund {}", refund.id)))
    }

    /// Completes refunds interrupted before the gateway answered (a crash, a timeout),
    /// pending for at least `min_age`; returns how many were settled or sent.
    pub async fn retry_pending_refunds(
        &self,
        min_age: chrono::Duration,
    ) -> Result<usize, PaymentError> {
        let cutoff = crate::store::now() - min_age;
        let stale = self.store.refunds_unsent(cutoff, 50).await?;
        let mut done = 0;
        for refund in stale {
            let id = refund.id.clone();
            let payment = self.payment(&refund.payment_id).await?;
            match self.complete_refund(refund, &payment).await {
                Ok(_) => done += 1,
                Err(err) => {
                    tracing::warn!(refund = %id, error = %err, "retrying a pending refund failed");
                }
            }
        }
        Ok(done)
    }

    /// Re-examines waiting events, completes interrupted refunds and expires checkouts
    /// left open for a day: the payment sweep, run periodically.
    pub async fn sweep(&self) -> Result<(), PaymentError> {
        self.apply_waiting(self.gateway.name()).await;
        self.retry_pending_refunds(chrono::Duration::minutes(2))
            .await?;
        self.store
            .checkouts_expire(crate::store::now() - chrono::Duration::hours(24))
            .await?;
        Ok(())
    }

    /// Opens a subscription checkout for a paid plan.
    pub async fn start_subscription(
        &self,
        user_id: &str,
        email: &str,
        plan_id: &str,
        interval: &str,
        return_path: Option<&str>,
    ) -> Result<Checkout, PaymentError> {
        let plans = self.plans().await;
        let plan = plans
            .iter()
            .find(|p| p.id == plan_id)
            .ok_or_else(|| PaymentError::Invalid(format!("no plan {plan_id:?}")))?;
        let price = plan.price(interval).ok_or_else(|| {
            PaymentError::Invalid("billing_interval must be monthly or annual".into())
        })?;
        if price == 0 {
            return Err(PaymentError::Invalid(format!(
                "plan {plan_id} is free: there is nothing to subscribe to"
            )));
        }
        if let Some(current) = self.store.subscription_of_user(user_id).await? {
            if matches!(
                subscription_status(&current, crate::store::now()),
                "active" | "incomplete" | "past_due"
            ) {
                return Err(PaymentError::Conflict(format!(
                    "subscription {} is still {}; cancel it first",
                    current.id,
                    subscription_status(&current, crate::store::now())
                )));
            }
        }
        let kind = CheckoutKind::Subscription {
            plan_name: plan.name.clone(),
            interval: if interval == "annual" {
                "year"
            } else {
                "month"
            }
            .into(),
        };
        self.open_checkout(
            user_id,
            email,
            kind,
            Some((plan_id, interval)),
            price,
            return_path,
        )
        .await
    }

    /// The user's latest subscription.
    pub async fn subscription(
        &self,
        user_id: &str,
    ) -> Result<Option<SubscriptionView>, PaymentError> {
        Ok(self
            .store
            .subscription_of_user(user_id)
            .await?
            .map(|row| view(&row, crate::store::now(), None)))
    }

    /// Cancels the user's subscription at the end of its period, or now with the unused
    /// part of the period credited to the wallet (once).
    pub async fn cancel_subscription(
        &self,
        user_id: &str,
        immediately: bool,
    ) -> Result<SubscriptionView, PaymentError> {
        let now = crate::store::now();
        let row = self
            .store
            .subscription_of_user(user_id)
            .await?
            .ok_or_else(|| PaymentError::NotFound("no subscription".into()))?;
        if row.canceled_at.is_some() && !immediately {
            return Err(PaymentError::Conflict(format!(
                "subscription {} is already canceled",
                row.id
            )));
        }
        if row.canceled_at.is_none() {
            self.gateway
                .cancel_subscription(&row.subscription_ref, !immediately)
                .await?;
        }
        if !immediately {
            self.store
                .subscription_set_cancel_at_period_end(&row.id, true)
                .await?;
            let row = self
                .store
                .subscription_of_user(user_id)
                .await?
                .unwrap_or(row);
            return Ok(view(&row, now, None));
        }
        self.store.subscription_canceled(&row.id, now).await?;
        self.forget_plan(user_id);
        let row = self
            .store
            .subscription_of_user(user_id)
            .await?
            .unwrap_or(row);
        let credit = self.prorate(&row).await?;
        Ok(view(&row, now, Some(credit)))
    }

    /// Credits the unused part of a canceled subscription's paid period to the wallet.
    async fn prorate(&self, row: &SubscriptionRow) -> Result<i64, PaymentError> {
        let (Some(start), Some(end), Some(canceled)) =
            (row.period_start, row.paid_through, row.canceled_at)
        else {
            return Ok(0);
        };
        if canceled >= end || end <= start {
            return Ok(0);
        }
        let plans = self.plans().await;
        let price = plans
            .iter()
            .find(|p| p.id == row.plan_id)
            .and_then(|p| p.price(&row.billing_interval))
            .unwrap_or(0);
        let unused = (end - canceled.max(start)).num_seconds();
        let total = (end - start).num_seconds();
        // Whole cents, rounded down.
        let credit = i64::try_from(i128::from(price) * i128::from(unused) / i128::from(total))
            .unwrap_or(0)
            / MICRO_PER_CENT
            * MICRO_PER_CENT;
        if credit <= 0 {
            return Ok(0);
        }
        let legs = vec![
            Leg {
                account_id: AccountKind::Revenue.system_id(),
                side: Side::Debit,
                amount: MicroUsd(credit),
            },
            Leg {
                account_id: wallet_id(&row.user_id),
                side: Side::Credit,
                amount: MicroUsd(credit),
            },
        ];
        self.ledger
            .post(
                &key("system", &format!("proration:{}", row.id))?,
                TransferKind::Transfer,
                legs,
                json!({"subscription_id": row.id, "reason": "proration credit"}),
            )
            .await?;
        Ok(credit)
    }

    /// The user's invoices, newest first.
    pub async fn invoices(
        &self,
        user_id: &str,
    ) -> Result<Vec<crate::store::payments::Invoice>, PaymentError> {
        Ok(self.store.invoices_of_user(user_id, 200).await?)
    }

    /// The user's saved payment methods.
    pub async fn payment_methods(&self, user_id: &str) -> Result<Vec<PaymentMethod>, PaymentError> {
        Ok(self.store.payment_methods_of_user(user_id).await?)
    }
}
