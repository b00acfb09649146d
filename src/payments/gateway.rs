//! The gateway trait: what the broker asks of a payment gateway (Stripe or the built-in
//! sandbox). Gateways report back through signed webhooks, read by `payments::events`.

use std::future::Future;
use std::pin::Pin;

/// A boxed gateway call.
pub type GatewayFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, GatewayError>> + Send + 'a>>;

/// What a checkout pays for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckoutKind {
    /// A one-off wallet top-up.
    TopUp,
    /// A recurring plan, billed every `interval` (`month` or `year`).
    Subscription { plan_name: String, interval: String },
}

/// A checkout to open with the gateway.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// Our checkout id: the gateway's `client_reference_id` and idempotency key.
    pub checkout_id: String,
    pub kind: CheckoutKind,
    /// Minor units (cents).
    pub amount_cents: i64,
    /// Lowercase ISO code (`usd`).
    pub currency: String,
    pub user_id: String,
    pub email: String,
    /// The user's existing gateway customer, so saved methods are offered again.
    pub customer_ref: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
}

/// An opened checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckoutSession {
    /// The gateway's session id (`cs_…`).
    pub session_ref: String,
    /// The hosted page the payer opens.
    pub url: String,
}

/// A refund to ask the gateway for.
#[derive(Clone, Debug)]
pub struct RefundRequest {
    /// Our refund id: sent as metadata and as the idempotency key.
    pub refund_id: String,
    /// The payment to refund (`pi_…`).
    pub payment_ref: String,
    pub amount_cents: i64,
}

/// The gateway's answer to a refund.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayRefund {
    pub refund_ref: String,
    /// `succeeded`; otherwise pending until a webhook says more.
    pub succeeded: bool,
    /// The gateway refused it outright.
    pub failed: bool,
}

/// Why a gateway call failed.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The gateway refused the request (its message is safe to show).
    #[error("the payment gateway refused the request: {0}")]
    Rejected(String),
    /// The gateway could not be reached or failed; retrying later may work.
    #[error("the payment gateway is unavailable: {0}")]
    Unavailable(String),
}

/// A payment gateway.
pub trait Gateway: Send + Sync {
    /// `stripe` or `sandbox`: the name in webhook URLs and records.
    fn name(&self) -> &'static str;
    /// The secret webhooks are signed with.
    fn webhook_secret(&self) -> &str;
    /// Opens a hosted checkout.
    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> GatewayFuture<'a, CheckoutSession>;
    /// Refunds (part of) a captured payment.
    fn refund<'a>(&'a self, request: &'a RefundRequest) -> GatewayFuture<'a, GatewayRefund>;
    /// Cancels a subscription now or at the end of its period.
    fn cancel_subscription<'a>(
        &'a self,
        subscription_ref: &'a str,
        at_period_end: bool,
    ) -> GatewayFuture<'a, ()>;
}
