//! The reads behind a monthly statement: a wallet's balance at the start of a period and
//! its entries within it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{on_pool, Store, StoreError};
use crate::domain::money::MicroUsd;
use crate::ledger::{Side, WalletTransaction};

impl Store {
    /// The balance of `account_id` from entries of transactions created before `from`
    /// (credits minus debits), and its entries of transactions created in `[from, to)`,
    /// oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_statement_entries(
        &self,
        account_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(i64, Vec<WalletTransaction>), StoreError> {
        let opening = "SELECT CAST(COALESCE(SUM(CASE WHEN e.side = 'credit' THEN e.amount \
                ELSE -e.amount END), 0) AS BIGINT) \
            FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
            WHERE e.account_id = $1 AND t.created_at < $2";
        let opening: i64 = on_pool!(self, |pool| sqlx::query_scalar(opening)
            .bind(account_id)
            .bind(from)
            .fetch_one(pool)
            .await)?;
        let sql = "SELECT t.id, t.kind, t.created_at, e.side, e.amount, t.metadata \
            FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id \
            WHERE e.account_id = $1 AND t.created_at >= $2 AND t.created_at < $3 \
            ORDER BY t.created_at, t.id";
        type Row = (String, String, DateTime<Utc>, String, i64, String);
        let rows: Vec<Row> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(account_id)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await)?;
        let entries = rows
            .into_iter()
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
            .collect::<Result<_, StoreError>>()?;
        Ok((opening, entries))
    }
}
