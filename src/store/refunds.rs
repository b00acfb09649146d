//! Refund records: reserved against a payment's captured amount (the database refuses a
//! refunded total above it), then confirmed or failed.

use chrono::{DateTime, Utc};

use super::payments::{new_id, Payment, Refund, REFUND_COLUMNS};
use super::{in_tx, on_pool, Store, StoreError};

impl Store {
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
}
