//! Ledger reads: an account's balances, holds, due holds and a wallet's transactions.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ledger::{AccountRow, HoldRow, HOLD_COLUMNS};
use super::{on_pool, Store, StoreError};
use crate::domain::money::MicroUsd;
use crate::ledger::rules::AccountState;
use crate::ledger::{Hold, Side, WalletTransaction};

impl Store {
    /// The cached balances of an account, if it exists.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_account(&self, id: &str) -> Result<Option<AccountState>, StoreError> {
        let sql = "SELECT id, kind, balance, pending_debits, pending_credits \
            FROM ledger_accounts WHERE id = $1";
        let row: Option<AccountRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(AccountRow::into_state).transpose()
    }

    /// A hold by id.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_hold(&self, id: &str) -> Result<Option<Hold>, StoreError> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM ledger_holds h \
             JOIN ledger_accounts a ON a.id = h.wallet_id WHERE h.id = $1"
        );
        let row: Option<HoldRow> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(HoldRow::into_hold).transpose()
    }

    /// The pending holds of a wallet account, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_pending_holds(&self, wallet_id: &str) -> Result<Vec<Hold>, StoreError> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM ledger_holds h \
             JOIN ledger_accounts a ON a.id = h.wallet_id \
             WHERE h.wallet_id = $1 AND h.status = 'pending' ORDER BY h.id DESC"
        );
        let rows: Vec<HoldRow> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(wallet_id)
            .fetch_all(pool)
            .await)?;
        rows.into_iter().map(HoldRow::into_hold).collect()
    }

    /// Ids of up to `limit` pending holds whose expiry is at or before `now`.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_due_holds(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT id FROM ledger_holds WHERE status = 'pending' AND expires_at <= $1 \
            ORDER BY expires_at, id LIMIT $2";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Up to `limit` transactions touching `account_id` with ids below `before` (all when
    /// `None`), newest first, each with that account's entry.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_account_transactions(
        &self,
        account_id: &str,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<WalletTransaction>, StoreError> {
        let cursor = if before.is_some() {
            "AND t.id < $2"
        } else {
            "AND $2 = ''"
        };
        let sql = format!(
            "SELECT t.id, t.kind, t.created_at, e.side, e.amount, t.metadata \
             FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
             WHERE e.account_id = $1 {cursor} ORDER BY t.id DESC LIMIT $3"
        );
        type Row = (String, String, DateTime<Utc>, String, i64, String);
        let rows: Vec<Row> = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(account_id)
            .bind(before.unwrap_or(""))
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(id, kind, created_at, side, amount, metadata)| {
                let side = Side::parse(&side)
                    .ok_or_else(|| StoreError::Invalid(format!("unknown entry side {side}")))?;
                Ok(WalletTransaction {
                    id,
                    kind,
                    created_at,
                    side,
                    amount: MicroUsd(amount),
                    metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}
