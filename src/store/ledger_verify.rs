//! The queries behind `gpubroker ledger verify` (see `ledger::verify` for what each
//! invariant means). Sums are computed by the database; the comparison of entries with
//! the audit chain streams both.

use futures_util::TryStreamExt;
use serde_json::Value;

use super::{on_pool, Store, StoreError};
use crate::ledger::verify::{entry, EntryMatcher, LedgerProblem, LedgerReport};
use crate::ledger::Entry;

const DEBITS: &str =
    "CAST(COALESCE(SUM(CASE WHEN e.side = 'debit' THEN e.amount ELSE 0 END), 0) AS BIGINT)";
const CREDITS: &str =
    "CAST(COALESCE(SUM(CASE WHEN e.side = 'credit' THEN e.amount ELSE 0 END), 0) AS BIGINT)";

impl Store {
    /// Checks I1–I5 on the whole ledger.
    #[tracing::instrument(skip_all)]
    pub async fn ledger_verify(&self) -> Result<LedgerReport, StoreError> {
        let mut report = LedgerReport::default();
        let counts = "SELECT \
            (SELECT COUNT(*) FROM ledger_accounts), \
            (SELECT COUNT(*) FROM ledger_transactions), \
            (SELECT COUNT(*) FROM ledger_entries), \
            (SELECT COUNT(*) FROM ledger_holds)";
        (
            report.accounts,
            report.transactions,
            report.entries,
            report.holds,
        ) = on_pool!(self, |pool| sqlx::query_as(counts).fetch_one(pool).await)?;

        // I1: every transaction has two or more positive entries and balances.
        let i1 = format!(
            "SELECT t.id, COUNT(e.leg), {DEBITS}, {CREDITS} \
             FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id \
             GROUP BY t.id \
             HAVING COUNT(e.leg) < 2 OR {DEBITS} <> {CREDITS} OR MIN(e.amount) <= 0 \
             ORDER BY t.id"
        );
        let rows: Vec<(String, i64, i64, i64)> =
            on_pool!(self, |pool| sqlx::query_as(&i1).fetch_all(pool).await)?;
        report.problems.extend(
            rows.into_iter()
                .map(
                    |(transaction, entries, debits, credits)| LedgerProblem::Unbalanced {
                        transaction,
                        entries,
                        debits,
                        credits,
                    },
                ),
        );

        // I2: globally, posted debits equal credits, and pending equals pending.
        let i2 = format!("SELECT {DEBITS}, {CREDITS} FROM ledger_entries e");
        let (debits, credits): (i64, i64) =
            on_pool!(self, |pool| sqlx::query_as(&i2).fetch_one(pool).await)?;
        report.posted_volume = debits;
        if debits != credits {
            report
                .problems
                .push(LedgerProblem::GlobalImbalance { debits, credits });
        }
        let pending = "SELECT \
            (SELECT CAST(COALESCE(SUM(pending_debits), 0) AS BIGINT) FROM ledger_accounts), \
            (SELECT CAST(COALESCE(SUM(pending_credits), 0) AS BIGINT) FROM ledger_accounts), \
            (SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_holds WHERE status = 'pending')";
        let (pending_debits, pending_credits, pending_holds): (i64, i64, i64) =
            on_pool!(self, |pool| sqlx::query_as(pending).fetch_one(pool).await)?;
        if pending_debits != pending_credits || pending_debits != pending_holds {
            report.problems.push(LedgerProblem::PendingImbalance {
                pending_debits,
                pending_credits,
                pending_holds,
            });
        }

        // I3: cached balances equal the sums of entries; cached held equals pending holds.
        let i3 = format!(
            "SELECT a.id, a.balance, {CREDITS} - {DEBITS} \
             FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id \
             GROUP BY a.id, a.balance HAVING a.balance <> {CREDITS} - {DEBITS} ORDER BY a.id"
        );
        let rows: Vec<(String, i64, i64)> =
            on_pool!(self, |pool| sqlx::query_as(&i3).fetch_all(pool).await)?;
        report
            .problems
            .extend(rows.into_iter().map(|(account, cached, from_entries)| {
                LedgerProblem::CachedBalance {
                    account,
                    cached,
                    from_entries,
                }
            }));
        let held = "SELECT a.id, a.pending_debits, \
                CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) \
             FROM ledger_accounts a \
             LEFT JOIN ledger_holds h ON h.wallet_id = a.id AND h.status = 'pending' \
             WHERE a.kind = 'wallet' GROUP BY a.id, a.pending_debits \
             HAVING a.pending_debits <> CAST(COALESCE(SUM(h.amount), 0) AS BIGINT) ORDER BY a.id";
        let rows: Vec<(String, i64, i64)> =
            on_pool!(self, |pool| sqlx::query_as(held).fetch_all(pool).await)?;
        report
            .problems
            .extend(rows.into_iter().map(|(account, cached, from_holds)| {
                LedgerProblem::CachedHeld {
                    account,
                    cached,
                    from_holds,
                }
            }));

        // I4: no wallet's available funds are negative.
        let i4 = "SELECT id, balance - pending_debits FROM ledger_accounts \
            WHERE kind = 'wallet' AND balance - pending_debits < 0 ORDER BY id";
        let rows: Vec<(String, i64)> =
            on_pool!(self, |pool| sqlx::query_as(i4).fetch_all(pool).await)?;
        report.problems.extend(
            rows.into_iter()
                .map(|(account, available)| LedgerProblem::NegativeWallet { account, available }),
        );

        // I5: the audit chain verifies and every transaction's entries match its record.
        let chain = self.audit_verify(None).await?;
        if let Some(first) = chain.problems.first() {
            report.problems.push(LedgerProblem::AuditChainBroken {
                first_problem: first.to_string(),
            });
        }
        report.problems.extend(self.ledger_match_audit().await?);
        Ok(report)
    }

    async fn ledger_match_audit(&self) -> Result<Vec<LedgerProblem>, StoreError> {
        let records = "SELECT target, detail FROM audit_log \
            WHERE action = 'ledger.post' AND target IS NOT NULL";
        let records: Vec<(String, String)> =
            on_pool!(self, |pool| sqlx::query_as(records).fetch_all(pool).await)?;
        let mut matcher = EntryMatcher::new(records.into_iter().map(|(target, detail)| {
            (target, serde_json::from_str(&detail).unwrap_or(Value::Null))
        }));
        let sql = "SELECT t.id, e.account_id, e.side, e.amount \
            FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id \
            ORDER BY t.id, e.leg";
        let mut current: Option<(String, Option<Vec<Entry>>)> = None;
        on_pool!(self, |pool| {
            let mut rows =
                sqlx::query_as::<_, (String, Option<String>, Option<String>, Option<i64>)>(sql)
                    .fetch(pool);
            while let Some((id, account, side, amount)) = rows.try_next().await? {
                if current.as_ref().is_none_or(|(c, _)| *c != id) {
                    if let Some((done, entries)) = current.take() {
                        matcher.check(&done, entries.as_deref());
                    }
                    current = Some((id, Some(Vec::new())));
                }
                if let (Some((_, entries)), Some(account), Some(side), Some(amount)) =
                    (current.as_mut(), account, side, amount)
                {
                    let parsed = entry(account, &side, amount);
                    *entries = match (entries.take(), parsed) {
                        (Some(mut list), Some(e)) => {
                            list.push(e);
                            Some(list)
                        }
                        _ => None,
                    };
                }
            }
        });
        if let Some((done, entries)) = current {
            matcher.check(&done, entries.as_deref());
        }
        Ok(matcher.finish())
    }
}
