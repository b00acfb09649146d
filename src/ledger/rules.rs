//! Pure ledger rules: validating legs, applying them and holds to account states with
//! checked arithmetic, and the fingerprint of an operation's parameters.
//!
//! Every function either returns the complete new state or an error and changes nothing,
//! so the service writes only states that passed every check (I4, I12).

use std::collections::HashSet;

use serde_json::Value;

use super::{AccountKind, LedgerError, Leg, Side};
use crate::domain::money::MicroUsd;

/// An account's cached balances, as locked for an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountState {
    pub id: String,
    pub kind: AccountKind,
    /// Credits minus debits of its posted entries.
    pub balance: i64,
    /// Pending holds against it (wallets).
    pub pending_debits: i64,
    /// Pending holds in its favour (the holds account).
    pub pending_credits: i64,
}

impl AccountState {
    /// A new account with zero balances.
    pub fn new(id: String, kind: AccountKind) -> Self {
        Self {
            id,
            kind,
            balance: 0,
            pending_debits: 0,
            pending_credits: 0,
        }
    }

    /// `balance - pending_debits`.
    pub fn available(&self) -> Result<MicroUsd, LedgerError> {
        MicroUsd(self.balance)
            .checked_sub(MicroUsd(self.pending_debits))
            .map_err(LedgerError::from)
    }
}

/// Checks a transfer's legs: at least two, positive amounts, distinct accounts, debits
/// equal to credits (I1). Returns the total moved.
pub fn validate_legs(legs: &[Leg]) -> Result<MicroUsd, LedgerError> {
    if legs.len() < 2 {
        return Err(LedgerError::Invalid(
            "a transfer needs at least two legs".into(),
        ));
    }
    let mut seen = HashSet::new();
    let (mut debits, mut credits) = (MicroUsd::ZERO, MicroUsd::ZERO);
    for leg in legs {
        if leg.amount <= MicroUsd::ZERO {
            return Err(LedgerError::Invalid(format!(
                "amounts must be positive, got {}",
                leg.amount.0
            )));
        }
        if !seen.insert(leg.account_id.as_str()) {
            return Err(LedgerError::Invalid(format!(
                "account {} appears in more than one leg",
                leg.account_id
            )));
        }
        match leg.side {
            Side::Debit => debits = debits.checked_add(leg.amount)?,
            Side::Credit => credits = credits.checked_add(leg.amount)?,
        }
    }
    if debits != credits {
        return Err(LedgerError::Invalid(format!(
            "debits {} do not equal credits {}",
            debits.0, credits.0
        )));
    }
    Ok(debits)
}

/// Applies validated `legs` to `accounts` (every leg's account must be present): credits
/// add to the balance, debits subtract. Fails, leaving `accounts` unchanged, on overflow
/// (I12) or when a wallet's available funds would go negative (I4).
pub fn apply_legs(accounts: &mut [AccountState], legs: &[Leg]) -> Result<(), LedgerError> {
    let mut next = accounts.to_vec();
    for leg in legs {
        let account = next
            .iter_mut()
            .find(|a| a.id == leg.account_id)
            .ok_or_else(|| LedgerError::Invalid(format!("no account {}", leg.account_id)))?;
        let balance = MicroUsd(account.balance);
        account.balance = match leg.side {
            Side::Credit => balance.checked_add(leg.amount)?,
            Side::Debit => balance.checked_sub(leg.amount)?,
        }
        .0;
    }
    for (before, after) in accounts.iter().zip(&next) {
        if after.kind == AccountKind::Wallet && after.available()? < MicroUsd::ZERO {
            let needed = MicroUsd(before.balance).checked_sub(MicroUsd(after.balance))?;
            return Err(LedgerError::InsufficientFunds {
                available: before.available()?,
                needed,
            });
        }
    }
    accounts.clone_from_slice(&next);
    Ok(())
}

/// Reserves `amount` on `wallet` in favour of `holds`; fails, changing nothing, when the
/// wallet's available funds would go negative or on overflow.
pub fn place_hold(
    wallet: &mut AccountState,
    holds: &mut AccountState,
    amount: MicroUsd,
) -> Result<(), LedgerError> {
    if amount <= MicroUsd::ZERO {
        return Err(LedgerError::Invalid(format!(
            "a hold must be positive, got {}",
            amount.0
        )));
    }
    let available = wallet.available()?;
    if available < amount {
        return Err(LedgerError::InsufficientFunds {
            available,
            needed: amount,
        });
    }
    let pending_debits = MicroUsd(wallet.pending_debits).checked_add(amount)?;
    let pending_credits = MicroUsd(holds.pending_credits).checked_add(amount)?;
    wallet.pending_debits = pending_debits.0;
    holds.pending_credits = pending_credits.0;
    Ok(())
}

/// Releases a hold of `amount` (it was captured, voided or expired).
pub fn release_hold(
    wallet: &mut AccountState,
    holds: &mut AccountState,
    amount: MicroUsd,
) -> Result<(), LedgerError> {
    let pending_debits = MicroUsd(wallet.pending_debits).checked_sub(amount)?;
    let pending_credits = MicroUsd(holds.pending_credits).checked_sub(amount)?;
    if pending_debits < MicroUsd::ZERO || pending_credits < MicroUsd::ZERO {
        return Err(LedgerError::Invalid(
            "releasing more than is pending".into(),
        ));
    }
    wallet.pending_debits = pending_debits.0;
    holds.pending_credits = pending_credits.0;
    Ok(())
}

/// The fingerprint of an operation: lowercase hex SHA-256 of the canonical JSON of
/// `{"op": op, "params": params}`. The same key with another fingerprint is refused.
pub fn request_hash(op: &str, params: &Value) -> String {
    let canonical = crate::domain::audit::canonical_json(&serde_json::json!({
        "op": op,
        "params": params,
    }));
    crate::domain::audit::chain_hash("", canonical.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(account: &str, side: Side, amount: i64) -> Leg {
        Leg {
            account_id: account.into(),
            side,
            amount: MicroUsd(amount),
        }
    }

    fn wallet(balance: i64, pending: i64) -> AccountState {
        AccountState {
            balance,
            pending_debits: pending,
            ..AccountState::new("w".into(), AccountKind::Wallet)
        }
    }

    #[test]
    fn ledger_i1_legs_must_balance_be_positive_and_distinct() {
        assert!(validate_legs(&[leg("a", Side::Debit, 5)]).is_err());
        assert!(validate_legs(&[leg("a", Side::Debit, 5), leg("b", Side::Credit, 4)]).is_err());
        assert!(validate_legs(&[leg("a", Side::Debit, 0), leg("b", Side::Credit, 0)]).is_err());
        assert!(validate_legs(&[leg("a", Side::Debit, 5), leg("a", Side::Credit, 5)]).is_err());
        assert_eq!(
            validate_legs(&[
                leg("a", Side::Debit, 5),
                leg("b", Side::Credit, 2),
                leg("c", Side::Credit, 3)
            ])
            .unwrap(),
            MicroUsd(5)
        );
        assert!(matches!(
            validate_legs(&[
                leg("a", Side::Debit, i64::MAX),
                leg("b", Side::Debit, 1),
                leg("c", Side::Credit, 1)
            ]),
            Err(LedgerError::Overflow)
        ));
    }

    #[test]
    fn ledger_i4_i12_apply_refuses_negative_wallets_and_overflow_changing_nothing() {
        let mut accounts = vec![
            wallet(10, 4),
            AccountState::new("r".into(), AccountKind::Revenue),
        ];
        let before = accounts.clone();
        let err = apply_legs(
            &mut accounts,
            &[leg("w", Side::Debit, 7), leg("r", Side::Credit, 7)],
        );
        assert!(matches!(
            err,
            Err(LedgerError::InsufficientFunds {
                available: MicroUsd(6),
                needed: MicroUsd(7)
            })
        ));
        assert_eq!(accounts, before);
        apply_legs(
            &mut accounts,
            &[leg("w", Side::Debit, 6), leg("r", Side::Credit, 6)],
        )
        .unwrap();
        assert_eq!((accounts[0].balance, accounts[1].balance), (4, 6));

        let mut accounts = vec![
            wallet(i64::MAX, 0),
            AccountState::new("c".into(), AccountKind::PaymentClearing),
        ];
        let before = accounts.clone();
        let err = apply_legs(
            &mut accounts,
            &[leg("c", Side::Debit, 1), leg("w", Side::Credit, 1)],
        );
        assert!(matches!(err, Err(LedgerError::Overflow)));
        assert_eq!(accounts, before);
    }

    #[test]
    fn ledger_i4_holds_reduce_available_and_release_restores_it() {
        let mut w = wallet(10, 0);
        let mut h = AccountState::new("h".into(), AccountKind::Holds);
        place_hold(&mut w, &mut h, MicroUsd(8)).unwrap();
        assert_eq!(w.available().unwrap(), MicroUsd(2));
        assert!(matches!(
            place_hold(&mut w, &mut h, MicroUsd(3)),
            Err(LedgerError::InsufficientFunds { .. })
        ));
        assert_eq!((w.pending_debits, h.pending_credits), (8, 8));
        release_hold(&mut w, &mut h, MicroUsd(8)).unwrap();
        assert_eq!((w.pending_debits, h.pending_credits), (0, 0));
        assert!(release_hold(&mut w, &mut h, MicroUsd(1)).is_err());
    }

    #[test]
    fn ledger_i6_idempotency_keys_are_bounded() {
        use crate::ledger::IdempotencyKey;
        assert!(IdempotencyKey::new("u_1", "k").is_ok());
        assert!(IdempotencyKey::new("", "k").is_err());
        assert!(IdempotencyKey::new("u_1", "").is_err());
        assert!(IdempotencyKey::new("u_1", &"k".repeat(256)).is_err());
        assert!(IdempotencyKey::new("u_1", "a\nb").is_err());
    }

    #[test]
    fn request_hash_depends_on_every_parameter() {
        let a = request_hash("top_up", &serde_json::json!({"amount": 5, "user": "u"}));
        let b = request_hash("top_up", &serde_json::json!({"user": "u", "amount": 5}));
        let c = request_hash("top_up", &serde_json::json!({"amount": 6, "user": "u"}));
        let d = request_hash("refund", &serde_json::json!({"amount": 5, "user": "u"}));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
