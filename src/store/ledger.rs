//! Ledger writes: a write transaction ([`LedgerTx`]) with one method per statement (reads
//! are in `ledger_read`, the invariant checks in `ledger_verify`).
//!
//! A [`LedgerTx`] on SQLite starts with `BEGIN IMMEDIATE`, so the write lock is held from
//! the first read (balance checks and writes see one state; other writers wait on the busy
//! timeout instead of failing on lock upgrade). On PostgreSQL rows are locked with
//! `SELECT … FOR UPDATE` in the order the service asks for them (holds, then accounts by
//! id, then the audit append lock), so concurrent operations queue instead of
//! deadlocking.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Backend, Store, StoreError};
use crate::domain::audit::{canonical_json, AuditEntry};
use crate::domain::money::MicroUsd;
use crate::ledger::rules::AccountState;
use crate::ledger::{AccountKind, Hold, HoldStatus, Side, CURRENCY};

/// An open ledger write transaction; dropped without [`LedgerTx::commit`] it rolls back.
pub enum LedgerTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            LedgerTx::Sqlite(tx) => {
                let $conn = &mut **tx;
                $body
            }
            LedgerTx::Postgres(tx) => {
                let $conn = &mut **tx;
                $body
            }
        }
    };
}

/// A stored idempotency record.
#[derive(Debug, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub operation: String,
    pub request_hash: String,
    pub response: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct AccountRow {
    id: String,
    kind: String,
    balance: i64,
    pending_debits: i64,
    pending_credits: i64,
}

impl AccountRow {
    pub(super) fn into_state(self) -> Result<AccountState, StoreError> {
        let kind = AccountKind::parse(&self.kind)
            .ok_or_else(|| StoreError::Invalid(format!("unknown account kind {}", self.kind)))?;
        Ok(AccountState {
            id: self.id,
            kind,
            balance: self.balance,
            pending_debits: self.pending_debits,
            pending_credits: self.pending_credits,
        })
    }
}

pub(super) const HOLD_COLUMNS: &str =
    "h.id, a.owner_id, h.amount, h.captured, h.status, h.expires_at, \
    h.created_at, h.resolved_at, h.capture_transaction_id";

#[derive(sqlx::FromRow)]
pub(super) struct HoldRow {
    id: String,
    owner_id: Option<String>,
    amount: i64,
    captured: i64,
    status: String,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    capture_transaction_id: Option<String>,
}

impl HoldRow {
    pub(super) fn into_hold(self) -> Result<Hold, StoreError> {
        let status = HoldStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Invalid(format!("unknown hold status {}", self.status)))?;
        Ok(Hold {
            id: self.id,
            user_id: self.owner_id.unwrap_or_default(),
            amount: MicroUsd(self.amount),
            captured: MicroUsd(self.captured),
            status,
            expires_at: self.expires_at,
            created_at: self.created_at,
            resolved_at: self.resolved_at,
            capture_transaction_id: self.capture_transaction_id,
        })
    }
}

/// A new posted transaction's row.
pub struct NewTransaction<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub scope: &'a str,
    pub idempotency_key: &'a str,
    pub created_at: DateTime<Utc>,
    pub metadata: &'a Value,
}

/// A new hold's row.
pub struct NewHold<'a> {
    pub id: &'a str,
    pub wallet_id: &'a str,
    pub amount: MicroUsd,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub metadata: &'a Value,
}

impl Store {
    /// Starts a ledger write transaction.
    pub async fn ledger_begin(&self) -> Result<LedgerTx, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite(pool) => LedgerTx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres(pool) => LedgerTx::Postgres(pool.begin().await?),
        })
    }
}

impl LedgerTx {
    /// The record of an earlier operation with this key, if any.
    pub async fn idempotency_get(
        &mut self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRow>, StoreError> {
        let sql = "SELECT operation, request_hash, response FROM ledger_idempotency \
            WHERE scope = $1 AND key = $2";
        Ok(on_tx!(self, |conn| sqlx::query_as(sql)
            .bind(scope)
            .bind(key)
            .fetch_optional(conn)
            .await)?)
    }

    /// Records an operation's result under its key; a concurrent twice-used key fails here
    /// with a unique violation (the caller retries and replays).
    pub async fn idempotency_put(
        &mut self,
        scope: &str,
        key: &str,
        operation: &str,
        request_hash: &str,
        response: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO ledger_idempotency \
            (scope, key, operation, request_hash, response, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(scope)
            .bind(key)
            .bind(operation)
            .bind(request_hash)
            .bind(response)
            .bind(super::now())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Locks the accounts `ids` (sorted, distinct) in id order with one statement and
    /// returns those that exist, in id order.
    pub async fn accounts_lock(&mut self, ids: &[&str]) -> Result<Vec<AccountState>, StoreError> {
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let mut sql = format!(
            "SELECT id, kind, balance, pending_debits, pending_credits \
             FROM ledger_accounts WHERE id IN ({}) ORDER BY id",
            placeholders.join(", ")
        );
        if matches!(self, LedgerTx::Postgres(_)) {
            sql.push_str(" FOR UPDATE");
        }
        let rows: Vec<AccountRow> = on_tx!(self, |conn| {
            let mut query = sqlx::query_as(&sql);
            for id in ids {
                query = query.bind(*id);
            }
            query.fetch_all(conn).await
        })?;
        rows.into_iter().map(AccountRow::into_state).collect()
    }

    /// Creates an account unless it exists; `Ok(true)` when created. A wallet of an
    /// unknown user fails with `Invalid`.
    pub async fn account_create(
        &mut self,
        id: &str,
        kind: AccountKind,
        owner_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO ledger_accounts (id, kind, owner_id, currency, created_at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING";
        let done = on_tx!(self, |conn| sqlx::query(sql)
            .bind(id)
            .bind(kind.as_str())
            .bind(owner_id)
            .bind(CURRENCY)
            .bind(super::now())
            .execute(conn)
            .await
            .map(|r| r.rows_affected()));
        match done {
            Ok(n) => Ok(n == 1),
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => Err(
                StoreError::Invalid(format!("no user {}", owner_id.unwrap_or_default())),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes the cached balances of `accounts` with one statement.
    pub async fn accounts_update(&mut self, accounts: &[AccountState]) -> Result<(), StoreError> {
        let (mut balance, mut debits, mut credits, mut ids) =
            (String::new(), String::new(), String::new(), Vec::new());
        for n in 0..accounts.len() {
            let id = 4 * n + 1;
            balance.push_str(&format!(" WHEN ${id} THEN CAST(${} AS BIGINT)", id + 1));
            debits.push_str(&format!(" WHEN ${id} THEN CAST(${} AS BIGINT)", id + 2));
            credits.push_str(&format!(" WHEN ${id} THEN CAST(${} AS BIGINT)", id + 3));
            ids.push(format!("${id}"));
        }
        let sql = format!(
            "UPDATE ledger_accounts SET balance = CASE id{balance} END, \
             pending_debits = CASE id{debits} END, pending_credits = CASE id{credits} END \
             WHERE id IN ({})",
            ids.join(", ")
        );
        on_tx!(self, |conn| {
            let mut query = sqlx::query(&sql);
            for a in accounts {
                query = query
                    .bind(&a.id)
                    .bind(a.balance)
                    .bind(a.pending_debits)
                    .bind(a.pending_credits);
            }
            query.execute(conn).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Inserts a posted transaction's row.
    pub async fn transaction_insert(&mut self, t: &NewTransaction<'_>) -> Result<(), StoreError> {
        let sql = "INSERT INTO ledger_transactions \
            (id, kind, scope, idempotency_key, created_at, metadata) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(t.id)
            .bind(t.kind)
            .bind(t.scope)
            .bind(t.idempotency_key)
            .bind(t.created_at)
            .bind(canonical_json(t.metadata))
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Inserts one entry (leg `leg` of `transaction_id`).
    pub async fn entry_insert(
        &mut self,
        transaction_id: &str,
        leg: i64,
        account_id: &str,
        side: Side,
        amount: MicroUsd,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO ledger_entries (transaction_id, leg, account_id, side, amount) \
            VALUES ($1, $2, $3, $4, $5)";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(transaction_id)
            .bind(leg)
            .bind(account_id)
            .bind(side.as_str())
            .bind(amount.0)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Locks a hold row for the rest of the transaction and returns it.
    pub async fn hold_lock(&mut self, id: &str) -> Result<Option<(Hold, String)>, StoreError> {
        let base = format!(
            "SELECT {HOLD_COLUMNS}, h.wallet_id FROM ledger_holds h \
             JOIN ledger_accounts a ON a.id = h.wallet_id WHERE h.id = $1"
        );
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            hold: HoldRow,
            wallet_id: String,
        }
        let row: Option<Row> = match self {
            LedgerTx::Sqlite(tx) => {
                sqlx::query_as(&base)
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            LedgerTx::Postgres(tx) => {
                sqlx::query_as(&format!("{base} FOR UPDATE OF h"))
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        };
        row.map(|r| Ok((r.hold.into_hold()?, r.wallet_id)))
            .transpose()
    }

    /// Inserts a pending hold.
    pub async fn hold_insert(&mut self, h: &NewHold<'_>) -> Result<(), StoreError> {
        let sql = "INSERT INTO ledger_holds \
            (id, wallet_id, amount, captured, status, expires_at, created_at, metadata) \
            VALUES ($1, $2, $3, 0, 'pending', $4, $5, $6)";
        on_tx!(self, |conn| sqlx::query(sql)
            .bind(h.id)
            .bind(h.wallet_id)
            .bind(h.amount.0)
            .bind(h.expires_at)
            .bind(h.created_at)
            .bind(canonical_json(h.metadata))
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Resolves a pending hold; `Ok(false)` when it was no longer pending.
    pub async fn hold_resolve(&mut self, hold: &Hold) -> Result<bool, StoreError> {
        let sql = "UPDATE ledger_holds SET status = $2, captured = $3, resolved_at = $4, \
            capture_transaction_id = $5 WHERE id = $1 AND status = 'pending'";
        let done = on_tx!(self, |conn| sqlx::query(sql)
            .bind(&hold.id)
            .bind(hold.status.as_str())
            .bind(hold.captured.0)
            .bind(hold.resolved_at)
            .bind(&hold.capture_transaction_id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Appends the operation's audit entry inside this transaction (I15); on PostgreSQL
    /// this takes the audit append lock, so call it after every row lock.
    pub async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: Value,
    ) -> Result<AuditEntry, StoreError> {
        match self {
            LedgerTx::Sqlite(tx) => {
                super::audit::append_sqlite(tx, actor, action, target, detail).await
            }
            LedgerTx::Postgres(tx) => {
                super::audit::append_postgres(tx, actor, action, target, detail).await
            }
        }
    }

    /// Commits every write of the transaction at once.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            LedgerTx::Sqlite(tx) => tx.commit().await?,
            LedgerTx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
