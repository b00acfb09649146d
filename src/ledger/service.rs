//! The ledger service: each operation is one database transaction that checks its
//! idempotency key, locks what it touches, applies the pure rules, writes entries,
//! balances, holds and one audit entry, records its result under the key and commits.
//! Transient database conflicts (busy, deadlock, a concurrent use of the same key) are
//! retried from the start.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::rules::{self, AccountState};
use super::{
    wallet_id, AccountKind, Entry, IdempotencyKey, LedgerError, Leg, Side, Transaction,
    TransferKind, WalletBalance, WalletTransactionPage, CURRENCY,
};
use crate::domain::money::MicroUsd;
use crate::store::ledger::{LedgerTx, NewTransaction};
use crate::store::ledger_write::{AuditRecord, IdempotencyRecord, LedgerWrites, NewPosting};
use crate::store::{BackendKind, Store, StoreError};

/// Attempts of one operation before a transient database conflict is returned.
const MAX_ATTEMPTS: u32 = 8;

/// Largest page of a transaction list.
pub const MAX_PAGE: u32 = 200;

/// A test hook called at each step of a write; returning `true` fails the operation there
/// with [`LedgerError::Injected`] (the transaction rolls back).
pub type Failpoint = Arc<dyn Fn(&'static str) -> bool + Send + Sync>;

/// The ledger over a store; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    pub(super) store: Store,
    failpoint: Option<Failpoint>,
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

/// What an operation posts besides its idempotency record and audit entry.
pub(super) struct Posted<'a> {
    /// The transaction, not yet inserted.
    pub transaction: Option<&'a Transaction>,
    /// Accounts whose cached balances changed, not yet written.
    pub accounts: &'a [AccountState],
}

/// The audit entry an operation writes.
pub(super) struct Audit<'a> {
    pub action: &'a str,
    pub target: &'a str,
    pub detail: Value,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("failpoint", &self.failpoint.is_some())
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// The ledger on `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            failpoint: None,
            sqlite_writer: Arc::default(),
        }
    }

    /// This ledger with a failure-injection hook, for tests of atomicity (I7): `hook` is
    /// called with each step's name and fails the operation there when it returns `true`.
    pub fn with_failpoint(mut self, hook: Failpoint) -> Self {
        self.failpoint = Some(hook);
        self
    }

    pub(super) fn step(&self, name: &'static str) -> Result<(), LedgerError> {
        match &self.failpoint {
            Some(hook) if hook(name) => Err(LedgerError::Injected(name)),
            _ => Ok(()),
        }
    }

    /// Credits `amount` to `user_id`'s wallet from payment clearing (the wallet is opened
    /// on first use).
    pub async fn top_up(
        &self,
        key: &IdempotencyKey,
        user_id: &str,
        amount: MicroUsd,
        metadata: Value,
    ) -> Result<Transaction, LedgerError> {
        let legs = vec![
            leg(
                &AccountKind::PaymentClearing.system_id(),
                Side::Debit,
                amount,
            ),
            leg(&wallet_id(user_id), Side::Credit, amount),
        ];
        self.post(key, TransferKind::TopUp, legs, metadata).await
    }

    /// Debits `amount` from `user_id`'s wallet to the refunds account.
    pub async fn refund(
        &self,
        key: &IdempotencyKey,
        user_id: &str,
        amount: MicroUsd,
        metadata: Value,
    ) -> Result<Transaction, LedgerError> {
        let legs = vec![
            leg(&wallet_id(user_id), Side::Debit, amount),
            leg(&AccountKind::Refunds.system_id(), Side::Credit, amount),
        ];
        self.post(key, TransferKind::Refund, legs, metadata).await
    }

    /// Debits `amount` from `user_id`'s wallet to revenue, without a hold.
    pub async fn charge(
        &self,
        key: &IdempotencyKey,
        user_id: &str,
        amount: MicroUsd,
        metadata: Value,
    ) -> Result<Transaction, LedgerError> {
        let legs = vec![
            leg(&wallet_id(user_id), Side::Debit, amount),
            leg(&AccountKind::Revenue.system_id(), Side::Credit, amount),
        ];
        self.post(key, TransferKind::Charge, legs, metadata).await
    }

    /// Posts a balanced multi-leg transfer atomically. Accounts are `sys:<kind>` system
    /// accounts or `wallet:<user id>` wallets (opened on first use).
    pub async fn post(
        &self,
        key: &IdempotencyKey,
        kind: TransferKind,
        legs: Vec<Leg>,
        metadata: Value,
    ) -> Result<Transaction, LedgerError> {
        rules::validate_legs(&legs)?;
        check_metadata(&metadata)?;
        let params = json!({ "kind": kind, "legs": legs, "metadata": metadata });
        let hash = rules::request_hash("post", &params);
        retrying(|| self.post_once(key, &hash, kind, &legs, &metadata)).await
    }

    async fn post_once(
        &self,
        key: &IdempotencyKey,
        hash: &str,
        kind: TransferKind,
        legs: &[Leg],
        metadata: &Value,
    ) -> Result<Transaction, LedgerError> {
        let _gate = self.gate().await;
        let mut tx = self.store.ledger_begin().await?;
        if let Some(first) = replay(&mut tx, key, "post", hash).await? {
            return Ok(first);
        }
        self.step("begin")?;
        let ids: Vec<&str> = legs.iter().map(|l| l.account_id.as_str()).collect();
        let mut accounts = lock_accounts(&mut tx, ids).await?;
        self.step("locked")?;
        rules::apply_legs(&mut accounts, legs)?;
        let transaction = new_transaction(kind, legs, metadata);
        self.step("balance")?;
        let audit = Audit {
            action: "ledger.post",
            target: &transaction.id,
            detail: json!({
                "kind": kind,
                "idempotency_key": key.key,
                "entries": transaction.entries,
                "metadata": metadata,
            }),
        };
        let posted = Posted {
            transaction: Some(&transaction),
            accounts: &accounts,
        };
        self.finish_with(tx, key, ("post", hash), &transaction, audit, posted)
            .await?;
        Ok(transaction)
    }

    /// Inserts the transaction row and its entries (a failpoint after each leg).
    pub(super) async fn write_transaction(
        &self,
        tx: &mut LedgerTx,
        key: &IdempotencyKey,
        kind: TransferKind,
        legs: &[Leg],
        metadata: &Value,
    ) -> Result<Transaction, LedgerError> {
        let transaction = new_transaction(kind, legs, metadata);
        tx.transaction_insert(&NewTransaction {
            id: &transaction.id,
            kind: kind.as_str(),
            scope: &key.scope,
            idempotency_key: &key.key,
            created_at: transaction.created_at,
            metadata,
        })
        .await?;
        for (n, leg) in (0_i64..).zip(legs) {
            tx.entry_insert(&transaction.id, n, &leg.account_id, leg.side, leg.amount)
                .await?;
            self.step("entry")?;
        }
        Ok(transaction)
    }

    /// Records the result under the key, appends the audit entry and commits (the
    /// operation's other rows were written already).
    pub(super) async fn finish(
        &self,
        tx: LedgerTx,
        key: &IdempotencyKey,
        operation: (&str, &str),
        result: &impl Serialize,
        audit: Audit<'_>,
    ) -> Result<(), LedgerError> {
        let posted = Posted {
            transaction: None,
            accounts: &[],
        };
        self.finish_with(tx, key, operation, result, audit, posted)
            .await
    }

    /// Writes `posted` (the transaction, its entries and the cached balances), records
    /// the result under the key and appends the audit entry, all in one statement
    /// (`store::ledger_write`), and commits.
    pub(super) async fn finish_with(
        &self,
        mut tx: LedgerTx,
        key: &IdempotencyKey,
        (operation, hash): (&str, &str),
        result: &impl Serialize,
        audit: Audit<'_>,
        posted: Posted<'_>,
    ) -> Result<(), LedgerError> {
        let response = serde_json::to_string(result)
            .map_err(|e| LedgerError::Invalid(format!("unencodable result: {e}")))?;
        self.step("recorded")?;
        let posting = posted.transaction.map(|t| NewPosting {
            id: &t.id,
            kind: t.kind.as_str(),
            scope: &key.scope,
            idempotency_key: &key.key,
            created_at: t.created_at,
            metadata: &t.metadata,
            entries: &t.entries,
        });
        tx.write_and_audit(&LedgerWrites {
            posting,
            accounts: posted.accounts,
            idempotency: IdempotencyRecord {
                scope: &key.scope,
                key: &key.key,
                operation,
                request_hash: hash,
                response: &response,
            },
            audit: AuditRecord {
                actor: &key.scope,
                action: audit.action,
                target: Some(audit.target),
                detail: audit.detail,
            },
        })
        .await?;
        self.step("audited")?;
        tx.commit().await?;
        Ok(())
    }

    /// On SQLite, queues ledger writers of this process on an async mutex before
    /// `BEGIN IMMEDIATE`, instead of on SQLite's sleeping busy handler; `None` on
    /// PostgreSQL (row locks order writers there).
    pub(super) async fn gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match self.store.kind() {
            BackendKind::Sqlite => Some(self.sqlite_writer.clone().lock_owned().await),
            BackendKind::Postgres => None,
        }
    }

    /// `user_id`'s balances and pending holds (zero when the wallet was never opened).
    pub async fn balance(&self, user_id: &str) -> Result<WalletBalance, LedgerError> {
        let id = wallet_id(user_id);
        let account = self
            .store
            .ledger_account(&id)
            .await?
            .unwrap_or_else(|| AccountState::new(id.clone(), AccountKind::Wallet));
        let holds = self.store.ledger_pending_holds(&id).await?;
        Ok(WalletBalance {
            user_id: user_id.to_owned(),
            currency: CURRENCY,
            posted: MicroUsd(account.balance),
            held: MicroUsd(account.pending_debits),
            available: account.available()?,
            holds,
        })
    }

    /// A page of `user_id`'s transactions, newest first: `limit` (1 to [`MAX_PAGE`]) after
    /// `cursor` (a `next_cursor` from the previous page).
    pub async fn transactions(
        &self,
        user_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<WalletTransactionPage, LedgerError> {
        if let Some(c) = cursor {
            let valid = c.strip_prefix("ltx_").is_some_and(|rest| {
                !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_hexdigit())
            });
            if !valid {
                return Err(LedgerError::Invalid("invalid cursor".into()));
            }
        }
        let limit = limit.clamp(1, MAX_PAGE);
        let mut items = self
            .store
            .ledger_account_transactions(&wallet_id(user_id), cursor, i64::from(limit) + 1)
            .await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = more.then(|| items.last().map(|t| t.id.clone())).flatten();
        Ok(WalletTransactionPage { items, next_cursor })
    }
}

/// A new transaction (id and time assigned) posting `legs`.
fn new_transaction(kind: TransferKind, legs: &[Leg], metadata: &Value) -> Transaction {
    Transaction {
        id: new_id("ltx"),
        kind,
        created_at: crate::store::now(),
        metadata: metadata.clone(),
        entries: legs
            .iter()
            .map(|l| Entry {
                account_id: l.account_id.clone(),
                side: l.side,
                amount: l.amount,
            })
            .collect(),
    }
}

pub(super) fn leg(account_id: &str, side: Side, amount: MicroUsd) -> Leg {
    Leg {
        account_id: account_id.to_owned(),
        side,
        amount,
    }
}

/// A new time-ordered id with `prefix` (`ltx_…`, `hold_…`): ids sort by creation.
pub(super) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

pub(super) fn check_metadata(metadata: &Value) -> Result<(), LedgerError> {
    if metadata.is_object() {
        Ok(())
    } else {
        Err(LedgerError::Invalid(
            "metadata must be a JSON object".into(),
        ))
    }
}

pub(super) trait TruncMicros {
    /// Truncated to microseconds (what both databases store).
    fn trunc_micros(self) -> Self;
}

impl TruncMicros for DateTime<Utc> {
    fn trunc_micros(self) -> Self {
        chrono::SubsecRound::trunc_subsecs(self, 6)
    }
}

/// The first result of an operation with `key`, if there was one; a different operation
/// or parameters under the same key is [`LedgerError::IdempotencyConflict`].
pub(super) async fn replay<T: DeserializeOwned>(
    tx: &mut LedgerTx,
    key: &IdempotencyKey,
    operation: &str,
    hash: &str,
) -> Result<Option<T>, LedgerError> {
    let Some(row) = tx.idempotency_get(&key.scope, &key.key).await? else {
        return Ok(None);
    };
    if row.operation != operation || row.request_hash != hash {
        return Err(LedgerError::IdempotencyConflict(key.key.clone()));
    }
    serde_json::from_str(&row.response)
        .map(Some)
        .map_err(|e| LedgerError::Store(StoreError::Invalid(format!("stored result: {e}"))))
}

/// Locks the accounts `ids` in id order and returns them in that order, opening missing
/// system accounts (`sys:<kind>`) and wallets (`wallet:<user id>`) first.
pub(super) async fn lock_accounts(
    tx: &mut LedgerTx,
    mut ids: Vec<&str>,
) -> Result<Vec<AccountState>, LedgerError> {
    ids.sort_unstable();
    ids.dedup();
    let found = tx.accounts_lock(&ids).await?;
    if found.len() == ids.len() {
        return Ok(found);
    }
    for id in ids.iter().filter(|id| !found.iter().any(|a| a.id == **id)) {
        open_account(tx, id).await?;
    }
    let found = tx.accounts_lock(&ids).await?;
    if found.len() == ids.len() {
        Ok(found)
    } else {
        Err(LedgerError::Invalid(
            "an account could not be opened".into(),
        ))
    }
}

/// Opens account `id` unless it exists: a system account or a user's wallet.
async fn open_account(tx: &mut LedgerTx, id: &str) -> Result<(), LedgerError> {
    let (kind, owner) = if let Some(user) = id.strip_prefix("wallet:") {
        (AccountKind::Wallet, Some(user))
    } else {
        let kind = id
            .strip_prefix("sys:")
            .and_then(AccountKind::parse)
            .filter(|k| *k != AccountKind::Wallet)
            .ok_or_else(|| LedgerError::Invalid(format!("no account {id}")))?;
        (kind, None)
    };
    tx.account_create(id, kind, owner)
        .await
        .map_err(|e| match e {
            StoreError::Invalid(m) => LedgerError::Invalid(m),
            other => other.into(),
        })?;
    Ok(())
}

/// Runs `attempt` again (with a short backoff) while it fails with a transient database
/// conflict: busy/locked (SQLite), serialization failure or deadlock (PostgreSQL), or a
/// unique violation from a concurrent use of the same idempotency key.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, LedgerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, LedgerError>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(LedgerError::Store(e)) if n < MAX_ATTEMPTS && is_transient(&e) => {
                tokio::time::sleep(Duration::from_millis(u64::from(n) * 5)).await;
                n += 1;
            }
            other => return other,
        }
    }
}

fn is_transient(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else {
        return false;
    };
    db.is_unique_violation()
        || matches!(
            db.code().as_deref(),
            Some("40001" | "40P01" | "5" | "6" | "261" | "262" | "517")
        )
}
