//! The final writes of a ledger operation in one statement: the posted transaction and
//! its entries (multi-row), the cached balances, the idempotency record and the audit
//! entry (I15).
//!
//! - PostgreSQL: the audit append lock is taken by one statement, then everything is
//!   written by one statement of data-modifying CTEs whose last part reads the chain head
//!   and computes the entry's hash in SQL (`sha256` over the same canonical bytes as
//!   `domain::audit`). The head is read by a statement that starts after the lock was
//!   granted, so it sees the previous holder's commit; the lock is held for that statement
//!   and the commit only.
//! - SQLite: the write lock is held since `BEGIN IMMEDIATE`; the head is read, the entry
//!   hashed in Rust, and the writes sent as one multi-statement query (one hand-off to the
//!   connection's worker thread instead of one per statement).
//!
//! A failure of any part fails the statement; the caller's transaction then rolls back.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::audit::{APPEND_LOCK_KEY, HEAD_SQL};
use super::ledger::LedgerTx;
use super::StoreError;
use crate::domain::audit::{canonical_json, AuditEntry, ChainHead, GENESIS_HASH};
use crate::ledger::rules::AccountState;
use crate::ledger::Entry;

/// A posted transaction's row and its entries.
pub struct NewPosting<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub scope: &'a str,
    pub idempotency_key: &'a str,
    pub created_at: DateTime<Utc>,
    pub metadata: &'a Value,
    pub entries: &'a [Entry],
}

/// An operation's result, recorded under its idempotency key.
pub struct IdempotencyRecord<'a> {
    pub scope: &'a str,
    pub key: &'a str,
    pub operation: &'a str,
    pub request_hash: &'a str,
    pub response: &'a str,
}

/// The audit entry of an operation (`detail` must be a JSON object).
pub struct AuditRecord<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Value,
}

/// Everything an operation writes once its checks have passed.
pub struct LedgerWrites<'a> {
    /// The transaction it posts, if any.
    pub posting: Option<NewPosting<'a>>,
    /// Accounts whose cached balances changed (none when already written).
    pub accounts: &'a [AccountState],
    pub idempotency: IdempotencyRecord<'a>,
    pub audit: AuditRecord<'a>,
}

/// A bind value.
enum Arg<'a> {
    Text(&'a str),
    Owned(String),
    OptText(Option<&'a str>),
    Int(i64),
    Time(DateTime<Utc>),
}

/// SQL text with numbered parameters and their values.
#[derive(Default)]
struct Statement<'a> {
    args: Vec<Arg<'a>>,
}

impl<'a> Statement<'a> {
    /// Adds a value and returns its placeholder.
    fn arg(&mut self, value: Arg<'a>) -> String {
        self.args.push(value);
        format!("${}", self.args.len())
    }

    /// Adds `values` and returns `($a, $b, …)`.
    fn row(&mut self, values: impl IntoIterator<Item = Arg<'a>>) -> String {
        let marks: Vec<String> = values.into_iter().map(|v| self.arg(v)).collect();
        format!("({})", marks.join(", "))
    }

    /// The inserts and the update every backend runs before the audit entry.
    fn writes(&mut self, w: &'a LedgerWrites<'a>, now: DateTime<Utc>) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(p) = &w.posting {
            let id = self.arg(Arg::Text(p.id));
            let values = [
                Arg::Text(p.kind),
                Arg::Text(p.scope),
                Arg::Text(p.idempotency_key),
                Arg::Time(p.created_at),
                Arg::Owned(canonical_json(p.metadata)),
            ]
            .map(|v| self.arg(v));
            parts.push(format!(
                "INSERT INTO ledger_transactions \
                 (id, kind, scope, idempotency_key, created_at, metadata) \
                 VALUES ({id}, {})",
                values.join(", ")
            ));
            let rows: Vec<String> = (0_i64..)
                .zip(p.entries)
                .map(|(n, e)| {
                    let values = [
                        Arg::Int(n),
                        Arg::Text(&e.account_id),
                        Arg::Text(e.side.as_str()),
                        Arg::Int(e.amount.0),
                    ]
                    .map(|v| self.arg(v));
                    format!("({id}, {})", values.join(", "))
                })
                .collect();
            parts.push(format!(
                "INSERT INTO ledger_entries (transaction_id, leg, account_id, side, amount) \
                 VALUES {}",
                rows.join(", ")
            ));
        }
        if !w.accounts.is_empty() {
            parts.push(self.balances(w.accounts));
        }
        let i = &w.idempotency;
        let row = self.row([
            Arg::Text(i.scope),
            Arg::Text(i.key),
            Arg::Text(i.operation),
            Arg::Text(i.request_hash),
            Arg::Text(i.response),
            Arg::Time(now),
        ]);
        parts.push(format!(
            "INSERT INTO ledger_idempotency \
             (scope, key, operation, request_hash, response, created_at) VALUES {row}"
        ));
        parts
    }

    /// One `UPDATE` of the cached balances of `accounts`.
    fn balances(&mut self, accounts: &'a [AccountState]) -> String {
        let (mut balance, mut debits, mut credits, mut ids) =
            (String::new(), String::new(), String::new(), Vec::new());
        for a in accounts {
            let id = self.arg(Arg::Text(&a.id));
            let values =
                [a.balance, a.pending_debits, a.pending_credits].map(|v| self.arg(Arg::Int(v)));
            balance.push_str(&format!(" WHEN {id} THEN CAST({} AS BIGINT)", values[0]));
            debits.push_str(&format!(" WHEN {id} THEN CAST({} AS BIGINT)", values[1]));
            credits.push_str(&format!(" WHEN {id} THEN CAST({} AS BIGINT)", values[2]));
            ids.push(id);
        }
        format!(
            "UPDATE ledger_accounts SET balance = CASE id{balance} END, \
             pending_debits = CASE id{debits} END, pending_credits = CASE id{credits} END \
             WHERE id IN ({})",
            ids.join(", ")
        )
    }
}

/// Binds `$args` to `$query` in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Text(v) => query.bind(*v),
                Arg::Owned(v) => query.bind(v.as_str()),
                Arg::OptText(v) => query.bind(*v),
                Arg::Int(v) => query.bind(*v),
                Arg::Time(v) => query.bind(*v),
            };
        }
        query
    }};
}

impl LedgerTx {
    /// Writes `w` and its audit entry (see the module docs); commit afterwards.
    pub async fn write_and_audit(&mut self, w: &LedgerWrites<'_>) -> Result<(), StoreError> {
        if !w.audit.detail.is_object() {
            return Err(StoreError::Invalid(
                "audit detail must be a JSON object".to_owned(),
            ));
        }
        let now = super::now();
        let mut st = Statement::default();
        let mut parts = st.writes(w, now);
        let a = &w.audit;
        // The entry with a placeholder head: its content (and `at`) is final.
        let draft = AuditEntry::next(
            &ChainHead::genesis(),
            now,
            a.actor,
            a.action,
            a.target,
            a.detail.clone(),
        );
        match self {
            LedgerTx::Postgres(tx) => {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(APPEND_LOCK_KEY)
                    .execute(&mut **tx)
                    .await?;
                let (before, after) = draft.canonical_around_seq();
                let genesis = st.arg(Arg::Text(GENESIS_HASH));
                let (at, actor, action, target, detail, before, after) = (
                    st.arg(Arg::Time(draft.at)),
                    st.arg(Arg::Text(a.actor)),
                    st.arg(Arg::Text(a.action)),
                    st.arg(Arg::OptText(a.target)),
                    st.arg(Arg::Owned(canonical_json(&draft.detail))),
                    st.arg(Arg::Owned(before)),
                    st.arg(Arg::Owned(after)),
                );
                let ctes: Vec<String> = parts
                    .drain(..)
                    .enumerate()
                    .map(|(n, sql)| format!("w{n} AS ({sql})"))
                    .collect();
                let sql = format!(
                    "WITH {}, head AS (SELECT COALESCE(MAX(seq), 0) + 1 AS seq, \
                         COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), \
                         CAST({genesis} AS TEXT)) AS prev FROM audit_log) \
                     INSERT INTO audit_log (seq, at, actor, action, target, detail, prev_hash, hash) \
                     SELECT seq, {at}, {actor}, {action}, {target}, {detail}, prev, \
                         encode(sha256(convert_to(prev || CAST({before} AS TEXT) \
                         || CAST(seq AS TEXT) || CAST({after} AS TEXT), 'UTF8')), 'hex') \
                     FROM head",
                    ctes.join(", ")
                );
                bind_args!(sqlx::query(&sql), &st.args)
                    .execute(&mut **tx)
                    .await?;
            }
            LedgerTx::Sqlite(tx) => {
                let head: Option<(i64, String)> =
                    sqlx::query_as(HEAD_SQL).fetch_optional(&mut **tx).await?;
                let head =
                    head.map_or_else(ChainHead::genesis, |(seq, hash)| ChainHead { seq, hash });
                let e = AuditEntry::next(&head, now, a.actor, a.action, a.target, draft.detail);
                let row = st.row([
                    Arg::Int(e.seq),
                    Arg::Time(e.at),
                    Arg::Text(a.actor),
                    Arg::Text(a.action),
                    Arg::OptText(a.target),
                    Arg::Owned(canonical_json(&e.detail)),
                    Arg::Owned(e.prev_hash),
                    Arg::Owned(e.hash),
                ]);
                parts.push(format!(
                    "INSERT INTO audit_log \
                     (seq, at, actor, action, target, detail, prev_hash, hash) VALUES {row}"
                ));
                let sql = parts.join(";\n");
                bind_args!(sqlx::query(&sql), &st.args)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
    }
}
