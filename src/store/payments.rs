//! Payment records: checkouts, gateway events (each applied once), payments, refunds,
//! payment methods, gateway customers, subscriptions and invoices. Money itself moves only
//! in the ledger; these rows say why it moved and keep each gateway effect unique
//! (`UNIQUE (gateway, …_ref)`), so applying a gateway event twice adds nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{in_tx, on_pool, Store, StoreError};

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

/// A stored response of an idempotent request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key is new: the caller runs the request and then stores its response.
    Claimed,
    /// A request with this key is running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
    /// The stored response of the finished request.
    Done { status: u16, body: String },
}

const CHECKOUT_COLUMNS: &str = "id, user_id, gateway, session_ref, purpose, plan_id, \
    billing_interval, amount, currency, status, url, success_url, cancel_url, created_at, \
    updated_at, completed_at";
const PAYMENT_COLUMNS: &str = "id, user_id, gateway, payment_ref, checkout_id, amount, \
    refunded, currency, ledger_transaction_id, created_at, updated_at";
const REFUND_COLUMNS: &str = "id, payment_id, user_id, amount, reason, status, gateway_ref, \
    requested_by, ledger_transaction_id, reversal_transaction_id, created_at, updated_at";
const SUBSCRIPTION_COLUMNS: &str = "id, user_id, plan_id, billing_interval, gateway, \
    subscription_ref, checkout_id, period_start, paid_through, failed_through, \
    cancel_at_period_end, canceled_at, created_at, updated_at";
const INVOICE_COLUMNS: &str = "id, user_id, subscription_id, gateway, invoice_ref, number, \
    amount, currency, status, period_start, period_end, ledger_transaction_id, created_at, \
    updated_at";

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

impl Store {
    /// Stores a new open checkout and returns it.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip_all)]
    pub async fn checkout_create(
        &self,
        user_id: &str,
        gateway: &str,
        purpose: &str,
        plan: Option<(&str, &str)>,
        amount: i64,
        currency: &str,
    ) -> Result<Checkout, StoreError> {
        let now = super::now();
        let id = new_id("chk");
        let sql = "INSERT INTO payment_checkouts (id, user_id, gateway, session_ref, purpose, \
            plan_id, billing_interval, amount, currency, status, url, created_at, updated_at, \
            completed_at) VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, 'open', NULL, $9, $9, NULL)";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(&id)
            .bind(user_id)
            .bind(gateway)
            .bind(purpose)
            .bind(plan.map(|p| p.0))
            .bind(plan.map(|p| p.1))
            .bind(amount)
            .bind(currency)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        self.checkout(&id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("checkout {id} vanished")))
    }

    /// Records the gateway session of an open checkout: its page, success and cancel URLs.
    #[tracing::instrument(skip_all)]
    pub async fn checkout_set_session(
        &self,
        id: &str,
        session_ref: &str,
        urls: [&str; 3],
    ) -> Result<(), StoreError> {
        let sql = "UPDATE payment_checkouts SET session_ref = $1, url = $2, success_url = $3, \
            cancel_url = $4, updated_at = $5 WHERE id = $6";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(session_ref)
            .bind(urls[0])
            .bind(urls[1])
            .bind(urls[2])
            .bind(super::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A checkout by id.
    #[tracing::instrument(skip_all)]
    pub async fn checkout(&self, id: &str) -> Result<Option<Checkout>, StoreError> {
        let sql = format!("SELECT {CHECKOUT_COLUMNS} FROM payment_checkouts WHERE id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// A checkout by its gateway session.
    #[tracing::instrument(skip_all)]
    pub async fn checkout_by_session(
        &self,
        gateway: &str,
        session_ref: &str,
    ) -> Result<Option<Checkout>, StoreError> {
        let sql = format!(
            "SELECT {CHECKOUT_COLUMNS} FROM payment_checkouts WHERE gateway = $1 AND session_ref = $2"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(gateway)
            .bind(session_ref)
            .fetch_optional(pool)
            .await)?)
    }

    /// Ends an open checkout without payment (`failed` or `expired`); a completed one
    /// stays completed.
    #[tracing::instrument(skip_all)]
    pub async fn checkout_end(&self, id: &str, status: &str) -> Result<(), StoreError> {
        let sql = "UPDATE payment_checkouts SET status = $1, updated_at = $2 \
            WHERE id = $3 AND status = 'open'";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(status)
            .bind(super::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Stores a verified event unless its id is known; returns whether it was new.
    #[tracing::instrument(skip_all)]
    pub async fn payment_event_insert(
        &self,
        gateway: &str,
        event_id: &str,
        event_type: &str,
        payload: &str,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO payment_events (gateway, event_id, event_type, payload, \
            received_at, processed_at, outcome) VALUES ($1, $2, $3, $4, $5, NULL, NULL) \
            ON CONFLICT (gateway, event_id) DO NOTHING";
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .bind(gateway)
            .bind(event_id)
            .bind(event_type)
            .bind(payload)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records what applying an event did; `processed` false leaves it waiting.
    #[tracing::instrument(skip_all)]
    pub async fn payment_event_outcome(
        &self,
        gateway: &str,
        event_id: &str,
        outcome: &str,
        processed: bool,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE payment_events SET outcome = $1, processed_at = $2 \
            WHERE gateway = $3 AND event_id = $4 AND processed_at IS NULL";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(outcome)
            .bind(processed.then(super::now))
            .bind(gateway)
            .bind(event_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Up to `limit` events of `gateway` not yet applied, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn payment_events_waiting(
        &self,
        gateway: &str,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = "SELECT gateway, event_id, event_type, payload, received_at, processed_at, \
            outcome FROM payment_events WHERE gateway = $1 AND processed_at IS NULL \
            ORDER BY received_at, event_id LIMIT $2";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(gateway)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Records a paid top-up once: the payment row, the completed checkout and the
    /// gateway customer, in one transaction. Returns the payment (the existing one when
    /// already recorded).
    #[tracing::instrument(skip_all)]
    pub async fn payment_record_top_up(&self, paid: &PaidTopUp<'_>) -> Result<Payment, StoreError> {
        let now = super::now();
        let insert = "INSERT INTO payments (id, user_id, gateway, payment_ref, checkout_id, \
            amount, refunded, currency, ledger_transaction_id, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9, $9) \
            ON CONFLICT (gateway, payment_ref) DO NOTHING";
        let complete = "UPDATE payment_checkouts SET status = 'completed', completed_at = $1, \
            updated_at = $1 WHERE id = $2 AND status <> 'completed'";
        let select = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments WHERE gateway = $1 AND payment_ref = $2"
        );
        Ok(in_tx!(self, |tx| {
            sqlx::query(insert)
                .bind(new_id("pay"))
                .bind(paid.user_id)
                .bind(paid.gateway)
                .bind(paid.payment_ref)
                .bind(paid.checkout_id)
                .bind(paid.amount)
                .bind(paid.currency)
                .bind(paid.ledger_transaction_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(complete)
                .bind(now)
                .bind(paid.checkout_id)
                .execute(&mut *tx)
                .await?;
            if let Some(customer) = paid.customer_ref {
                sqlx::query(INSERT_CUSTOMER)
                    .bind(paid.user_id)
                    .bind(paid.gateway)
                    .bind(customer)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            let payment: Payment = sqlx::query_as(&select)
                .bind(paid.gateway)
                .bind(paid.payment_ref)
                .fetch_one(&mut *tx)
                .await?;
            payment
        }))
    }

    /// Records a paid subscription checkout once: the subscription, the completed checkout
    /// and the gateway customer. Returns the subscription.
    #[tracing::instrument(skip_all)]
    pub async fn subscription_record_checkout(
        &self,
        checkout: &Checkout,
        subscription_ref: &str,
        customer_ref: Option<&str>,
    ) -> Result<SubscriptionRow, StoreError> {
        let now = super::now();
        let insert = "INSERT INTO subscriptions (id, user_id, plan_id, billing_interval, \
            gateway, subscription_ref, checkout_id, period_start, paid_through, failed_through, \
            cancel_at_period_end, canceled_at, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, NULL, $8, NULL, $9, $9) \
            ON CONFLICT (gateway, subscription_ref) DO NOTHING";
        let complete = "UPDATE payment_checkouts SET status = 'completed', completed_at = $1, \
            updated_at = $1 WHERE id = $2 AND status <> 'completed'";
        let select = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE gateway = $1 AND subscription_ref = $2"
        );
        Ok(in_tx!(self, |tx| {
            sqlx::query(insert)
                .bind(new_id("sub"))
                .bind(&checkout.user_id)
                .bind(checkout.plan_id.as_deref().unwrap_or("pro"))
                .bind(checkout.billing_interval.as_deref().unwrap_or("monthly"))
                .bind(&checkout.gateway)
                .bind(subscription_ref)
                .bind(&checkout.id)
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(complete)
                .bind(now)
                .bind(&checkout.id)
                .execute(&mut *tx)
                .await?;
            if let Some(customer) = customer_ref {
                sqlx::query(INSERT_CUSTOMER)
                    .bind(&checkout.user_id)
                    .bind(&checkout.gateway)
                    .bind(customer)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            let row: SubscriptionRow = sqlx::query_as(&select)
                .bind(&checkout.gateway)
                .bind(subscription_ref)
                .fetch_one(&mut *tx)
                .await?;
            row
        }))
    }

    /// A subscription by its gateway reference.
    #[tracing::instrument(skip_all)]
    pub async fn subscription_by_ref(
        &self,
        gateway: &str,
        subscription_ref: &str,
    ) -> Result<Option<SubscriptionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE gateway = $1 AND subscription_ref = $2"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(gateway)
            .bind(subscription_ref)
            .fetch_optional(pool)
            .await)?)
    }

    /// A user's most recent subscription.
    #[tracing::instrument(skip_all)]
    pub async fn subscription_of_user(
        &self,
        user_id: &str,
    ) -> Result<Option<SubscriptionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Records a subscription invoice once and moves the subscription's paid or failed
    /// horizon forward (never back), so any order of invoice events ends the same. A paid
    /// invoice stays paid when its earlier failure arrives late.
    #[tracing::instrument(skip_all)]
    pub async fn invoice_record(&self, facts: &InvoiceFacts<'_>) -> Result<(), StoreError> {
        let now = super::now();
        let status = if facts.paid { "paid" } else { "payment_failed" };
        let upsert = "INSERT INTO invoices (id, user_id, subscription_id, gateway, invoice_ref, \
            number, amount, currency, status, period_start, period_end, ledger_transaction_id, \
            created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
            ON CONFLICT (gateway, invoice_ref) DO UPDATE SET \
            status = CASE WHEN invoices.status = 'paid' THEN 'paid' ELSE excluded.status END, \
            ledger_transaction_id = COALESCE(invoices.ledger_transaction_id, excluded.ledger_transaction_id), \
            number = COALESCE(invoices.number, excluded.number), updated_at = excluded.updated_at";
        let horizon = if facts.paid {
            "UPDATE subscriptions SET \
             paid_through = CASE WHEN paid_through IS NULL OR paid_through < $1 THEN $1 ELSE paid_through END, \
             period_start = CASE WHEN paid_through IS NULL OR paid_through < $1 THEN $2 ELSE period_start END, \
             updated_at = $3 WHERE id = $4"
        } else {
            "UPDATE subscriptions SET \
             failed_through = CASE WHEN failed_through IS NULL OR failed_through < $1 THEN $1 ELSE failed_through END, \
             period_start = COALESCE(period_start, $2), updated_at = $3 WHERE id = $4"
        };
        let sub = facts.subscription;
        in_tx!(self, |tx| {
            sqlx::query(upsert)
                .bind(new_id("inv"))
                .bind(&sub.user_id)
                .bind(&sub.id)
                .bind(&sub.gateway)
                .bind(facts.invoice_ref)
                .bind(facts.number)
                .bind(facts.amount)
                .bind(facts.currency)
                .bind(status)
                .bind(facts.period_start)
                .bind(facts.period_end)
                .bind(facts.ledger_transaction_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(horizon)
                .bind(facts.period_end)
                .bind(facts.period_start)
                .bind(now)
                .bind(&sub.id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Marks a subscription canceled at `at` (the first cancellation wins).
    #[tracing::instrument(skip_all)]
    pub async fn subscription_canceled(
        &self,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE subscriptions SET canceled_at = COALESCE(canceled_at, $1), \
            updated_at = $2 WHERE id = $3";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(at)
            .bind(super::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets whether a subscription ends at its period's end.
    #[tracing::instrument(skip_all)]
    pub async fn subscription_set_cancel_at_period_end(
        &self,
        id: &str,
        value: bool,
    ) -> Result<(), StoreError> {
        let sql =
            "UPDATE subscriptions SET cancel_at_period_end = $1, updated_at = $2 WHERE id = $3";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(value)
            .bind(super::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A user's invoices, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn invoices_of_user(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<Invoice>, StoreError> {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE user_id = $1 \
             ORDER BY period_start DESC, id DESC LIMIT $2"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// The user a gateway customer belongs to.
    #[tracing::instrument(skip_all)]
    pub async fn customer_user(
        &self,
        gateway: &str,
        customer_ref: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT user_id FROM payment_customers WHERE gateway = $1 AND customer_ref = $2";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(gateway)
            .bind(customer_ref)
            .fetch_optional(pool)
            .await)?)
    }

    /// A user's gateway customer, if any.
    #[tracing::instrument(skip_all)]
    pub async fn customer_of_user(
        &self,
        user_id: &str,
        gateway: &str,
    ) -> Result<Option<String>, StoreError> {
        let sql = "SELECT customer_ref FROM payment_customers WHERE user_id = $1 AND gateway = $2";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(user_id)
            .bind(gateway)
            .fetch_optional(pool)
            .await)?)
    }

    /// Saves a payment method once.
    #[tracing::instrument(skip_all)]
    pub async fn payment_method_insert(&self, method: &PaymentMethod) -> Result<(), StoreError> {
        let sql = "INSERT INTO payment_methods (id, user_id, gateway, method_ref, brand, last4, \
            exp_month, exp_year, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
            ON CONFLICT (gateway, method_ref) DO NOTHING";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(&method.id)
            .bind(&method.user_id)
            .bind(&method.gateway)
            .bind(&method.method_ref)
            .bind(&method.brand)
            .bind(&method.last4)
            .bind(method.exp_month)
            .bind(method.exp_year)
            .bind(method.created_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A user's saved payment methods, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn payment_methods_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<PaymentMethod>, StoreError> {
        let sql = "SELECT id, user_id, gateway, method_ref, brand, last4, exp_month, exp_year, \
            created_at FROM payment_methods WHERE user_id = $1 ORDER BY created_at DESC, id DESC";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// A payment by id.
    #[tracing::instrument(skip_all)]
    pub async fn payment(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Payments newest first, optionally of one user, older than the `before` id.
    #[tracing::instrument(skip_all)]
    pub async fn payments_list(
        &self,
        user_id: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Payment>, StoreError> {
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Reserves `amount` of a payment for a new pending refund: fails (returns `None`,
    /// nothing stored) when it would take the refunded total above the captured amount.
    #[tracing::instrument(skip_all)]
    pub async fn refund_reserve(
        &self,
        payment: &Payment,
        amount: i64,
        reason: &str,
        requested_by: &str,
    ) -> Result<Option<Refund>, StoreError> {
        let now = super::now();
        let id = new_id("re");
        let reserve = "UPDATE payments SET refunded = refunded + $1, updated_at = $2 \
            WHERE id = $3 AND refunded + $1 <= amount";
        let insert = "INSERT INTO refunds (id, payment_id, user_id, amount, reason, status, \
            gateway_ref, requested_by, ledger_transaction_id, reversal_transaction_id, \
            created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', NULL, $6, NULL, NULL, $7, $7)";
        let reserved = in_tx!(self, |tx| {
            let done = sqlx::query(reserve)
                .bind(amount)
                .bind(now)
                .bind(&payment.id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(None);
            }
            sqlx::query(insert)
                .bind(&id)
                .bind(&payment.id)
                .bind(&payment.user_id)
                .bind(amount)
                .bind(reason)
                .bind(requested_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            true
        });
        if !reserved {
            return Ok(None);
        }
        self.refund(&id).await
    }

    /// A refund by id.
    #[tracing::instrument(skip_all)]
    pub async fn refund(&self, id: &str) -> Result<Option<Refund>, StoreError> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// A refund by its gateway reference.
    #[tracing::instrument(skip_all)]
    pub async fn refund_by_ref(&self, gateway_ref: &str) -> Result<Option<Refund>, StoreError> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE gateway_ref = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(gateway_ref)
            .fetch_optional(pool)
            .await)?)
    }

    /// Records the ledger transaction that took a refund out of the wallet.
    #[tracing::instrument(skip_all)]
    pub async fn refund_set_ledger(
        &self,
        id: &str,
        transaction_id: &str,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE refunds SET ledger_transaction_id = $1, updated_at = $2 WHERE id = $3";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(transaction_id)
            .bind(super::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Records the gateway's answer for a pending refund (`succeeded` or `pending`); a
    /// failed refund stays failed.
    #[tracing::instrument(skip_all)]
    pub async fn refund_confirm(
        &self,
        id: &str,
        gateway_ref: Option<&str>,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE refunds SET gateway_ref = COALESCE(gateway_ref, $1), \
            status = CASE WHEN status = 'pending' AND $2 THEN 'succeeded' ELSE status END, \
            updated_at = $3 WHERE id = $4";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(gateway_ref)
            .bind(succeeded)
            .bind(super::now())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Fails a refund that is not failed yet and releases its amount on the payment;
    /// returns whether it changed (so the caller gives the money back once).
    #[tracing::instrument(skip_all)]
    pub async fn refund_fail(
        &self,
        id: &str,
        reversal_transaction_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = super::now();
        let fail = "UPDATE refunds SET status = 'failed', reversal_transaction_id = $1, \
            updated_at = $2 WHERE id = $3 AND status <> 'failed' RETURNING payment_id, amount";
        let release = "UPDATE payments SET refunded = refunded - $1, updated_at = $2 WHERE id = $3";
        Ok(in_tx!(self, |tx| {
            let row: Option<(String, i64)> = sqlx::query_as(fail)
                .bind(reversal_transaction_id)
                .bind(now)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            match row {
                Some((payment_id, amount)) => {
                    sqlx::query(release)
                        .bind(amount)
                        .bind(now)
                        .bind(payment_id)
                        .execute(&mut *tx)
                        .await?;
                    true
                }
                None => false,
            }
        }))
    }

    /// Pending refunds created before `cutoff` that never reached the gateway (no gateway
    /// reference yet), oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn refunds_unsent(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Refund>, StoreError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE status = 'pending' AND gateway_ref IS NULL \
             AND created_at <= $1 ORDER BY created_at, id LIMIT $2"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Expires checkouts still open that were created before `cutoff`; returns how many.
    #[tracing::instrument(skip_all)]
    pub async fn checkouts_expire(&self, cutoff: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = "UPDATE payment_checkouts SET status = 'expired', updated_at = $1 \
            WHERE status = 'open' AND created_at <= $2";
        Ok(on_pool!(self, |pool| sqlx::query(sql)
            .bind(super::now())
            .bind(cutoff)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Refunds newest first, optionally of one payment, older than the `before` id.
    #[tracing::instrument(skip_all)]
    pub async fn refunds_list(
        &self,
        payment_id: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Refund>, StoreError> {
        let sql = format!(
            "SELECT {REFUND_COLUMNS} FROM refunds \
             WHERE ($1 IS NULL OR payment_id = $1) AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(payment_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Claims an idempotency key for a request with `fingerprint`, or reports what
    /// happened to it. A claim older than `stale_after_secs` whose request never finished
    /// (a crashed process) is taken over.
    #[tracing::instrument(skip_all)]
    pub async fn idempotency_claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        stale_after_secs: i64,
    ) -> Result<IdempotencyClaim, StoreError> {
        let now = super::now();
        let insert = "INSERT INTO idempotency_requests (scope, key, fingerprint, state, \
            status_code, response, created_at) VALUES ($1, $2, $3, 'in_progress', NULL, NULL, $4) \
            ON CONFLICT (scope, key) DO NOTHING";
        let select = "SELECT fingerprint, state, status_code, response, created_at \
            FROM idempotency_requests WHERE scope = $1 AND key = $2";
        let take_over = "UPDATE idempotency_requests SET created_at = $1 \
            WHERE scope = $2 AND key = $3 AND state = 'in_progress' AND created_at = $4";
        type Row = (String, String, Option<i32>, Option<String>, DateTime<Utc>);
        Ok(in_tx!(self, |tx| {
            let inserted = sqlx::query(insert)
                .bind(scope)
                .bind(key)
                .bind(fingerprint)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if inserted {
                IdempotencyClaim::Claimed
            } else {
                let (stored, state, status, body, created): Row = sqlx::query_as(select)
                    .bind(scope)
                    .bind(key)
                    .fetch_one(&mut *tx)
                    .await?;
                if stored != fingerprint {
                    IdempotencyClaim::Mismatch
                } else if state == "done" {
                    IdempotencyClaim::Done {
                        status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200),
                        body: body.unwrap_or_default(),
                    }
                } else if (now - created).num_seconds() >= stale_after_secs
                    && sqlx::query(take_over)
                        .bind(now)
                        .bind(scope)
                        .bind(key)
                        .bind(created)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1
                {
                    IdempotencyClaim::Claimed
                } else {
                    IdempotencyClaim::InProgress
                }
            }
        }))
    }

    /// Stores the response of a claimed request.
    #[tracing::instrument(skip_all)]
    pub async fn idempotency_complete(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError> {
        let sql =
            "UPDATE idempotency_requests SET state = 'done', status_code = $1, response = $2 \
            WHERE scope = $3 AND key = $4";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(i32::from(status))
            .bind(body)
            .bind(scope)
            .bind(key)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Forgets a claim whose request failed on our side, so the client can retry it.
    #[tracing::instrument(skip_all)]
    pub async fn idempotency_release(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let sql = "DELETE FROM idempotency_requests WHERE scope = $1 AND key = $2 AND state = 'in_progress'";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(scope)
            .bind(key)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

const INSERT_CUSTOMER: &str = "INSERT INTO payment_customers (user_id, gateway, customer_ref, \
    created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
