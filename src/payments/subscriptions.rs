//! Subscriptions: started by a paid checkout, kept active by paid invoices, canceled at
//! the period's end or now with the unused part credited to the wallet.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::gateway::CheckoutKind;
use super::service::{key, MICRO_PER_CENT};
use super::{PaymentError, Payments};
use crate::domain::money::MicroUsd;
use crate::ledger::{wallet_id, AccountKind, Leg, Side, TransferKind};
use crate::store::payments::{Checkout, SubscriptionRow};

/// A subscription with its derived status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub plan_id: String,
    /// `monthly` or `annual`.
    pub billing_interval: String,
    /// `incomplete` (paid checkout, first invoice not confirmed yet), `active`,
    /// `past_due`, or `canceled`.
    pub status: String,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    /// Credited to the wallet for the unused part of the period on immediate
    /// cancellation (micro-USD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proration_credit_micro_usd: Option<i64>,
}

/// The status of a stored subscription at `now`.
pub fn subscription_status(row: &SubscriptionRow, now: DateTime<Utc>) -> &'static str {
    match (row.canceled_at, row.paid_through) {
        (Some(_), _) => "canceled",
        (None, None) => {
            if row.failed_through.is_some() {
                "past_due"
            } else {
                "incomplete"
            }
        }
        (None, Some(paid)) => {
            if row.failed_through.is_some_and(|failed| failed > paid) {
                "past_due"
            } else if paid <= now {
                if row.cancel_at_period_end {
                    "canceled"
                } else {
                    "past_due"
                }
            } else {
                "active"
            }
        }
    }
}

fn view(row: &SubscriptionRow, now: DateTime<Utc>, proration: Option<i64>) -> SubscriptionView {
    SubscriptionView {
        id: row.id.clone(),
        plan_id: row.plan_id.clone(),
        billing_interval: row.billing_interval.clone(),
        status: subscription_status(row, now).to_owned(),
        current_period_start: row.period_start,
        current_period_end: row.paid_through,
        cancel_at_period_end: row.cancel_at_period_end,
        canceled_at: row.canceled_at,
        proration_credit_micro_usd: proration,
    }
}

impl Payments {
    /// Opens a subscription checkout for a paid plan.
    pub async fn start_subscription(
        &self,
        user_id: &str,
        email: &str,
        plan_id: &str,
        interval: &str,
        return_path: Option<&str>,
    ) -> Result<Checkout, PaymentError> {
        let plans = self.plans().await;
        let plan = plans
            .iter()
            .find(|p| p.id == plan_id)
            .ok_or_else(|| PaymentError::Invalid(format!("no plan {plan_id:?}")))?;
        let price = plan.price(interval).ok_or_else(|| {
            PaymentError::Invalid("billing_interval must be monthly or annual".into())
        })?;
        if price == 0 {
            return Err(PaymentError::Invalid(format!(
                "plan {plan_id} is free: there is nothing to subscribe to"
            )));
        }
        if let Some(current) = self.store.subscription_of_user(user_id).await? {
            if matches!(
                subscription_status(&current, crate::store::now()),
                "active" | "incomplete" | "past_due"
            ) {
                return Err(PaymentError::Conflict(format!(
                    "subscription {} is still {}; cancel it first",
                    current.id,
                    subscription_status(&current, crate::store::now())
                )));
            }
        }
        let kind = CheckoutKind::Subscription {
            plan_name: plan.name.clone(),
            interval: if interval == "annual" {
                "year"
            } else {
                "month"
            }
            .into(),
        };
        self.open_checkout(
            user_id,
            email,
            kind,
            Some((plan_id, interval)),
            price,
            return_path,
        )
        .await
    }

    /// The user's latest subscription.
    pub async fn subscription(
        &self,
        user_id: &str,
    ) -> Result<Option<SubscriptionView>, PaymentError> {
        Ok(self
            .store
            .subscription_of_user(user_id)
            .await?
            .map(|row| view(&row, crate::store::now(), None)))
    }

    /// Cancels the user's subscription at the end of its period, or now with the unused
    /// part of the period credited to the wallet (once).
    pub async fn cancel_subscription(
        &self,
        user_id: &str,
        immediately: bool,
    ) -> Result<SubscriptionView, PaymentError> {
        let now = crate::store::now();
        let row = self
            .store
            .subscription_of_user(user_id)
            .await?
            .ok_or_else(|| PaymentError::NotFound("no subscription".into()))?;
        if row.canceled_at.is_some() && !immediately {
            return Err(PaymentError::Conflict(format!(
                "subscription {} is already canceled",
                row.id
            )));
        }
        if row.canceled_at.is_none() {
            self.gateway
                .cancel_subscription(&row.subscription_ref, !immediately)
                .await?;
        }
        if !immediately {
            self.store
                .subscription_set_cancel_at_period_end(&row.id, true)
                .await?;
            let row = self
                .store
                .subscription_of_user(user_id)
                .await?
                .unwrap_or(row);
            return Ok(view(&row, now, None));
        }
        self.store.subscription_canceled(&row.id, now).await?;
        self.forget_plan(user_id);
        let row = self
            .store
            .subscription_of_user(user_id)
            .await?
            .unwrap_or(row);
        let credit = self.prorate(&row).await?;
        Ok(view(&row, now, Some(credit)))
    }

    /// Credits the unused part of a canceled subscription's paid period to the wallet.
    async fn prorate(&self, row: &SubscriptionRow) -> Result<i64, PaymentError> {
        let (Some(start), Some(end), Some(canceled)) =
            (row.period_start, row.paid_through, row.canceled_at)
        else {
            return Ok(0);
        };
        if canceled >= end || end <= start {
            return Ok(0);
        }
        let plans = self.plans().await;
        let price = plans
            .iter()
            .find(|p| p.id == row.plan_id)
            .and_then(|p| p.price(&row.billing_interval))
            .unwrap_or(0);
        let unused = (end - canceled.max(start)).num_seconds();
        let total = (end - start).num_seconds();
        // Whole cents, rounded down.
        let credit = i64::try_from(i128::from(price) * i128::from(unused) / i128::from(total))
            .unwrap_or(0)
            / MICRO_PER_CENT
            * MICRO_PER_CENT;
        if credit <= 0 {
            return Ok(0);
        }
        let legs = vec![
            Leg {
                account_id: AccountKind::Revenue.system_id(),
                side: Side::Debit,
                amount: MicroUsd(credit),
            },
            Leg {
                account_id: wallet_id(&row.user_id),
                side: Side::Credit,
                amount: MicroUsd(credit),
            },
        ];
        self.ledger
            .post(
                &key("system", &format!("proration:{}", row.id))?,
                TransferKind::Transfer,
                legs,
                json!({"subscription_id": row.id, "reason": "proration credit"}),
            )
            .await?;
        Ok(credit)
    }

    /// The user's invoices, newest first.
    pub async fn invoices(
        &self,
        user_id: &str,
    ) -> Result<Vec<crate::store::payments::Invoice>, PaymentError> {
        Ok(self.store.invoices_of_user(user_id, 200).await?)
    }
}
