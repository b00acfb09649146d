//! Metering: each running pod is charged per interval with ledger key
//! `meter:<pod id>:<interval>` in scope `system`, so each (pod, interval) is charged once
//! however often (or on however many replicas) metering runs (I11).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::service::system_key;
use super::{cost_of, PodError, PodState, Pods};
use crate::domain::money::MicroUsd;
use crate::ledger::{AccountKind, LedgerError, Leg, Side, TransferKind};
use crate::store;
use crate::store::pods::PodRow;

/// `<pod id>:` for a pod's first run, `<pod id>:r<run>:` for later ones: the ledger keys
/// of each run's intervals and hold never collide with another run's.
pub(super) fn run_prefix(pod: &PodRow) -> String {
    if pod.run == 0 {
        format!("{}:", pod.id)
    } else {
        format!("{}:r{}:", pod.id, pod.run)
    }
}

impl Pods {
    /// Charges every metering interval of `pod` that ended by `now` (or, once it is
    /// stopped, by its stop time, the partial last one included) and is not charged yet.
    pub async fn meter(&self, pod: &PodRow, now: DateTime<Utc>) -> Result<(), PodError> {
        let Some(start) = pod.running_since else {
            return Ok(());
        };
        let cutoff = pod.stopped_at.map_or(now, |at| at.min(now));
        let interval = self.interval_ms();
        let elapsed = (cutoff - start).num_milliseconds().max(0);
        let full = elapsed / interval;
        for i in pod.billed_intervals..full {
            self.charge_interval(pod, i, interval).await?;
            self.store.pod_set_billed(&pod.id, i + 1).await?;
        }
        let rest = elapsed - full * interval;
        if pod.stopped_at.is_some() && rest > 0 && pod.billed_intervals <= full {
            self.charge_interval(pod, full, rest).await?;
            self.store.pod_set_billed(&pod.id, full + 1).await?;
        }
        if pod.stopped_at.is_some() && pod.billed_intervals > full {
            self.credit_past_stop(pod, full, rest).await?;
        }
        Ok(())
    }

    /// A pod whose stop time falls before the end of intervals already charged in full
    /// (a metering pass that ran late, past a budget's limit instant) gets back what was
    /// charged for time after the stop: once per run, as a reversing transfer.
    async fn credit_past_stop(&self, pod: &PodRow, full: i64, rest: i64) -> Result<(), PodError> {
        let interval = self.interval_ms();
        let charged = cost_of(pod.price_per_hour, interval)?.0 * (pod.billed_intervals - full);
        let ran = cost_of(pod.price_per_hour, rest)?.0;
        let over = charged - ran;
        if over <= 0 {
            return Ok(());
        }
        let key = system_key(&format!("meter-credit:{}", run_prefix(pod)))?;
        let legs = vec![
            Leg {
                account_id: AccountKind::Revenue.system_id(),
                side: Side::Debit,
                amount: MicroUsd(over),
            },
            Leg {
                account_id: crate::ledger::wallet_id(&pod.user_id),
                side: Side::Credit,
                amount: MicroUsd(over),
            },
        ];
        let metadata = json!({ "pod_id": pod.id, "run": pod.run,
            "reason": "usage charged past the stop time, returned" });
        match self
            .ledger
            .post(&key, TransferKind::Transfer, legs, metadata)
            .await
        {
            Ok(_) | Err(LedgerError::IdempotencyConflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn interval_ms(&self) -> i64 {
        i64::try_from(self.settings.meter_interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    async fn charge_interval(&self, pod: &PodRow, index: i64, millis: i64) -> Result<(), PodError> {
        let amount = cost_of(pod.price_per_hour, millis)?;
        if amount <= MicroUsd::ZERO {
            return Ok(());
        }
        let key = system_key(&format!("meter:{}{index}", run_prefix(pod)))?;
        let metadata =
            json!({ "pod_id": pod.id, "run": pod.run, "interval": index, "millis": millis });
        match self
            .ledger
            .charge(&key, &pod.user_id, amount, metadata)
            .await
        {
            Ok(_) => Ok(()),
            // Charged already (a full interval racing the stop's partial one): once is enough.
            Err(LedgerError::IdempotencyConflict(_)) => Ok(()),
            Err(LedgerError::InsufficientFunds { available, needed }) => {
                Err(PodError::InsufficientFunds(format!(
                    "{} micro-USD available, {} needed",
                    available.0, needed.0
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// One pass of the worker: reconcile provisioning and stopping pods, meter running
    /// ones, and stop those whose wallet cannot cover their next interval.
    pub async fn tick(&self) -> Result<(), PodError> {
        let pending = [PodState::Provisioning.as_str(), PodState::Stopping.as_str()];
        for pod in self.store.pods_in(&pending).await? {
            if let Err(e) = self.reconcile(&pod).await {
                tracing::warn!(pod = %pod.id, error = %e, "pod reconcile failed");
            }
        }
        for pod in self.store.pods_in(&[PodState::Running.as_str()]).await? {
            if let Err(e) = self.meter_running(&pod).await {
                tracing::warn!(pod = %pod.id, error = %e, "pod metering failed");
            }
        }
        // Users whose pods ran since shortly before the last pass (a pod stopped since
        // then may have crossed a threshold with its final charge).
        let tick = chrono::Duration::from_std(self.settings.tick).unwrap_or_default();
        let since = store::now() - tick * 3 - chrono::Duration::seconds(1);
        for user in self.store.pod_users_active_since(since).await? {
            if let Err(e) = self.enforce_budgets(&user).await {
                tracing::warn!(user = %user, error = %e, "budget check failed");
            }
        }
        Ok(())
    }

    async fn meter_running(&self, pod: &PodRow) -> Result<(), PodError> {
        let short = match self.meter(pod, store::now()).await {
            Ok(()) => {
                let next = cost_of(pod.price_per_hour, self.interval_ms())?;
                self.ledger.balance(&pod.user_id).await?.available < next
            }
            Err(PodError::InsufficientFunds(_)) => true,
            Err(e) => return Err(e),
        };
        if short {
            let pod = self.reload(&pod.id).await?;
            let reason = "insufficient funds for the next interval";
            self.stop(&pod, reason).await?;
            let title = format!("Pod {} stopped: the wallet is empty", pod.name);
            let body = format!(
                "Pod {} ({}) was stopped because the wallet cannot cover its next metering \
                 interval. Top up the wallet to deploy again.",
                pod.name, pod.id
            );
            let payload = json!({ "pod_id": pod.id, "reason": reason });
            self.deliver(&pod.user_id, "pod.stopped", &title, &body, payload)
                .await?;
        }
        Ok(())
    }
}
