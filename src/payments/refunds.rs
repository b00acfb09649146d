//! Refunds: never above what a payment captured, out of the wallet first, then through
//! the gateway; a refusal gives the money back, an interrupted refund is completed later.

use serde_json::json;

use super::gateway::{GatewayError, RefundRequest};
use super::service::{cents, key};
use super::{PaymentError, Payments};
use crate::domain::money::MicroUsd;
use crate::ledger::{wallet_id, AccountKind, LedgerError, Leg, Side, TransferKind};
use crate::store::payments::{Payment, Refund};

impl Payments {
    /// Gives a failed refund's money back to the wallet (once) and marks it failed.
    pub(super) async fn fail_refund(
        &self,
        refund: &Refund,
        gateway: &str,
    ) -> Result<(), PaymentError> {
        let mut reversal = None;
        if refund.ledger_transaction_id.is_some() {
            let legs = vec![
                Leg {
                    account_id: AccountKind::Refunds.system_id(),
                    side: Side::Debit,
                    amount: MicroUsd(refund.amount),
                },
                Leg {
                    account_id: wallet_id(&refund.user_id),
                    side: Side::Credit,
                    amount: MicroUsd(refund.amount),
                },
            ];
            let tx = self
                .ledger
                .post(
                    &Self::gateway_key(gateway, &format!("refund-reversal:{}", refund.id))?,
                    TransferKind::Transfer,
                    legs,
                    json!({"refund_id": refund.id, "payment_id": refund.payment_id, "reason": "refund failed at the gateway"}),
                )
                .await?;
            reversal = Some(tx.id);
        }
        self.store
            .refund_fail(&refund.id, reversal.as_deref())
            .await?;
        Ok(())
    }

    /// A payment by id.
    pub async fn payment(&self, id: &str) -> Result<Payment, PaymentError> {
        self.store
            .payment(id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no payment {id}")))
    }

    /// Refunds `amount` (default: all that is left) of a payment, asked by `actor`: the
    /// money leaves the wallet first, then the gateway is asked; a refusal gives it back.
    pub async fn refund(
        &self,
        actor: &str,
        payment_id: &str,
        amount: Option<i64>,
        reason: &str,
    ) -> Result<Refund, PaymentError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 500 {
            return Err(PaymentError::Invalid(
                "reason must be 1 to 500 characters".into(),
            ));
        }
        let payment = self.payment(payment_id).await?;
        let refundable = payment.amount - payment.refunded;
        let amount = amount.unwrap_or(refundable);
        if amount <= 0 {
            return Err(if refundable == 0 {
                PaymentError::Conflict(format!("payment {payment_id} is already fully refunded"))
            } else {
                PaymentError::Invalid("amount_micro_usd must be positive".into())
            });
        }
        cents(amount)?;
        if amount > refundable {
            return Err(PaymentError::Conflict(format!(
                "a refund of {} exceeds the {} still refundable on payment {payment_id}",
                MicroUsd(amount),
                MicroUsd(refundable)
            )));
        }
        let refund = self
            .store
            .refund_reserve(&payment, amount, reason, actor)
            .await?
            .ok_or_else(|| {
                PaymentError::Conflict(format!(
                    "payment {payment_id} changed meanwhile; less than {} is refundable now",
                    MicroUsd(amount)
                ))
            })?;
        self.complete_refund(refund, &payment).await
    }

    /// Takes a reserved refund out of the wallet (unless already done) and asks the
    /// gateway for it (unless already asked). Every step is idempotent: the ledger by the
    /// key `refund:<id>` in the requester's scope, the gateway by the refund id as its
    /// idempotency key; so an interrupted refund can be completed by running this again.
    async fn complete_refund(
        &self,
        refund: Refund,
        payment: &Payment,
    ) -> Result<Refund, PaymentError> {
        let refund = if refund.ledger_transaction_id.is_some() {
            refund
        } else {
            let taken = self
                .ledger
                .refund(
                    &key(&refund.requested_by, &format!("refund:{}", refund.id))?,
                    &payment.user_id,
                    MicroUsd(refund.amount),
                    json!({"refund_id": refund.id, "payment_id": payment.id, "reason": refund.reason}),
                )
                .await;
            let tx = match taken {
                Ok(tx) => tx,
                Err(err) => {
                    if matches!(
                        err,
                        LedgerError::InsufficientFunds { .. } | LedgerError::Invalid(_)
                    ) {
                        self.store.refund_fail(&refund.id, None).await?;
                    }
                    return Err(match err {
                        LedgerError::InsufficientFunds { available, .. } => PaymentError::Conflict(format!(
                            "the wallet has only {available} available; a refund cannot take it below zero"
                        )),
                        other => other.into(),
                    });
                }
            };
            self.store.refund_set_ledger(&refund.id, &tx.id).await?;
            Refund {
                ledger_transaction_id: Some(tx.id),
                ..refund
            }
        };
        if refund.gateway_ref.is_none() {
            let request = RefundRequest {
                refund_id: refund.id.clone(),
                payment_ref: payment.payment_ref.clone(),
                amount_cents: cents(refund.amount)?,
            };
            match self.gateway.refund(&request).await {
                Ok(answer) if answer.failed => {
                    self.fail_refund(&refund, &payment.gateway).await?;
                    return Err(PaymentError::Gateway(GatewayError::Rejected(
                        "the gateway declined the refund; the wallet was credited back".into(),
                    )));
                }
                Ok(answer) => {
                    self.store
                        .refund_confirm(&refund.id, Some(&answer.refund_ref), answer.succeeded)
                        .await?;
                    self.notify(
                        &payment.user_id,
                        "payment.refunded",
                        json!({"refund_id": refund.id, "payment_id": payment.id, "amount_micro_usd": refund.amount}),
                    );
                }
                Err(GatewayError::Rejected(message)) => {
                    self.fail_refund(&refund, &payment.gateway).await?;
                    return Err(PaymentError::Gateway(GatewayError::Rejected(message)));
                }
                Err(err) => {
                    // The gateway may or may not have made it: the refund stays pending
                    // (the money is out of the wallet) until a webhook or the retry
                    // sweep settles it.
                    tracing::warn!(refund = %refund.id, error = %err, "refund left pending: the gateway did not answer");
                    return Err(PaymentError::Gateway(err));
                }
            }
        }
        self.store
            .refund(&refund.id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(format!("no refund {}", refund.id)))
    }

    /// Completes refunds interrupted before the gateway answered (a crash, a timeout),
    /// pending for at least `min_age`; returns how many were settled or sent.
    pub async fn retry_pending_refunds(
        &self,
        min_age: chrono::Duration,
    ) -> Result<usize, PaymentError> {
        let cutoff = crate::store::now() - min_age;
        let stale = self.store.refunds_unsent(cutoff, 50).await?;
        let mut done = 0;
        for refund in stale {
            let id = refund.id.clone();
            let payment = self.payment(&refund.payment_id).await?;
            match self.complete_refund(refund, &payment).await {
                Ok(_) => done += 1,
                Err(err) => {
                    tracing::warn!(refund = %id, error = %err, "retrying a pending refund failed");
                }
            }
        }
        Ok(done)
    }
}
