//! Subscription and invoice records. A subscription's paid and failed horizons only move
//! forward, so invoice events in any order end in the same state.

use chrono::{DateTime, Utc};

use super::payments::{
    new_id, Checkout, Invoice, InvoiceFacts, SubscriptionRow, INSERT_CUSTOMER, INVOICE_COLUMNS,
    SUBSCRIPTION_COLUMNS,
};
use super::{in_tx, on_pool, Store, StoreError};

impl Store {
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
}
