//! Holds: place, capture (at most the held amount, the rest released), void and the
//! expiry sweep. A hold is a pending transfer from a wallet to the holds account; it
//! resolves exactly once (I8). Lock order: the hold row, then accounts by id, then the
//! audit append lock.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::rules::{self, AccountState};
use super::service::{
    check_metadata, leg, lock_accounts, new_id, replay, retrying, Audit, TruncMicros,
};
use super::{
    wallet_id, AccountKind, Capture, Hold, HoldStatus, IdempotencyKey, Ledger, LedgerError, Side,
    TransferKind,
};
use crate::domain::money::MicroUsd;
use crate::store::ledger::{LedgerTx, NewHold};

impl Ledger {
    /// Reserves `amount` of `user_id`'s available funds until `expires_at`; fails when
    /// the wallet's available funds (posted minus pending holds) are short.
    pub async fn place_hold(
        &self,
        key: &IdempotencyKey,
        user_id: &str,
        amount: MicroUsd,
        expires_at: DateTime<Utc>,
        metadata: Value,
    ) -> Result<Hold, LedgerError> {
        check_metadata(&metadata)?;
        if amount <= MicroUsd::ZERO {
            return Err(LedgerError::Invalid(format!(
                "a hold must be positive, got {}",
                amount.0
            )));
        }
        if expires_at <= Utc::now() {
            return Err(LedgerError::Invalid(
                "a hold must expire in the future".into(),
            ));
        }
        let params = json!({ "user": user_id, "amount": amount, "expires_at": expires_at,
            "metadata": metadata });
        let hash = rules::request_hash("hold", &params);
        retrying(|| self.hold_once(key, &hash, user_id, amount, expires_at, &metadata)).await
    }

    async fn hold_once(
        &self,
        key: &IdempotencyKey,
        hash: &str,
        user_id: &str,
        amount: MicroUsd,
        expires_at: DateTime<Utc>,
        metadata: &Value,
    ) -> Result<Hold, LedgerError> {
        let _gate = self.gate().await;
        let mut tx = self.store.ledger_begin().await?;
        if let Some(first) = replay(&mut tx, key, "hold", hash).await? {
            return Ok(first);
        }
        self.step("begin")?;
        let (mut holds, mut wallet) = lock_pair(&mut tx, &wallet_id(user_id)).await?;
        self.step("locked")?;
        rules::place_hold(&mut wallet, &mut holds, amount)?;
        let hold = Hold {
            id: new_id("hold"),
            user_id: user_id.to_owned(),
            amount,
            captured: MicroUsd::ZERO,
            status: HoldStatus::Pending,
            expires_at: expires_at.trunc_micros(),
            created_at: crate::store::now(),
            resolved_at: None,
            capture_transaction_id: None,
        };
        tx.hold_insert(&NewHold {
            id: &hold.id,
            wallet_id: &wallet.id,
            amount,
            expires_at: hold.expires_at,
            created_at: hold.created_at,
            metadata,
        })
        .await?;
        self.step("hold")?;
        tx.accounts_update(&[holds, wallet.clone()]).await?;
        self.step("balance")?;
        let audit = Audit {
            action: "ledger.hold",
            target: &hold.id,
            detail: json!({ "idempotency_key": key.key, "wallet": wallet.id,
                "amount": amount, "expires_at": hold.expires_at }),
        };
        self.finish(tx, key, ("hold", hash), &hold, audit).await?;
        Ok(hold)
    }

    /// Captures `amount` (positive, at most the held amount) of a pending, unexpired hold
    /// into revenue and releases the rest; a hold resolves once.
    pub async fn capture_hold(
        &self,
        key: &IdempotencyKey,
        hold_id: &str,
        amount: MicroUsd,
        metadata: Value,
    ) -> Result<Capture, LedgerError> {
        check_metadata(&metadata)?;
        if amount <= MicroUsd::ZERO {
            return Err(LedgerError::Invalid(
                "a capture must be positive (void the hold to release it all)".into(),
            ));
        }
        let params = json!({ "hold": hold_id, "amount": amount, "metadata": metadata });
        let hash = rules::request_hash("capture", &params);
        retrying(|| self.capture_once(key, &hash, hold_id, amount, &metadata)).await
    }

    async fn capture_once(
        &self,
        key: &IdempotencyKey,
        hash: &str,
        hold_id: &str,
        amount: MicroUsd,
        metadata: &Value,
    ) -> Result<Capture, LedgerError> {
        let _gate = self.gate().await;
        let mut tx = self.store.ledger_begin().await?;
        if let Some(first) = replay(&mut tx, key, "capture", hash).await? {
            return Ok(first);
        }
        self.step("begin")?;
        let (mut hold, wallet) = lock_pending_hold(&mut tx, hold_id).await?;
        if hold.expires_at <= Utc::now() {
            return Err(LedgerError::HoldExpired(hold.id));
        }
        if amount > hold.amount {
            return Err(LedgerError::CaptureExceedsHold {
                requested: amount,
                held: hold.amount,
            });
        }
        let revenue = AccountKind::Revenue.system_id();
        let holds_id = AccountKind::Holds.system_id();
        let ids = vec![holds_id.as_str(), revenue.as_str(), wallet.as_str()];
        let mut accounts = lock_accounts(&mut tx, ids).await?;
        self.step("locked")?;
        release(&mut accounts, hold.amount)?;
        let legs = [
            leg(&wallet_id(&hold.user_id), Side::Debit, amount),
            leg(&revenue, Side::Credit, amount),
        ];
        rules::apply_legs(&mut accounts, &legs)?;
        let mut meta = metadata.clone();
        if let Some(map) = meta.as_object_mut() {
            map.insert("hold_id".into(), Value::String(hold.id.clone()));
        }
        let transaction = self
            .write_transaction(&mut tx, key, TransferKind::Capture, &legs, &meta)
            .await?;
        tx.accounts_update(&accounts).await?;
        self.step("balance")?;
        hold.status = HoldStatus::Captured;
        hold.captured = amount;
        hold.resolved_at = Some(crate::store::now());
        hold.capture_transaction_id = Some(transaction.id.clone());
        tx.hold_resolve(&hold).await?;
        self.step("hold")?;
        let detail = json!({
            "kind": TransferKind::Capture,
            "idempotency_key": key.key,
            "entries": transaction.entries,
            "metadata": meta,
            "hold_id": hold.id,
            "released": hold.amount,
        });
        let capture = Capture { hold, transaction };
        let audit = Audit {
            action: "ledger.post",
            target: &capture.transaction.id,
            detail,
        };
        self.finish(tx, key, ("capture", hash), &capture, audit)
            .await?;
        Ok(capture)
    }

    /// Releases a pending hold entirely; a hold resolves once.
    pub async fn void_hold(
        &self,
        key: &IdempotencyKey,
        hold_id: &str,
    ) -> Result<Hold, LedgerError> {
        let hash = rules::request_hash("void", &json!({ "hold": hold_id }));
        retrying(|| self.release_once(key, &hash, hold_id, HoldStatus::Voided, None)).await
    }

    /// Expires up to `limit` pending holds whose expiry is at or before `now`, each in its
    /// own transaction (key `expire:<hold id>` in scope `system`); returns those expired.
    pub async fn expire_holds(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Hold>, LedgerError> {
        let mut expired = Vec::new();
        for id in self.store.ledger_due_holds(now, limit).await? {
            let key = IdempotencyKey::new("system", &format!("expire:{id}"))?;
            let hash = rules::request_hash("expire", &json!({ "hold": id }));
            let result =
                retrying(|| self.release_once(&key, &hash, &id, HoldStatus::Expired, Some(now)))
                    .await;
            match result {
                Ok(hold) => expired.push(hold),
                // Captured or voided since it was listed: nothing to expire.
                Err(LedgerError::HoldResolved { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Voids (`due = None`) or expires (`due = Some(now)`) a pending hold.
    async fn release_once(
        &self,
        key: &IdempotencyKey,
        hash: &str,
        hold_id: &str,
        status: HoldStatus,
        due: Option<DateTime<Utc>>,
    ) -> Result<Hold, LedgerError> {
        let op = status.as_str();
        let _gate = self.gate().await;
        let mut tx = self.store.ledger_begin().await?;
        if let Some(first) = replay(&mut tx, key, op, hash).await? {
            return Ok(first);
        }
        self.step("begin")?;
        let (mut hold, wallet) = lock_pending_hold(&mut tx, hold_id).await?;
        if due.is_some_and(|now| hold.expires_at > now) {
            return Err(LedgerError::Invalid(format!("hold {hold_id} is not due")));
        }
        let (mut holds, mut wallet) = lock_pair(&mut tx, &wallet).await?;
        self.step("locked")?;
        rules::release_hold(&mut wallet, &mut holds, hold.amount)?;
        hold.status = status;
        hold.resolved_at = Some(crate::store::now());
        tx.hold_resolve(&hold).await?;
        self.step("hold")?;
        tx.accounts_update(&[holds, wallet.clone()]).await?;
        self.step("balance")?;
        let action = if status == HoldStatus::Expired {
            "ledger.expire"
        } else {
            "ledger.void"
        };
        let audit = Audit {
            action,
            target: &hold.id,
            detail: json!({ "idempotency_key": key.key, "wallet": wallet.id,
                "released": hold.amount }),
        };
        self.finish(tx, key, (op, hash), &hold, audit).await?;
        Ok(hold)
    }
}

/// Locks the holds account and `wallet` (in id order); returns `(holds, wallet)`.
async fn lock_pair(
    tx: &mut LedgerTx,
    wallet: &str,
) -> Result<(AccountState, AccountState), LedgerError> {
    let holds_id = AccountKind::Holds.system_id();
    let mut accounts = lock_accounts(tx, vec![holds_id.as_str(), wallet]).await?;
    // "sys:…" sorts before "wallet:…": the holds account comes first.
    match (accounts.pop(), accounts.pop()) {
        (Some(wallet), Some(holds)) if holds.kind == AccountKind::Holds => Ok((holds, wallet)),
        _ => Err(LedgerError::Invalid("hold accounts missing".into())),
    }
}

/// Locks a hold that must still be pending; returns it and its wallet account id.
async fn lock_pending_hold(tx: &mut LedgerTx, id: &str) -> Result<(Hold, String), LedgerError> {
    let (hold, wallet) = tx
        .hold_lock(id)
        .await?
        .ok_or_else(|| LedgerError::HoldNotFound(id.to_owned()))?;
    if hold.status != HoldStatus::Pending {
        return Err(LedgerError::HoldResolved {
            id: hold.id,
            status: hold.status,
        });
    }
    Ok((hold, wallet))
}

/// Releases `amount` pending between the wallet and the holds account in `accounts`.
fn release(accounts: &mut [AccountState], amount: MicroUsd) -> Result<(), LedgerError> {
    let holds_pos = accounts.iter().position(|a| a.kind == AccountKind::Holds);
    let wallet_pos = accounts.iter().position(|a| a.kind == AccountKind::Wallet);
    let (Some(h), Some(w)) = (holds_pos, wallet_pos) else {
        return Err(LedgerError::Invalid("hold accounts missing".into()));
    };
    let (mut holds, mut wallet) = (accounts[h].clone(), accounts[w].clone());
    rules::release_hold(&mut wallet, &mut holds, amount)?;
    accounts[h] = holds;
    accounts[w] = wallet;
    Ok(())
}
