//! The sandbox gateway: built in, the development default, and moving no real money. It
//! opens checkouts on a local hosted page (`/sandbox/checkout/{session}`, served by
//! `http::sandbox`) where test cards succeed, are declined or ask for 3-D Secure, and it
//! reports results exactly as Stripe does: Stripe-shaped events, signed with the
//! `Stripe-Signature` scheme, POSTed to the broker's own
//! `/api/v2/billing/webhooks/sandbox`. The whole money flow therefore runs offline
//! through the same webhook code as Stripe.
//!
//! Its webhook secret is derived from the master key, so every replica sharing the key
//! signs and verifies alike.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Months, Utc};
use ring::hmac;
use serde_json::{json, Value};
use url::Url;

use super::gateway::{
    CheckoutRequest, CheckoutSession, Gateway, GatewayError, GatewayFuture, GatewayRefund,
    RefundRequest,
};
use crate::secret::MasterKey;
use crate::store::payments::Checkout;

/// Delivery attempts of one event before giving up.
const DELIVERY_ATTEMPTS: u32 = 5;

/// What a test card does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CardOutcome {
    /// The payment succeeds.
    Succeeds { brand: String, last4: String },
    /// The bank declines it.
    Declined { last4: String },
    /// The bank asks the payer to authenticate (3-D Secure) first.
    RequiresAuthentication { brand: String, last4: String },
    /// Not a card number (bad length, characters or check digit).
    Invalid,
}

/// The documented test cards: `4242 4242 4242 4242` succeeds, `4000 0000 0000 0002` is
/// declined, `4000 0027 6000 3184` asks for 3-D Secure; any other number with a valid
/// check digit succeeds.
pub fn card_outcome(number: &str) -> CardOutcome {
    let digits: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if !(12..=19).contains(&digits.len())
        || !digits.chars().all(|c| c.is_ascii_digit())
        || !luhn(&digits)
    {
        return CardOutcome::Invalid;
    }
    let last4 = digits[digits.len() - 4..].to_owned();
    let brand = match digits.as_bytes()[0] {
        b'4' => "visa",
        b'5' | b'2' => "mastercard",
        b'3' => "amex",
        _ => "unknown",
    }
    .to_owned();
    match digits.as_str() {
        "4000000000000002" => CardOutcome::Declined { last4 },
        "4000002760003184" | "4000002500003155" => {
            CardOutcome::RequiresAuthentication { brand, last4 }
        }
        _ => CardOutcome::Succeeds { brand, last4 },
    }
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The sandbox gateway; clones share the listening address.
#[derive(Clone)]
pub struct Sandbox {
    secret: String,
    public_url: Option<Url>,
    local_addr: Arc<OnceLock<SocketAddr>>,
    http: reqwest::Client,
}

impl Sandbox {
    /// The sandbox, with its webhook secret derived from `master_key`.
    pub fn new(master_key: &MasterKey, public_url: Option<Url>) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, master_key.as_bytes());
        let tag = hmac::sign(&key, b"gpubroker sandbox webhook secret v1");
        let secret = format!(
            "whsec_sandbox_{}",
            tag.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            secret,
            public_url,
            local_addr: Arc::default(),
            http,
        }
    }

    /// Records the address the server listens on (webhooks are delivered there).
    pub fn set_local_addr(&self, addr: SocketAddr) {
        let addr = if addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        let _ = self.local_addr.set(addr);
    }

    /// Where users reach the server: the public URL, else the listening address.
    pub fn base_url(&self) -> String {
        match (&self.public_url, self.local_addr.get()) {
            (Some(url), _) => url.as_str().trim_end_matches('/').to_owned(),
            (None, Some(addr)) => format!("http://{addr}"),
            (None, None) => "http://127.0.0.1:10355".to_owned(),
        }
    }

    /// The webhook endpoint events are delivered to: always the local listener.
    fn webhook_url(&self) -> String {
        match self.local_addr.get() {
            Some(addr) => format!("http://{addr}/api/v2/billing/webhooks/sandbox"),
            None => format!("{}/api/v2/billing/webhooks/sandbox", self.base_url()),
        }
    }

    /// Delivers signed events in order, each retried with backoff; returns the first
    /// failure.
    pub async fn deliver(&self, events: &[Value]) -> Result<(), GatewayError> {
        for event in events {
            let body = serde_json::to_vec(event)
                .map_err(|e| GatewayError::Unavailable(format!("encoding an event: {e}")))?;
            let mut last = String::new();
            let mut delivered = false;
            for attempt in 0..DELIVERY_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                }
                let signature = super::signature::sign(&self.secret, Utc::now().timestamp(), &body);
                match self
                    .http
                    .post(self.webhook_url())
                    .header("Stripe-Signature", signature)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone())
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => {
                        delivered = true;
                        break;
                    }
                    Ok(r) => last = format!("the webhook endpoint answered {}", r.status()),
                    Err(e) => last = e.to_string(),
                }
            }
            if !delivered {
                tracing::warn!(error = %last, "sandbox webhook delivery failed");
                return Err(GatewayError::Unavailable(format!(
                    "sandbox webhook delivery failed: {last}"
                )));
            }
        }
        Ok(())
    }

    /// Delivers `events` in the background.
    pub fn deliver_later(&self, events: Vec<Value>) {
        let me = self.clone();
        tokio::spawn(async move {
            let _ = me.deliver(&events).await;
        });
    }
}

fn event(kind: &str, object: Value) -> Value {
    let mut data = serde_json::Map::new();
    data.insert("object".into(), object);
    json!({
        "id": format!("evt_sandbox_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": super::stripe::API_VERSION,
        "type": kind,
        "created": Utc::now().timestamp(),
        "livemode": false,
        "data": Value::Object(data),
    })
}

/// The gateway customer the sandbox uses for `user_id`.
pub fn customer_ref(user_id: &str) -> String {
    format!("cus_sandbox_{}", user_id.replace('-', ""))
}

/// The events Stripe sends when `checkout` is paid by a card: the attached payment
/// method, the completed session and, for a subscription, its first paid invoice.
pub fn payment_events(
    checkout: &Checkout,
    session_ref: &str,
    brand: &str,
    last4: &str,
    now: DateTime<Utc>,
) -> Vec<Value> {
    let customer = customer_ref(&checkout.user_id);
    let cents = checkout.amount / 10_000;
    let suffix = checkout.id.trim_start_matches("chk_");
    let method = event(
        "payment_method.attached",
        json!({"id": format!("pm_sandbox_{suffix}"), "object": "payment_method",
               "customer": customer, "type": "card",
               "card": {"brand": brand, "last4": last4, "exp_month": 12,
                        "exp_year": 2034, "funding": "credit"}}),
    );
    let subscription =
        (checkout.purpose == "subscription").then(|| format!("sub_sandbox_{suffix}"));
    let mut session = json!({
        "id": session_ref, "object": "checkout.session",
        "mode": if subscription.is_some() { "subscription" } else { "payment" },
        "payment_status": "paid", "status": "complete",
        "amount_total": cents, "currency": checkout.currency.to_ascii_lowercase(),
        "client_reference_id": checkout.id, "customer": customer,
        "metadata": {"checkout_id": checkout.id, "user_id": checkout.user_id},
    });
    let mut events = vec![method];
    match subscription {
        None => {
            session["payment_intent"] = json!(format!("pi_sandbox_{suffix}"));
            events.push(event("checkout.session.completed", session));
        }
        Some(sub) => {
            session["subscription"] = json!(sub);
            events.push(event("checkout.session.completed", session));
            let months = if checkout.billing_interval.as_deref() == Some("annual") {
                12
            } else {
                1
            };
            let end = now.checked_add_months(Months::new(months)).unwrap_or(now);
            events.push(event(
                "invoice.paid",
                json!({"id": format!("in_sandbox_{suffix}"), "object": "invoice",
                       "number": format!("SBX-{}", &suffix[suffix.len().saturating_sub(8)..]),
                       "subscription": sub, "customer": customer, "status": "paid",
                       "amount_paid": cents, "amount_due": cents,
                       "currency": checkout.currency.to_ascii_lowercase(),
                       "period_start": now.timestamp(), "period_end": now.timestamp(),
                       "lines": {"object": "list", "data": [{"period": {
                           "start": now.timestamp(), "end": end.timestamp()}}]}}),
            ));
        }
    }
    events
}

impl Gateway for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn webhook_secret(&self) -> &str {
        &self.secret
    }

    fn create_checkout<'a>(
        &'a self,
        _request: &'a CheckoutRequest,
    ) -> GatewayFuture<'a, CheckoutSession> {
        Box::pin(async move {
            let session_ref = format!("cs_sandbox_{}", uuid::Uuid::new_v4().simple());
            Ok(CheckoutSession {
                url: format!("{}/sandbox/checkout/{session_ref}", self.base_url()),
                session_ref,
            })
        })
    }

    fn refund<'a>(&'a self, request: &'a RefundRequest) -> GatewayFuture<'a, GatewayRefund> {
        Box::pin(async move {
            let refund_ref = format!("re_sandbox_{}", uuid::Uuid::new_v4().simple());
            let confirmation = event(
                "refund.updated",
                json!({"id": refund_ref, "object": "refund", "amount": request.amount_cents,
                       "payment_intent": request.payment_ref, "status": "succeeded",
                       "metadata": {"refund_id": request.refund_id}}),
            );
            // Stripe confirms asynchronously too; the synchronous answer already says so.
            self.deliver_later(vec![confirmation]);
            Ok(GatewayRefund {
                refund_ref,
                succeeded: true,
                failed: false,
            })
        })
    }

    fn cancel_subscription<'a>(
        &'a self,
        subscription_ref: &'a str,
        at_period_end: bool,
    ) -> GatewayFuture<'a, ()> {
        Box::pin(async move {
            if !at_period_end {
                let now = Utc::now().timestamp();
                let deleted = event(
                    "customer.subscription.deleted",
                    json!({"id": subscription_ref, "object": "subscription",
                           "status": "canceled", "canceled_at": now, "ended_at": now}),
                );
                self.deliver_later(vec![deleted]);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_behave_as_documented() {
        assert!(matches!(
            card_outcome("4242 4242 4242 4242"),
            CardOutcome::Succeeds { ref brand, ref last4 } if brand == "visa" && last4 == "4242"
        ));
        assert!(matches!(
            card_outcome("4000000000000002"),
            CardOutcome::Declined { .. }
        ));
        assert!(matches!(
            card_outcome("4000-0027-6000-3184"),
            CardOutcome::RequiresAuthentication { .. }
        ));
        assert_eq!(card_outcome("4242 4242 4242 4241"), CardOutcome::Invalid);
        assert_eq!(card_outcome("abcd"), CardOutcome::Invalid);
    }

    #[test]
    fn the_webhook_secret_depends_on_the_master_key_only() {
        let a = Sandbox::new(&MasterKey::from_bytes([1; 32]), None);
        let b = Sandbox::new(&MasterKey::from_bytes([1; 32]), None);
        let c = Sandbox::new(&MasterKey::from_bytes([2; 32]), None);
        assert_eq!(a.webhook_secret(), b.webhook_secret());
        assert_ne!(a.webhook_secret(), c.webhook_secret());
        assert!(a.webhook_secret().starts_with("whsec_sandbox_"));
    }
}
