//! Applying verified gateway events: each once, in any order. An event whose
//! prerequisite has not arrived waits and is applied when a later event supplies it.

use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::events::{self, CheckoutMode, Event, EventKind, RefundState};
use super::service::{key, micro};
use super::{signature, PaymentError, Payments};
use crate::domain::money::MicroUsd;
use crate::ledger::{AccountKind, IdempotencyKey, Leg, Side, TransferKind};
use crate::store::payments::{InvoiceFacts, PaidTopUp, PaymentMethod};

/// Waiting events re-examined per pass.
const WAITING_BATCH: i64 = 200;

/// What applying an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied (or recognised as needing nothing); never looked at again.
    Done(String),
    /// A prerequisite is missing; retried when later events arrive.
    Waiting(String),
}

/// The answer to a webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookReceipt {
    pub event_id: String,
    /// False when the event id had been received before (nothing was applied again).
    pub first_delivery: bool,
    pub outcome: String,
}

impl Payments {
    /// Verifies, stores and applies one webhook delivery for `gateway`.
    pub async fn receive_webhook(
        &self,
        gateway: &str,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookReceipt, PaymentError> {
        if gateway != self.gateway.name() {
            return Err(PaymentError::NotFound(format!(
                "no payment gateway {gateway:?} is configured here"
            )));
        }
        signature::verify(
            signature_header,
            body,
            self.gateway.webhook_secret(),
            Utc::now().timestamp(),
            signature::DEFAULT_TOLERANCE_SECS,
        )?;
        let event = events::parse(body)?;
        let payload = std::str::from_utf8(body)
            .map_err(|_| PaymentError::Invalid("the event is not UTF-8".into()))?;
        let first = self
            .store
            .payment_event_insert(gateway, &event.id, &event.event_type, payload)
            .await?;
        let outcome = self.apply_and_record(gateway, &event).await?;
        self.apply_waiting(gateway).await;
        Ok(WebhookReceipt {
            event_id: event.id,
            first_delivery: first,
            outcome,
        })
    }

    async fn apply_and_record(&self, gateway: &str, event: &Event) -> Result<String, PaymentError> {
        let (outcome, processed) = match self.apply(gateway, event).await? {
            Applied::Done(outcome) => (outcome, true),
            Applied::Waiting(reason) => (format!("waiting: {reason}"), false),
        };
        self.store
            .payment_event_outcome(gateway, &event.id, &outcome, processed)
            .await?;
        Ok(outcome)
    }

    /// Re-examines waiting events until none makes progress; failures are logged (the
    /// events stay waiting).
    pub async fn apply_waiting(&self, gateway: &str) {
        loop {
            let waiting = match self
                .store
                .payment_events_waiting(gateway, WAITING_BATCH)
                .await
            {
                Ok(w) => w,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot list waiting payment events");
                    return;
                }
            };
            let mut progress = false;
            for stored in waiting {
                let event = match events::parse(stored.payload.as_bytes()) {
                    Ok(e) => e,
                    Err(err) => {
                        let _ = self
                            .store
                            .payment_event_outcome(
                                gateway,
                                &stored.event_id,
                                &err.to_string(),
                                true,
                            )
                            .await;
                        continue;
                    }
                };
                match self.apply_and_record(gateway, &event).await {
                    Ok(outcome) if !outcome.starts_with("waiting: ") => progress = true,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(event = %stored.event_id, error = %err, "applying a waiting payment event failed");
                    }
                }
            }
            if !progress {
                return;
            }
        }
    }

    pub(super) fn gateway_key(gateway: &str, what: &str) -> Result<IdempotencyKey, PaymentError> {
        key(&format!("gateway:{gateway}"), what)
    }

    /// Applies one event's effect; every step is idempotent.
    async fn apply(&self, gateway: &str, event: &Event) -> Result<Applied, PaymentError> {
        Ok(match &event.kind {
            EventKind::CheckoutPaid {
                session_ref,
                checkout_id,
                mode,
                payment_ref,
                subscription_ref,
                customer_ref,
                amount_total,
                currency,
            } => {
                let checkout = match checkout_id {
                    Some(id) => self.store.checkout(id).await?,
                    None => self.store.checkout_by_session(gateway, session_ref).await?,
                };
                let Some(checkout) = checkout.filter(|c| c.gateway == gateway) else {
                    return Ok(Applied::Done(
                        "ignored: not a checkout of this broker".into(),
                    ));
                };
                if !currency.eq_ignore_ascii_case(&checkout.currency) {
                    tracing::warn!(checkout = %checkout.id, %currency, "checkout paid in an unexpected currency; not credited");
                    return Ok(Applied::Done(format!(
                        "refused: paid in {currency}, expected {}",
                        checkout.currency
                    )));
                }
                match (mode, checkout.purpose.as_str()) {
                    (CheckoutMode::Payment, "top_up") => {
                        let paid = micro(*amount_total)?;
                        if paid == 0 {
                            return Ok(Applied::Done("nothing was paid".into()));
                        }
                        let payment_ref = payment_ref.as_deref().unwrap_or(session_ref);
                        let tx = self
                            .ledger
                            .top_up(
                                &Self::gateway_key(gateway, &format!("checkout:{}", checkout.id))?,
                                &checkout.user_id,
                                MicroUsd(paid),
                                json!({"checkout_id": checkout.id, "payment_ref": payment_ref, "gateway": gateway}),
                            )
                            .await?;
                        self.store
                            .payment_record_top_up(&PaidTopUp {
                                checkout_id: &checkout.id,
                                user_id: &checkout.user_id,
                                gateway,
                                payment_ref,
                                customer_ref: customer_ref.as_deref(),
                                amount: paid,
                                currency: &checkout.currency,
                                ledger_transaction_id: &tx.id,
                            })
                            .await?;
                        if paid != checkout.amount {
                            tracing::warn!(checkout = %checkout.id, paid, expected = checkout.amount, "checkout paid a different amount; credited what was paid");
                        }
                        self.notify(
                            &checkout.user_id,
                            "payment.succeeded",
                            json!({"checkout_id": checkout.id, "amount_micro_usd": paid, "transaction_id": tx.id}),
                        );
                        Applied::Done(format!("credited {}", MicroUsd(paid)))
                    }
                    (CheckoutMode::Subscription, "subscription") => {
                        let Some(subscription_ref) = subscription_ref else {
                            return Ok(Applied::Done(
                                "ignored: no subscription on the session".into(),
                            ));
                        };
                        self.store
                            .subscription_record_checkout(
                                &checkout,
                                subscription_ref,
                                customer_ref.as_deref(),
                            )
                            .await?;
                        self.forget_plan(&checkout.user_id);
                        Applied::Done("subscription started".into())
                    }
                    _ => Applied::Done(
                        "ignored: the checkout mode does not match its purpose".into(),
                    ),
                }
            }
            EventKind::CheckoutAwaitingPayment { .. } => {
                Applied::Done("payment processing; waiting for its result".into())
            }
            EventKind::CheckoutEnded {
                session_ref,
                checkout_id,
                expired,
            } => {
                let checkout = match checkout_id {
                    Some(id) => self.store.checkout(id).await?,
                    None => self.store.checkout_by_session(gateway, session_ref).await?,
                };
                match checkout {
                    Some(c) => {
                        let status = if *expired { "expired" } else { "failed" };
                        self.store.checkout_end(&c.id, status).await?;
                        Applied::Done(format!("checkout {status} unless already paid"))
                    }
                    None => Applied::Done("ignored: unknown checkout".into()),
                }
            }
            EventKind::Refund {
                refund_ref,
                refund_id,
                state,
            } => {
                let refund = match refund_id {
                    Some(id) => self.store.refund(id).await?,
                    None => self.store.refund_by_ref(refund_ref).await?,
                };
                let Some(refund) = refund else {
                    return Ok(Applied::Waiting(format!(
                        "refund {refund_ref} is not one of ours (made outside the broker?)"
                    )));
                };
                match state {
                    RefundState::Failed => {
                        self.fail_refund(&refund, gateway).await?;
                        Applied::Done("refund failed; the wallet was credited back".into())
                    }
                    RefundState::Succeeded | RefundState::Pending => {
                        let succeeded = *state == RefundState::Succeeded;
                        self.store
                            .refund_confirm(&refund.id, Some(refund_ref), succeeded)
                            .await?;
                        Applied::Done(
                            if succeeded {
                                "refund succeeded"
                            } else {
                                "refund pending"
                            }
                            .into(),
                        )
                    }
                }
            }
            EventKind::Invoice {
                invoice_ref,
                number,
                subscription_ref,
                paid,
                amount,
                currency,
                period_start,
                period_end,
            } => {
                let Some(subscription) = self
                    .store
                    .subscription_by_ref(gateway, subscription_ref)
                    .await?
                else {
                    return Ok(Applied::Waiting(format!(
                        "subscription {subscription_ref} is not known yet"
                    )));
                };
                let amount = micro(*amount)?;
                let mut ledger_tx = None;
                if *paid && amount > 0 {
                    let legs = vec![
                        Leg {
                            account_id: AccountKind::PaymentClearing.system_id(),
                            side: Side::Debit,
                            amount: MicroUsd(amount),
                        },
                        Leg {
                            account_id: AccountKind::Revenue.system_id(),
                            side: Side::Credit,
                            amount: MicroUsd(amount),
                        },
                    ];
                    let tx = self
                        .ledger
                        .post(
                            &Self::gateway_key(gateway, &format!("invoice:{invoice_ref}"))?,
                            TransferKind::Transfer,
                            legs,
                            json!({"invoice_ref": invoice_ref, "subscription_id": subscription.id, "user_id": subscription.user_id, "reason": "subscription"}),
                        )
                        .await?;
                    ledger_tx = Some(tx.id);
                }
                self.forget_plan(&subscription.user_id);
                self.store
                    .invoice_record(&InvoiceFacts {
                        subscription: &subscription,
                        invoice_ref,
                        number: number.as_deref(),
                        paid: *paid,
                        amount,
                        currency,
                        period_start: *period_start,
                        period_end: *period_end,
                        ledger_transaction_id: ledger_tx.as_deref(),
                    })
                    .await?;
                Applied::Done(
                    if *paid {
                        "invoice paid"
                    } else {
                        "invoice payment failed"
                    }
                    .into(),
                )
            }
            EventKind::SubscriptionDeleted {
                subscription_ref,
                at,
            } => {
                let Some(subscription) = self
                    .store
                    .subscription_by_ref(gateway, subscription_ref)
                    .await?
                else {
                    return Ok(Applied::Waiting(format!(
                        "subscription {subscription_ref} is not known yet"
                    )));
                };
                self.store
                    .subscription_canceled(&subscription.id, *at)
                    .await?;
                self.forget_plan(&subscription.user_id);
                Applied::Done("subscription canceled".into())
            }
            EventKind::PaymentMethodAttached {
                method_ref,
                customer_ref,
                brand,
                last4,
                exp_month,
                exp_year,
            } => {
                let Some(user_id) = self.store.customer_user(gateway, customer_ref).await? else {
                    return Ok(Applied::Waiting(format!(
                        "customer {customer_ref} is not known yet"
                    )));
                };
                self.store
                    .payment_method_insert(&PaymentMethod {
                        id: format!("pm_{}", uuid::Uuid::now_v7().simple()),
                        user_id,
                        gateway: gateway.to_owned(),
                        method_ref: method_ref.clone(),
                        brand: brand.clone(),
                        last4: last4.clone(),
                        exp_month: *exp_month,
                        exp_year: *exp_year,
                        created_at: crate::store::now(),
                    })
                    .await?;
                Applied::Done("payment method saved".into())
            }
            EventKind::Ignored => Applied::Done("ignored".into()),
        })
    }
}
