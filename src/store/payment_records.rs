//! The payment record types (rows of migration 0010), shared by `payments`, `refunds` and
//! `subscriptions`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A checkout started with a gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Checkout {
    pub id: String,
    pub user_id: String,
    pub gateway: String,
    /// The gateway's session id, once created.
    pub session_ref: Option<String>,
    /// `top_up` or `subscription`.
    pub purpose: String,
    pub plan_id: Option<String>,
    pub billing_interval: Option<String>,
    /// Micro-USD.
    pub amount: i64,
    pub currency: String,
    /// `open`, `completed`, `failed` or `expired`.
    pub status: String,
    /// Where the payer completes it.
    pub url: Option<String>,
    /// Where the gateway sends the payer after paying, and after giving up.
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

/// A captured payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub user_id: String,
    pub gateway: String,
    /// The gateway's payment id (a PaymentIntent `pi_…`).
    pub payment_ref: String,
    pub checkout_id: Option<String>,
    /// Captured, micro-USD.
    pub amount: i64,
    /// Refunded so far (pending and succeeded refunds), micro-USD.
    pub refunded: i64,
    pub currency: String,
    pub ledger_transaction_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A refund of (part of) a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Refund {
    pub id: String,
    pub payment_id: String,
    pub user_id: String,
    /// Micro-USD.
    pub amount: i64,
    pub reason: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub gateway_ref: Option<String>,
    /// Who asked for it (a user id).
    pub requested_by: String,
    pub ledger_transaction_id: Option<String>,
    /// The ledger transaction that gave the money back when the gateway refused.
    pub reversal_transaction_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A saved payment method: the gateway's token and card facts, never the number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PaymentMethod {
    pub id: String,
    pub user_id: String,
    pub gateway: String,
    pub method_ref: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i32>,
    pub exp_year: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// A subscription as stored; its status is derived (see `payments::subscriptions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SubscriptionRow {
    pub id: String,
    pub user_id: String,
    pub plan_id: String,
    pub billing_interval: String,
    pub gateway: String,
    pub subscription_ref: String,
    pub checkout_id: Option<String>,
    pub period_start: Option<DateTime<Utc>>,
    pub paid_through: Option<DateTime<Utc>>,
    pub failed_through: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An invoice of a subscription period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invoice {
    pub id: String,
    pub user_id: String,
    pub subscription_id: Option<String>,
    pub gateway: String,
    pub invoice_ref: String,
    pub number: Option<String>,
    /// Micro-USD.
    pub amount: i64,
    pub currency: String,
    /// `paid` or `payment_failed`.
    pub status: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub ledger_transaction_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A stored gateway event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    pub gateway: String,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

/// Facts of a paid top-up checkout, recorded once.
#[derive(Clone, Debug)]
pub struct PaidTopUp<'a> {
    pub checkout_id: &'a str,
    pub user_id: &'a str,
    pub gateway: &'a str,
    pub payment_ref: &'a str,
    pub customer_ref: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
    pub ledger_transaction_id: &'a str,
}

/// Facts of a subscription invoice, recorded once per invoice.
#[derive(Clone, Debug)]
pub struct InvoiceFacts<'a> {
    pub subscription: &'a SubscriptionRow,
    pub invoice_ref: &'a str,
    pub number: Option<&'a str>,
    pub paid: bool,
    pub amount: i64,
    pub currency: &'a str,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub ledger_transaction_id: Option<&'a str>,
}
