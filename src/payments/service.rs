//! The payment service: opens checkouts, applies verified gateway events exactly once
//! (`webhooks`), refunds (`refunds`), and runs subscriptions (`subscriptions`). Money moves only through the ledger, each movement
//! under an idempotency key derived from the gateway object it comes from (the checkout,
//! the invoice, the refund), so a replayed, duplicated or reordered event never moves it
//! twice. An event whose prerequisite has not arrived yet (an invoice before its
//! subscription's checkout) waits and is applied when the prerequisite lands.

use std::sync::Arc;

use url::Url;

use super::gateway::{CheckoutKind, CheckoutRequest, Gateway, GatewayError, RefundRequest};
use super::plans::{self, Plan};
use super::sandbox::Sandbox;
use super::PaymentError;
use crate::config::ConfigStore;
use crate::domain::money::MicroUsd;
use crate::ledger::{IdempotencyKey, Ledger};
use crate::settings::payments::GatewayChoice;
use crate::settings::Settings;
use crate::store::payments::{Checkout, PaymentMethod};
use crate::store::Store;

/// Smallest top-up, micro-USD ($5).
pub const MIN_TOP_UP: i64 = 5_000_000;
/// Largest top-up, micro-USD ($10,000).
pub const MAX_TOP_UP: i64 = 10_000_000_000;
/// Micro-USD per cent.
pub(super) const MICRO_PER_CENT: i64 = 10_000;

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
    pub(super) store: Store,
    pub(super) ledger: Ledger,
    pub(super) gateway: Arc<dyn Gateway>,
    pub(super) sandbox: Option<Sandbox>,
    pub(super) config: Option<ConfigStore>,
    pub(super) settings: Arc<Settings>,
    pub(super) local_addr: Arc<std::sync::OnceLock<std::net::SocketAddr>>,
    /// Where user notifications (payment succeeded, refunded) are published.
    pub(super) events: crate::events::SharedBus,
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

pub(super) fn key(scope: &str, key: &str) -> Result<IdempotencyKey, PaymentError> {
    Ok(IdempotencyKey::new(scope, key)?)
}

pub(super) fn cents(micro: i64) -> Result<i64, PaymentError> {
    if micro % MICRO_PER_CENT != 0 {
        return Err(PaymentError::Invalid(
            "amounts must be whole cents (multiples of 10000 micro-USD)".into(),
        ));
    }
    Ok(micro / MICRO_PER_CENT)
}

pub(super) fn micro(cents: i64) -> Result<i64, PaymentError> {
    cents
        .checked_mul(MICRO_PER_CENT)
        .ok_or_else(|| PaymentError::Invalid("amount overflows".into()))
}

impl Payments {
    /// The service with the gateway chosen by `settings` (the sandbox's secret derives
    /// from `master_key`).
    pub fn new(
        settings: Arc<Settings>,
        store: Store,
        ledger: Ledger,
        events: crate::events::SharedBus,
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
            events,
        }
    }

    /// Tells the user's live connections (WebSocket `notification`) what happened.
    pub(super) fn notify(&self, user_id: &str, kind: &str, payload: serde_json::Value) {
        self.events.publish(vec![crate::events::Event::Notification(
            crate::events::UserNotification {
                user_id: user_id.to_owned(),
                kind: kind.to_owned(),
                payload,
            },
        )]);
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
    pub(super) fn forget_plan(&self, user_id: &str) {
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
            .filter(|s| {
                super::subscriptions::subscription_status(s, crate::store::now()) == "active"
            })
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

    pub(super) async fn open_checkout(
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

    /// The user's saved payment methods.
    pub async fn payment_methods(&self, user_id: &str) -> Result<Vec<PaymentMethod>, PaymentError> {
        Ok(self.store.payment_methods_of_user(user_id).await?)
    }
}
