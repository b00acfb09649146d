//! The double-entry ledger: accounts, posted transactions, holds, and their rules.
//!
//! Amounts are integer micro-USD ([`MicroUsd`]). Every posted transaction has at least two
//! entries on distinct accounts whose debits equal its credits; an account's balance is
//! its credits minus its debits. A hold is a pending transfer from a wallet to the holds
//! account: it lowers the wallet's available funds (`balance - held`) until it is
//! captured (posted to revenue), voided or expired. A wallet's available funds never go
//! negative. Every operation carries an [`IdempotencyKey`]; all SQL lives in
//! `store::ledger`, the orchestration in [`service`], the pure rules in [`rules`].
//! See `docs/ledger.md`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::money::MicroUsd;
use crate::store::StoreError;

mod holds;
pub mod rules;
pub mod service;
pub mod statement;
pub mod statement_format;
pub mod verify;

pub use service::Ledger;

/// The only currency so far.
pub const CURRENCY: &str = "USD";

/// What an account is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A user's prepaid funds (one per user).
    Wallet,
    /// Counterparty of pending holds.
    Holds,
    /// Captured usage.
    Revenue,
    /// What providers bill us.
    ProviderCosts,
    /// Money received from payment gateways, not yet in a wallet.
    PaymentClearing,
    /// Money returned to users.
    Refunds,
}

impl AccountKind {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wallet => "wallet",
            Self::Holds => "holds",
            Self::Revenue => "revenue",
            Self::ProviderCosts => "provider_costs",
            Self::PaymentClearing => "payment_clearing",
            Self::Refunds => "refunds",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Wallet,
            Self::Holds,
            Self::Revenue,
            Self::ProviderCosts,
            Self::PaymentClearing,
            Self::Refunds,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The fixed id of a system account (`sys:<kind>`); wallets have per-user ids.
    pub fn system_id(self) -> String {
        format!("sys:{}", self.as_str())
    }
}

/// The account id of `user_id`'s wallet.
pub fn wallet_id(user_id: &str) -> String {
    format!("wallet:{user_id}")
}

/// Debit or credit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Debit,
    Credit,
}

impl Side {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Debit => "debit",
            Self::Credit => "credit",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "debit" => Some(Self::Debit),
            "credit" => Some(Self::Credit),
            _ => None,
        }
    }
}

/// Why money moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferKind {
    /// Payment clearing → wallet.
    TopUp,
    /// Wallet → refunds.
    Refund,
    /// Wallet → revenue, without a hold.
    Charge,
    /// A hold's captured part: wallet → revenue.
    Capture,
    /// Any other balanced set of legs (corrections, reversals).
    Transfer,
}

impl TransferKind {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "top_up",
            Self::Refund => "refund",
            Self::Charge => "charge",
            Self::Capture => "capture",
            Self::Transfer => "transfer",
        }
    }
}

impl fmt::Display for TransferKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The life of a hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    Pending,
    Captured,
    Voided,
    Expired,
}

impl HoldStatus {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Captured => "captured",
            Self::Voided => "voided",
            Self::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Captured, Self::Voided, Self::Expired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

impl fmt::Display for HoldStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation's idempotency key within a scope. The scope is who acts (a user id, or
/// `system` for internal callers) and is recorded as the audit actor; the same key in
/// another scope is another operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
}

impl IdempotencyKey {
    /// Longest accepted key and scope, in bytes.
    pub const MAX_LEN: usize = 255;

    /// A key; both parts 1 to 255 bytes without control characters.
    pub fn new(scope: &str, key: &str) -> Result<Self, LedgerError> {
        for (what, value) in [("scope", scope), ("key", key)] {
            if value.is_empty()
                || value.len() > Self::MAX_LEN
                || value.chars().any(char::is_control)
            {
                return Err(LedgerError::Invalid(format!(
                    "idempotency {what} must be 1 to {} printable bytes",
                    Self::MAX_LEN
                )));
            }
        }
        Ok(Self {
            scope: scope.to_owned(),
            key: key.to_owned(),
        })
    }
}

/// One side of a transfer: `amount` debited or credited to `account_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub account_id: String,
    pub side: Side,
    pub amount: MicroUsd,
}

/// A posted entry, as returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub account_id: String,
    pub side: Side,
    pub amount: MicroUsd,
}

/// A posted transaction with its entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub id: String,
    pub kind: TransferKind,
    pub created_at: DateTime<Utc>,
    pub metadata: Value,
    pub entries: Vec<Entry>,
}

/// A hold on a wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    pub user_id: String,
    pub amount: MicroUsd,
    /// What was captured (0 unless captured).
    pub captured: MicroUsd,
    pub status: HoldStatus,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub capture_transaction_id: Option<String>,
}

/// The result of a capture: the resolved hold and the posted transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    pub hold: Hold,
    pub transaction: Transaction,
}

/// A wallet's balances: `available = posted - held`, never negative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WalletBalance {
    pub user_id: String,
    pub currency: &'static str,
    pub posted: MicroUsd,
    pub held: MicroUsd,
    pub available: MicroUsd,
    /// Pending holds, newest first.
    pub holds: Vec<Hold>,
}

/// One transaction as seen from a wallet: the wallet's own entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalletTransaction {
    pub id: String,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub side: Side,
    pub amount: MicroUsd,
    pub metadata: Value,
}

/// A page of a wallet's transactions, newest first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalletTransactionPage {
    pub items: Vec<WalletTransaction>,
    /// Pass back to get the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Why a ledger operation did not apply. Nothing is applied when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Bad parameters: non-positive amount, unbalanced legs, unknown user or account.
    #[error("{0}")]
    Invalid(String),
    #[error("insufficient funds: {available} available, {needed} needed")]
    InsufficientFunds {
        available: MicroUsd,
        needed: MicroUsd,
    },
    #[error("idempotency key {0:?} was already used with different parameters")]
    IdempotencyConflict(String),
    #[error("no hold {0}")]
    HoldNotFound(String),
    #[error("hold {id} is already {status}")]
    HoldResolved { id: String, status: HoldStatus },
    #[error("hold {0} has expired")]
    HoldExpired(String),
    #[error("capture of {requested} exceeds the {held} held")]
    CaptureExceedsHold { requested: MicroUsd, held: MicroUsd },
    #[error("arithmetic overflow")]
    Overflow,
    /// A failure injected by a test hook (see [`Ledger::with_failpoint`]).
    #[error("injected failure at {0}")]
    Injected(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::domain::money::MoneyError> for LedgerError {
    fn from(_: crate::domain::money::MoneyError) -> Self {
        Self::Overflow
    }
}
