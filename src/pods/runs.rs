//! Admission and runs: the checks a pod passes before it may run (monthly budget, plan
//! limit, re-checked after the write), the prepaid hold of each run, and starting a
//! stopped pod again as a new run.

use chrono::{Duration as ChronoDuration, Utc};
use serde_json::json;

use super::service::{active_names, state_of};
use super::{cost_of, PodError, PodState, Pods};
use crate::domain::money::MicroUsd;
use crate::ledger::{IdempotencyKey, LedgerError};
use crate::payments::plans::Plan;
use crate::store::pods::PodRow;

impl Pods {
    /// Checks that `user_id` may start a pod now: the monthly budget is not spent and the
    /// plan's concurrent-pod limit is not reached.
    pub(super) async fn admit(&self, user_id: &str) -> Result<Plan, PodError> {
        self.check_month_budget(user_id).await?;
        let plan = self.payments.plan_of(user_id).await?;
        let active = self.store.pods_counted(user_id, &active_names()).await?;
        if active >= i64::from(plan.max_concurrent_pods) {
            return Err(PodError::Conflict(format!(
                "the {} plan allows {} pod(s) at once; stop one first",
                plan.id, plan.max_concurrent_pods
            )));
        }
        Ok(plan)
    }

    /// The check in [`Pods::admit`] and the write that follows are not one transaction, so
    /// it is made again once the pod counts as active: a pod that finds the user over the
    /// limit fails (its hold voided). Of two racing pods, each counts after its own write,
    /// so at least the later one sees both: the limit is never passed (both may fail).
    pub(super) async fn keep_place(&self, pod: &PodRow, plan: &Plan) -> Result<(), PodError> {
        let active = self
            .store
            .pods_counted(&pod.user_id, &active_names())
            .await?;
        if active > i64::from(plan.max_concurrent_pods) {
            let reason = format!(
                "the {} plan allows {} pod(s) at once",
                plan.id, plan.max_concurrent_pods
            );
            self.fail(pod, &reason).await?;
            return Err(PodError::Conflict(format!("{reason}; stop one first")));
        }
        Ok(())
    }

    /// Holds the prepaid period at `price` on `user_id`'s wallet for the run `run_prefix`.
    pub(super) async fn hold_prepaid(
        &self,
        user_id: &str,
        pod_id: &str,
        run_prefix: &str,
        price: i64,
    ) -> Result<crate::ledger::Hold, PodError> {
        let prepaid_ms = i64::try_from(self.settings.prepaid.as_millis()).unwrap_or(i64::MAX);
        let deposit = cost_of(price, prepaid_ms)?.max(MicroUsd(1));
        // The first run's key is `pod-hold:<pod id>`, a later run's `pod-hold:<id>:r<run>:`.
        let key = match run_prefix.strip_prefix(pod_id) {
            Some(":") => format!("pod-hold:{pod_id}"),
            _ => format!("pod-hold:{run_prefix}"),
        };
        let hold_key = IdempotencyKey::new(user_id, &key)?;
        let expires = Utc::now() + ChronoDuration::days(365);
        match self
            .ledger
            .place_hold(
                &hold_key,
                user_id,
                deposit,
                expires,
                json!({ "pod_id": pod_id }),
            )
            .await
        {
            Ok(hold) => Ok(hold),
            Err(LedgerError::InsufficientFunds { available, needed }) => {
                Err(PodError::InsufficientFunds(format!(
                    "the wallet cannot cover the prepaid period: {} micro-USD available, {} needed",
                    available.0, needed.0
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Starts stopped pod `pod` again on its machine: a new run with its own prepaid hold
    /// and metering from zero; earlier runs still count against its budgets.
    pub async fn start(&self, pod: &PodRow) -> Result<PodRow, PodError> {
        let state = state_of(pod);
        if state != PodState::Stopped {
            return Err(PodError::Conflict(format!(
                "a {state} pod cannot be started; only a stopped one"
            )));
        }
        let Some(machine) = pod.machine_ref.clone() else {
            return Err(PodError::Conflict("the pod has no machine to start".into()));
        };
        let provisioner = self.provisioner(&pod.provider)?;
        if let Some(budget) = self
            .store
            .budget_for(&pod.user_id, &format!("pod:{}", pod.id))
            .await?
        {
            let status = self.budget_of(&pod.user_id, &budget.id).await?;
            if budget.auto_stop
                && (status.spent >= budget.limit_micro_usd || status.alerted.contains(&100))
            {
                return Err(PodError::Conflict(
                    "the pod's budget is spent; raise it to start the pod".into(),
                ));
            }
        }
        let plan = self.admit(&pod.user_id).await?;
        let next = PodRow {
            run: pod.run + 1,
            ..pod.clone()
        };
        let prefix = super::metering::run_prefix(&next);
        let hold = self
            .hold_prepaid(&pod.user_id, &pod.id, &prefix, pod.price_per_hour)
            .await?;
        if !self.store.pod_restart(pod, &hold.id).await? {
            self.void(&pod.id, &prefix, &hold.id).await;
            return Err(PodError::Conflict(
                "the pod changed state meanwhile; reload it and try again".into(),
            ));
        }
        let restarted = self.reload(&pod.id).await?;
        self.keep_place(&restarted, &plan).await?;
        self.notify(&restarted, PodState::Provisioning, "start requested");
        if let Err(e) = provisioner.start(&machine).await {
            tracing::warn!(pod = %pod.id, error = %e, "pod start failed");
            self.fail(&restarted, &format!("start failed: {e}")).await?;
        }
        self.reload(&pod.id).await
    }
}
