//! Stored responses of requests sent with an `Idempotency-Key` (see
//! `http::idempotency`).

use chrono::{DateTime, Utc};

use super::{in_tx, on_pool, Store, StoreError};

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

impl Store {
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
