//! What `gpubroker ledger verify` checks (I1–I5 of `shared/RELIABILITY.md`) and how a
//! breach is reported.
//!
//! I5 (posted entries never change) is checked against the audit chain: every posted
//! transaction writes an audit entry `ledger.post` in the same database transaction whose
//! detail lists its entries (account, side, amount). Verify requires the audit chain to be
//! intact and every transaction's entries to equal those recorded in its audit entry, so an
//! edited, added or deleted entry is caught unless the whole audit chain is rewritten too
//! (which `gpubroker audit verify` with an exported checkpoint catches).

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::{Entry, Side};
use crate::domain::money::MicroUsd;

/// One breach of the ledger invariants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum LedgerProblem {
    /// I1: fewer than two entries, a non-positive amount, or debits ≠ credits.
    Unbalanced {
        transaction: String,
        entries: i64,
        debits: i64,
        credits: i64,
    },
    /// I2: all posted debits ≠ all posted credits.
    GlobalImbalance { debits: i64, credits: i64 },
    /// I2: pending debits ≠ pending credits ≠ pending holds.
    PendingImbalance {
        pending_debits: i64,
        pending_credits: i64,
        pending_holds: i64,
    },
    /// I3: an account's cached balance differs from the sum of its entries.
    CachedBalance {
        account: String,
        cached: i64,
        from_entries: i64,
    },
    /// I3: a wallet's cached pending debits differ from its pending holds.
    CachedHeld {
        account: String,
        cached: i64,
        from_holds: i64,
    },
    /// I4: a wallet whose available funds are negative.
    NegativeWallet { account: String, available: i64 },
    /// I5: a transaction's entries differ from its audit record.
    EntriesAltered { transaction: String },
    /// I5: a transaction without an audit record.
    Unaudited { transaction: String },
    /// I5: an audit record of a transaction that is not in the ledger.
    TransactionMissing { transaction: String },
    /// I5: the audit chain itself does not verify.
    AuditChainBroken { first_problem: String },
}

impl fmt::Display for LedgerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unbalanced {
                transaction,
                entries,
                debits,
                credits,
            } => write!(
                f,
                "I1 transaction {transaction}: {entries} entries, debits {debits} ≠ credits {credits} or an amount is not positive"
            ),
            Self::GlobalImbalance { debits, credits } => {
                write!(f, "I2 posted debits {debits} ≠ posted credits {credits}")
            }
            Self::PendingImbalance {
                pending_debits,
                pending_credits,
                pending_holds,
            } => write!(
                f,
                "I2 pending debits {pending_debits}, pending credits {pending_credits} and pending holds {pending_holds} differ"
            ),
            Self::CachedBalance {
                account,
                cached,
                from_entries,
            } => write!(
                f,
                "I3 account {account}: cached balance {cached} ≠ {from_entries} from its entries"
            ),
            Self::CachedHeld {
                account,
                cached,
                from_holds,
            } => write!(
                f,
                "I3 account {account}: cached held {cached} ≠ {from_holds} from its pending holds"
            ),
            Self::NegativeWallet { account, available } => {
                write!(f, "I4 wallet {account} has negative available funds {available}")
            }
            Self::EntriesAltered { transaction } => write!(
                f,
                "I5 transaction {transaction}: entries differ from its audit record"
            ),
            Self::Unaudited { transaction } => {
                write!(f, "I5 transaction {transaction} has no audit record")
            }
            Self::TransactionMissing { transaction } => write!(
                f,
                "I5 transaction {transaction} is in the audit log but not in the ledger"
            ),
            Self::AuditChainBroken { first_problem } => {
                write!(f, "I5 the audit chain does not verify: {first_problem}")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LedgerReport {
    pub accounts: i64,
    pub transactions: i64,
    pub entries: i64,
    pub holds: i64,
    /// Posted debits (= credits when balanced), in micro-USD.
    pub posted_volume: i64,
    pub problems: Vec<LedgerProblem>,
}

impl LedgerReport {
    /// No breach found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ledger: {} accounts, {} transactions, {} entries, {} holds, {} posted",
            self.accounts,
            self.transactions,
            self.entries,
            self.holds,
            MicroUsd(self.posted_volume)
        )?;
        if self.problems.is_empty() {
            write!(f, "I1–I5 hold: balanced transactions, debits = credits, cached balances match, no negative wallet, entries match the audit chain")
        } else {
            write!(f, "{} problems:", self.problems.len())?;
            for p in &self.problems {
                write!(f, "\n  {p}")?;
            }
            Ok(())
        }
    }
}

/// The entries recorded in the audit detail of a `ledger.post` entry, if well formed.
pub fn audited_entries(detail: &Value) -> Option<Vec<Entry>> {
    serde_json::from_value(detail.get("entries")?.clone()).ok()
}

/// Compares the entries of each transaction (fed in any order) with the audit records.
#[derive(Debug, Default)]
pub struct EntryMatcher {
    audited: HashMap<String, Option<Vec<Entry>>>,
    problems: Vec<LedgerProblem>,
}

impl EntryMatcher {
    /// A matcher over the audit records: transaction id → detail of its `ledger.post`.
    pub fn new(records: impl IntoIterator<Item = (String, Value)>) -> Self {
        Self {
            audited: records
                .into_iter()
                .map(|(id, detail)| (id, audited_entries(&detail)))
                .collect(),
            problems: Vec::new(),
        }
    }

    /// Checks one transaction's stored entries (in leg order; `None` when one is
    /// unreadable).
    pub fn check(&mut self, transaction: &str, entries: Option<&[Entry]>) {
        match self.audited.remove(transaction) {
            None => self.problems.push(LedgerProblem::Unaudited {
                transaction: transaction.to_owned(),
            }),
            Some(recorded) if entries.is_none() || recorded.as_deref() != entries => {
                self.problems.push(LedgerProblem::EntriesAltered {
                    transaction: transaction.to_owned(),
                });
            }
            Some(_) => {}
        }
    }

    /// The problems found, audit records left unmatched included.
    pub fn finish(mut self) -> Vec<LedgerProblem> {
        let mut missing: Vec<String> = self.audited.into_keys().collect();
        missing.sort();
        self.problems.extend(
            missing
                .into_iter()
                .map(|transaction| LedgerProblem::TransactionMissing { transaction }),
        );
        self.problems
    }
}

/// An entry as read back for comparison; `None` for an unknown side.
pub fn entry(account_id: String, side: &str, amount: i64) -> Option<Entry> {
    Some(Entry {
        account_id,
        side: Side::parse(side)?,
        amount: MicroUsd(amount),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn e(account: &str, side: &str, amount: i64) -> Entry {
        entry(account.into(), side, amount).unwrap()
    }

    #[test]
    fn ledger_i5_entries_are_matched_against_their_audit_records() {
        let recorded = json!({"entries": [
            {"account_id": "sys:payment_clearing", "side": "debit", "amount": 5},
            {"account_id": "wallet:u", "side": "credit", "amount": 5}
        ]});
        let mut matcher = EntryMatcher::new([
            ("t1".to_owned(), recorded.clone()),
            ("t2".to_owned(), recorded.clone()),
            ("t3".to_owned(), recorded.clone()),
            ("gone".to_owned(), recorded),
        ]);
        let same = [
            e("sys:payment_clearing", "debit", 5),
            e("wallet:u", "credit", 5),
        ];
        let edited = [
            e("sys:payment_clearing", "debit", 6),
            e("wallet:u", "credit", 6),
        ];
        matcher.check("t1", Some(&same));
        matcher.check("t2", Some(&edited));
        matcher.check("t3", None);
        matcher.check("new", Some(&same));
        assert_eq!(
            matcher.finish(),
            vec![
                LedgerProblem::EntriesAltered {
                    transaction: "t2".into()
                },
                LedgerProblem::EntriesAltered {
                    transaction: "t3".into()
                },
                LedgerProblem::Unaudited {
                    transaction: "new".into()
                },
                LedgerProblem::TransactionMissing {
                    transaction: "gone".into()
                },
            ]
        );
        assert_eq!(entry("a".into(), "sideways", 1), None);
    }

    #[test]
    fn report_names_each_problem() {
        let report = LedgerReport {
            problems: vec![LedgerProblem::GlobalImbalance {
                debits: 2,
                credits: 1,
            }],
            ..LedgerReport::default()
        };
        assert!(!report.is_clean());
        assert!(report
            .to_string()
            .contains("I2 posted debits 2 ≠ posted credits 1"));
    }
}
