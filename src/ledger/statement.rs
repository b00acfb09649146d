//! Monthly statements: a wallet's opening balance, its movements in one calendar month
//! (UTC) grouped for reading, and the closing balance, all from the ledger's posted
//! entries, so that `opening + top-ups − usage − refunds + adjustments = closing`.
//!
//! Usage (charges and hold captures) whose metadata carries a `pod_id` is grouped by pod
//! and hour; other usage is listed line by line. Rendering as CSV and HTML is in
//! [`super::statement_format`].

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, DurationRound, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{wallet_id, Ledger, LedgerError, Side, WalletTransaction, CURRENCY};

/// A calendar month in UTC, parsed from `YYYY-MM` (years 2000 to 9999).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatementMonth {
    year: i32,
    month: u32,
}

impl StatementMonth {
    /// Parses `YYYY-MM`; anything else (other lengths, signs, month 00 or 13) is `Invalid`.
    pub fn parse(s: &str) -> Result<Self, LedgerError> {
        let invalid = || LedgerError::Invalid(format!("month must be YYYY-MM, got {s:?}"));
        let bytes = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| bytes[r].iter().all(u8::is_ascii_digit);
        if bytes.len() != 7 || bytes[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return Err(invalid());
        }
        let year: i32 = s[..4].parse().map_err(|_| invalid())?;
        let month: u32 = s[5..].parse().map_err(|_| invalid())?;
        if !(2000..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(invalid());
        }
        Ok(Self { year, month })
    }

    /// The first instant of the month.
    pub fn start(self) -> DateTime<Utc> {
        first_instant(self.year, self.month)
    }

    /// The first instant of the next month (the period is `[start, end)`).
    pub fn end(self) -> DateTime<Utc> {
        if self.month == 12 {
            first_instant(self.year + 1, 1)
        } else {
            first_instant(self.year, self.month + 1)
        }
    }
}

fn first_instant(year: i32, month: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, month, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
}

impl fmt::Display for StatementMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// One transaction on the statement, as it moved the wallet.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct StatementLine {
    pub transaction_id: String,
    /// `top_up`, `charge`, `capture`, `refund` or `transfer`.
    pub kind: String,
    pub at: DateTime<Utc>,
    /// `credit` (money in) or `debit` (money out).
    #[schema(value_type = String)]
    pub direction: Side,
    /// Always positive; `direction` says which way.
    pub amount_micro_usd: i64,
    /// The metadata's `description`, if any.
    pub description: Option<String>,
}

/// A pod's usage in one hour.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct HourUsage {
    /// The start of the hour (UTC).
    pub hour: DateTime<Utc>,
    pub amount_micro_usd: i64,
    /// How many charges and captures made it up.
    pub transactions: u32,
}

/// A pod's usage in the month, by hour.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct PodUsage {
    pub pod_id: String,
    pub total_micro_usd: i64,
    pub hours: Vec<HourUsage>,
}

/// A user's statement for one month; every amount is integer micro-USD.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Statement {
    pub user_id: String,
    /// `YYYY-MM`.
    pub month: String,
    /// Always `USD`.
    pub currency: String,
    /// The period is `[period_start, period_end)`, UTC.
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// The wallet's posted balance at `period_start`.
    pub opening_balance_micro_usd: i64,
    pub top_ups: Vec<StatementLine>,
    pub top_ups_total_micro_usd: i64,
    /// Charges and captures with a `pod_id`, by pod (sorted) and hour.
    pub pod_usage: Vec<PodUsage>,
    /// Charges and captures without a `pod_id`.
    pub other_usage: Vec<StatementLine>,
    /// Pod usage plus other usage.
    pub usage_total_micro_usd: i64,
    pub refunds: Vec<StatementLine>,
    pub refunds_total_micro_usd: i64,
    /// Every other movement (transfers, corrections), either direction.
    pub adjustments: Vec<StatementLine>,
    /// Credits minus debits of the adjustments.
    pub adjustments_net_micro_usd: i64,
    /// `opening + top_ups − usage − refunds + adjustments_net`.
    pub closing_balance_micro_usd: i64,
}

/// Adds with overflow as [`LedgerError::Overflow`].
fn add(a: i64, b: i64) -> Result<i64, LedgerError> {
    a.checked_add(b).ok_or(LedgerError::Overflow)
}

impl Statement {
    /// The statement of `user_id` for `month` from the opening balance and the wallet's
    /// entries in the month, oldest first.
    pub fn build(
        user_id: &str,
        month: StatementMonth,
        opening: i64,
        entries: Vec<WalletTransaction>,
    ) -> Result<Self, LedgerError> {
        let mut s = Statement {
            user_id: user_id.to_owned(),
            month: month.to_string(),
            currency: CURRENCY.to_owned(),
            period_start: month.start(),
            period_end: month.end(),
            opening_balance_micro_usd: opening,
            top_ups: Vec::new(),
            top_ups_total_micro_usd: 0,
            pod_usage: Vec::new(),
            other_usage: Vec::new(),
            usage_total_micro_usd: 0,
            refunds: Vec::new(),
            refunds_total_micro_usd: 0,
            adjustments: Vec::new(),
            adjustments_net_micro_usd: 0,
            closing_balance_micro_usd: 0,
        };
        let mut pods: BTreeMap<String, BTreeMap<DateTime<Utc>, HourUsage>> = BTreeMap::new();
        for e in entries {
            let amount = e.amount.0;
            match (e.kind.as_str(), e.side) {
                ("top_up", Side::Credit) => {
                    s.top_ups_total_micro_usd = add(s.top_ups_total_micro_usd, amount)?;
                    s.top_ups.push(line(e));
                }
                ("charge" | "capture", Side::Debit) => {
                    s.usage_total_micro_usd = add(s.usage_total_micro_usd, amount)?;
                    match pod_id(&e.metadata) {
                        Some(pod) => {
                            let hour = e
                                .created_at
                                .duration_trunc(TimeDelta::hours(1))
                                .unwrap_or(e.created_at);
                            let slot =
                                pods.entry(pod)
                                    .or_default()
                                    .entry(hour)
                                    .or_insert(HourUsage {
                                        hour,
                                        amount_micro_usd: 0,
                                        transactions: 0,
                                    });
                            slot.amount_micro_usd = add(slot.amount_micro_usd, amount)?;
                            slot.transactions = slot.transactions.saturating_add(1);
                        }
                        None => s.other_usage.push(line(e)),
                    }
                }
                ("refund", Side::Debit) => {
                    s.refunds_total_micro_usd = add(s.refunds_total_micro_usd, amount)?;
                    s.refunds.push(line(e));
                }
                (_, side) => {
                    let signed = match side {
                        Side::Credit => amount,
                        Side::Debit => amount.checked_neg().ok_or(LedgerError::Overflow)?,
                    };
                    s.adjustments_net_micro_usd = add(s.adjustments_net_micro_usd, signed)?;
                    s.adjustments.push(line(e));
                }
            }
        }
        for (pod_id, hours) in pods {
            let hours: Vec<HourUsage> = hours.into_values().collect();
            let total = hours
                .iter()
                .try_fold(0, |t, h| add(t, h.amount_micro_usd))?;
            s.pod_usage.push(PodUsage {
                pod_id,
                total_micro_usd: total,
                hours,
            });
        }
        let out = add(s.usage_total_micro_usd, s.refunds_total_micro_usd)?;
        let net = add(s.top_ups_total_micro_usd, s.adjustments_net_micro_usd)?
            .checked_sub(out)
            .ok_or(LedgerError::Overflow)?;
        s.closing_balance_micro_usd = add(opening, net)?;
        Ok(s)
    }
}

/// The metadata's `pod_id` (a non-empty string, or a number written as text).
fn pod_id(metadata: &Value) -> Option<String> {
    match metadata.get("pod_id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn line(e: WalletTransaction) -> StatementLine {
    let description = e
        .metadata
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    StatementLine {
        transaction_id: e.id,
        kind: e.kind,
        at: e.created_at,
        direction: e.side,
        amount_micro_usd: e.amount.0,
        description,
    }
}

impl Ledger {
    /// `user_id`'s statement for `month` (empty, with zero balances, for a wallet never
    /// opened).
    pub async fn statement(
        &self,
        user_id: &str,
        month: StatementMonth,
    ) -> Result<Statement, LedgerError> {
        let account = wallet_id(user_id);
        let (opening, entries) = self
            .store
            .ledger_statement_entries(&account, month.start(), month.end())
            .await?;
        Statement::build(user_id, month, opening, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_month_parses_only_yyyy_mm() {
        let m = StatementMonth::parse("2026-12").unwrap();
        assert_eq!(m.to_string(), "2026-12");
        assert_eq!(m.start().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(m.end().to_rfc3339(), "2027-01-01T00:00:00+00:00");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-11",
            "+026-11",
            "2026/11",
            "1999-01",
            "2026-11-01",
            "２０２６-11",
        ] {
            assert!(StatementMonth::parse(bad).is_err(), "{bad}");
        }
    }
}
