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
pub(super) const APPEND_LOCK_KEY: i64 = 0x6770_6261_7564_6974;

const SELECT_ENTRY: &str =
    "SELECT seq, at, actor, action, target, detail, prev_hash, hash FROM audit_log";

pub(super) const HEAD_SQL: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
const INSERT_SQL: &str = "INSERT INTO audit_log \
    (seq, at, actor, action, target, detail, prev_hash, hash) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// Reads the head and inserts the next entry on `$conn` (a connection inside a
/// transaction that already holds the append lock).
macro_rules! append_on {
    ($conn:expr, $actor:expr, $action:expr, $target:expr, $detail:expr) => {{
        let detail: Value = $detail;
        if !detail.is_object() {
            return Err(StoreError::Invalid(
                "audit detail must be a JSON object".to_owned(),
            ));
        }
        let head: Option<(i64, String)> =
            sqlx::query_as(HEAD_SQL).fetch_optional(&mut *$conn).await?;
        let head = head.map_or_else(ChainHead::genesis, |(seq, hash)| ChainHead { seq, hash });
        let entry = AuditEntry::next(&head, super::now(), $actor, $action, $target, detail);
        sqlx::query(INSERT_SQL)
            .bind(entry.seq)
            .bind(entry.at)
            .bind(&entry.actor)
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(canonical_json(&entry.detail))
            .bind(&entry.prev_hash)
            .bind(&entry.hash)
            .execute(&mut *$conn)
            .await?;
        Ok(entry)
    }};
}

/// Appends an entry inside the caller's SQLite transaction, which must have been started
/// with `BEGIN IMMEDIATE` (the write lock serialises appenders); it is part of the
/// caller's commit or rollback.
pub(crate) async fn append_sqlite(
    conn: &mut sqlx::SqliteConnection,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Value,
) -> Result<AuditEntry, StoreError> {
    append_on!(conn, actor, action, target, detail)
}

/// Appends an entry inside the caller's PostgreSQL transaction: takes the
/// transaction-scoped append lock (held until the caller commits or rolls back), then
/// links the entry to the head. Callers that lock other rows take them before calling
/// this, so the append lock is always the last one taken.
pub(crate) async fn append_postgres(
    conn: &mut sqlx::PgConnection,
    actor: &str,
    action: &str,
    target: Option<&str>,
    detail: Value,
) -> Result<AuditEntry, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(APPEND_LOCK_KEY)
        .execute(&mut *conn)
        .await?;
    append_on!(conn, actor, action, target, detail)
}

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
        let entry = match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let entry = append_sqlite(&mut tx, actor, action, target, detail).await?;
                tx.commit().await?;
                entry
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let entry = append_postgres(&mut tx, actor, action, target, detail).await?;
                tx.commit().await?;
                entry
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
