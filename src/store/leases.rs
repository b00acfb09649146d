//! Leader leases: one row per lease name with its holder, fencing token and expiry.
//!
//! Acquiring and renewing are one statement: an upsert that only takes the row when it is
//! free (expired) or already ours. The fencing token rises whenever the lease changes
//! hands or is taken again after it expired, so a holder that was paused past its expiry
//! can tell (and be told) that its turn is over. Times come from the caller's clock:
//! replicas are expected to keep their clocks in sync (NTP), skew eats into the TTL.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError};

/// A lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize, utoipa::ToSchema)]
pub struct LeaseRow {
    /// What the lease guards, e.g. `ingest:demo` or `maintenance`.
    pub name: String,
    /// The replica holding (or last holding) it.
    pub holder: String,
    /// Fencing token: rises on every change of holder.
    pub token: i64,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Takes or renews the lease `name` for `holder` until `expires_at`, when it is free
    /// (expired at `now`) or already held by `holder`. The fencing token on success,
    /// `None` while another holder's lease runs.
    #[tracing::instrument(skip_all, fields(lease = name))]
    pub async fn lease_acquire(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        // `ours` keeps the token of a running lease of the same holder; anything else is a
        // new term. Both dialects read the old row in SET, whatever the order.
        let sql = "INSERT INTO leases (name, holder, token, acquired_at, expires_at) \
                   VALUES ($1, $2, 1, $3, $4) \
                   ON CONFLICT (name) DO UPDATE SET \
                     token = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.acquired_at \
                             THEN leases.token ELSE leases.token + 1 END, \
                     acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.acquired_at \
                             THEN leases.acquired_at ELSE excluded.acquired_at END, \
                     holder = excluded.holder, \
                     expires_at = excluded.expires_at \
                   WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at \
                   RETURNING token";
        let token = on_pool!(self, |pool| sqlx::query_scalar::<_, i64>(sql)
            .bind(name)
            .bind(holder)
            .bind(now)
            .bind(expires_at)
            .fetch_optional(pool)
            .await)?;
        Ok(token)
    }

    /// Ends `holder`'s term `token` of the lease `name` at `now`, so another replica may
    /// take it at once; false when that term was already over.
    #[tracing::instrument(skip_all, fields(lease = name))]
    pub async fn lease_release(
        &self,
        name: &str,
        holder: &str,
        token: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE leases SET expires_at = $4 \
                   WHERE name = $1 AND holder = $2 AND token = $3 AND expires_at > $4";
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .bind(name)
            .bind(holder)
            .bind(token)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Every lease, by name.
    #[tracing::instrument(skip_all)]
    pub async fn leases(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let sql = "SELECT name, holder, token, acquired_at, expires_at FROM leases ORDER BY name";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, LeaseRow>(sql)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }
}
