//! The audit log: appends to the hash chain, listing, checkpoints and verification.
//!
//! Appends are serialised so every entry links to the one before it: on PostgreSQL with a
//! transaction-scoped advisory lock, on SQLite with `BEGIN IMMEDIATE` (the write lock is
//! taken before the head is read; other writers wait on the busy timeout).

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde_json::Value;

use super::{on_pool, Backend, Store, StoreError};
use crate::domain::audit::{
    canonical_json, AuditCheckpoint, AuditEntry, ChainHead, ChainVerifier, CheckpointSource,
    VerifyReport,
};

/// Key of the PostgreSQL advisory lock that serialises appends ("gpbaudit" in ASCII).
const APPEND_LOCK_KEY: i64 = 0x6770_6261_7564_6974;

const SELECT_ENTRY: &str =
    "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log";

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: DateTime<Utc>,
    actor: String,
    action: String,
    target: Option<String>,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl AuditRow {
    /// The stored entry. A `detail` that is not JSON (only possible by editing the table)
    /// is kept as a JSON string, whose hash can never match an appended entry's.
    fn into_entry(self) -> AuditEntry {
        let detail = serde_json::from_str(&self.detail).unwrap_or(Value::String(self.detail));
        AuditEntry {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            detail,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl Store {
    /// Appends an entry to the audit log and returns it: `actor` is a user id, `system` or
    /// `cli:<os user>`; `action` is `area.verb` (e.g. `config.set`, `auth.login`); `target`
    /// the object acted on; `detail` a JSON object of further facts (never secrets).
    ///
    /// Reading the head and inserting the next entry happen in one transaction that
    /// concurrent appenders (other tasks or replicas) wait for, so seqs have no gaps and
    /// every entry links to its predecessor. Fails with `Invalid` when `detail` is not an
    /// object.
    #[tracing::instrument(skip_all, fields(action))]
    pub async fn audit_append(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Value,
    ) -> Result<AuditEntry, StoreError> {
        if !detail.is_object() {
            return Err(StoreError::Invalid(
                "audit detail must be a JSON object".to_owned(),
            ));
        }
        let head_sql = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
        let insert = "INSERT INTO audit_log \
            (seq, at, actor, action, target, detail, prev_hash, hash) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        macro_rules! append {
            ($tx:expr) => {{
                let mut tx = $tx;
                let head: Option<(i64, String)> =
                    sqlx::query_as(head_sql).fetch_optional(&mut *tx).await?;
                let head =
                    head.map_or_else(ChainHead::genesis, |(seq, hash)| ChainHead { seq, hash });
                let entry = AuditEntry::next(&head, super::now(), actor, action, target, detail);
                sqlx::query(insert)
                    .bind(entry.seq)
                    .bind(entry.at)
                    .bind(&entry.actor)
                    .bind(&entry.action)
                    .bind(&entry.target)
                    .bind(canonical_json(&entry.detail))
                    .bind(&entry.prev_hash)
                    .bind(&entry.hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                entry
            }};
        }
        let entry = match &self.backend {
            Backend::Sqlite(pool) => append!(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(APPEND_LOCK_KEY)
                    .execute(&mut *tx)
                    .await?;
                append!(tx)
            }
        };
        Ok(entry)
    }

    /// Up to `limit` entries with a seq above `after_seq`, in seq order.
    #[tracing::instrument(skip_all)]
    pub async fn audit_list(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!("{SELECT_ENTRY} WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, AuditRow>(&sql)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(AuditRow::into_entry).collect())
    }

    /// The newest entry's seq and hash (genesis when the log is empty).
    #[tracing::instrument(skip_all)]
    pub async fn audit_head(&self) -> Result<ChainHead, StoreError> {
        let sql = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
        let head: Option<(i64, String)> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_optional(pool).await)?;
        Ok(head.map_or_else(ChainHead::genesis, |(seq, hash)| ChainHead { seq, hash }))
    }

    /// Records the current head in `audit_checkpoints` and returns it; recording the same
    /// head twice keeps the first record.
    #[tracing::instrument(skip_all)]
    pub async fn audit_checkpoint(&self) -> Result<AuditCheckpoint, StoreError> {
        let head = self.audit_head().await?;
        let insert = "INSERT INTO audit_checkpoints (seq, hash, at) VALUES ($1, $2, $3) \
            ON CONFLICT (seq) DO NOTHING";
        on_pool!(self, |pool| sqlx::query(insert)
            .bind(head.seq)
            .bind(&head.hash)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|_| ()))?;
        let select = "SELECT seq, hash, at FROM audit_checkpoints WHERE seq = $1";
        let (seq, hash, at): (i64, String, DateTime<Utc>) =
            on_pool!(self, |pool| sqlx::query_as(select)
                .bind(head.seq)
                .fetch_one(pool)
                .await)?;
        Ok(AuditCheckpoint { seq, hash, at })
    }

    /// The checkpoint with the highest seq, if any was recorded.
    #[tracing::instrument(skip_all)]
    pub async fn audit_latest_checkpoint(&self) -> Result<Option<AuditCheckpoint>, StoreError> {
        let sql = "SELECT seq, hash, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1";
        let row: Option<(i64, String, DateTime<Utc>)> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_optional(pool).await)?;
        Ok(row.map(|(seq, hash, at)| AuditCheckpoint { seq, hash, at }))
    }

    /// Verifies the whole chain, streamed in seq order, against the newest recorded
    /// checkpoint and `exported` (a checkpoint kept outside the database), if given.
    #[tracing::instrument(skip_all)]
    pub async fn audit_verify(
        &self,
        exported: Option<&AuditCheckpoint>,
    ) -> Result<VerifyReport, StoreError> {
        let mut checkpoints = Vec::new();
        if let Some(cp) = self.audit_latest_checkpoint().await? {
            checkpoints.push((CheckpointSource::Database, cp));
        }
        if let Some(cp) = exported {
            checkpoints.push((CheckpointSource::File, cp.clone()));
        }
        let mut verifier = ChainVerifier::new(checkpoints);
        let sql = format!("{SELECT_ENTRY} ORDER BY seq");
        on_pool!(self, |pool| {
            let mut rows = sqlx::query_as::<_, AuditRow>(&sql).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                verifier.push(&row.into_entry());
            }
        });
        Ok(verifier.finish())
    }
}
