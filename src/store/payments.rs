//! Payment records: checkouts, gateway events (each applied once), payments, payment
//! methods and gateway customers; refunds, subscriptions and invoices are in `refunds` and
//! `subscriptions` (the record types of all of them are here). Money itself moves only
//! in the ledger; these rows say why it moved and keep each gateway effect unique
//! (`UNIQUE (gateway, …_ref)`), so applying a gateway event twice adds nothing.

use chrono::{DateTime, Utc};

use super::{in_tx, on_pool, Store, StoreError};

pub use super::payment_records::*;

const CHECKOUT_COLUMNS: &str = "id, user_id, gateway, session_ref, purpose, plan_id, \
    billing_interval, amount, currency, status, url, success_url, cancel_url, created_at, \
    updated_at, completed_at";
const PAYMENT_COLUMNS: &str = "id, user_id, gateway, payment_ref, checkout_id, amount, \
    refunded, currency, ledger_transaction_id, created_at, updated_at";
pub(super) const REFUND_COLUMNS: &str =
    "id, payment_id, user_id, amount, reason, status, gateway_ref, \
    requested_by, ledger_transaction_id, reversal_transaction_id, created_at, updated_at";
pub(super) const SUBSCRIPTION_COLUMNS: &str = "id, user_id, plan_id, billing_interval, gateway, \
    subscription_ref, checkout_id, period_start, paid_through, failed_through, \
    cancel_at_period_end, canceled_at, created_at, updated_at";
pub(super) const INVOICE_COLUMNS: &str =
    "id, user_id, subscription_id, gateway, invoice_ref, number, \
    amount, currency, status, period_start, period_end, ledger_transaction_id, created_at, \
    updated_at";

pub(super) fn new_id(prefix: &str) -> String {
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
}

pub(super) const INSERT_CUSTOMER: &str =
    "INSERT INTO payment_customers (user_id, gateway, customer_ref, \
    created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
