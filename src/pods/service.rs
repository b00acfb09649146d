//! Deploy, stop, terminate, reconcile and meter pods. Money: a deploy places a hold for
//! the prepaid period (released when the pod stops or fails); a running pod is charged
//! per metering interval with ledger key `meter:<pod id>:<interval>` in scope `system`,
//! so each (pod, interval) is charged exactly once however often metering runs (I11).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::provisioner::{
    LaunchSpec, MachineStatus, ProvisionError, Provisioner, SimulatedProvisioner,
};
use super::{PodError, PodSettings, PodState};
use crate::domain::money::MicroUsd;
use crate::domain::offer::Offer;
use crate::events::{Event, SharedBus, UserNotification};
use crate::ledger::{IdempotencyKey, Ledger, LedgerError};
use crate::mail::Mailer;
use crate::payments::Payments;
use crate::store::pods::{NewPod, PodChange, PodRow};
use crate::store::{self, Store};

/// The pod service (cheap to clone).
#[derive(Clone)]
pub struct Pods {
    pub(super) store: Store,
    pub(super) ledger: Ledger,
    pub(super) payments: Payments,
    pub(super) events: SharedBus,
    pub(super) settings: PodSettings,
    simulator: Arc<SimulatedProvisioner>,
    /// Sends budget alerts and funds notices by mail when SMTP is configured.
    pub(super) mailer: Option<Mailer>,
    /// Real providers' clients by provider id (`runpod`, `vastai`, `lambda`).
    provisioners: HashMap<String, Arc<dyn Provisioner>>,
}

/// The state of a stored pod (an unknown stored name reads as failed).
pub fn state_of(pod: &PodRow) -> PodState {
    PodState::parse(&pod.state).unwrap_or(PodState::Failed)
}

pub(super) fn system_key(key: &str) -> Result<IdempotencyKey, PodError> {
    Ok(IdempotencyKey::new("system", key)?)
}

impl Pods {
    pub fn new(
        store: Store,
        ledger: Ledger,
        payments: Payments,
        events: SharedBus,
        settings: PodSettings,
    ) -> Self {
        Self {
            simulator: Arc::new(SimulatedProvisioner::new(settings.simulated)),
            provisioners: HashMap::new(),
            store,
            ledger,
            payments,
            events,
            settings,
            mailer: None,
        }
    }

    /// Mails alerts through `mailer` (when it has an SMTP server).
    pub fn with_mailer(mut self, mailer: Mailer) -> Self {
        self.mailer = Some(mailer);
        self
    }

    pub fn settings(&self) -> PodSettings {
        self.settings
    }

    /// The simulated provider of demo-market offers (tests change its behaviour).
    pub fn simulator(&self) -> &SimulatedProvisioner {
        &self.simulator
    }

    /// Deploys `provider`'s offers with `provisioner` (built from the settings at start).
    #[must_use]
    pub fn with_provisioner(mut self, provider: &str, provisioner: Arc<dyn Provisioner>) -> Self {
        self.provisioners.insert(provider.to_owned(), provisioner);
        self
    }

    /// The provisioner for `provider`'s machines: its client when one is configured, the
    /// simulator for the demo market.
    pub(super) fn provisioner(&self, provider: &str) -> Result<&dyn Provisioner, PodError> {
        if let Some(p) = self.provisioners.get(provider) {
            return Ok(p.as_ref());
        }
        if provider.starts_with("demo-") {
            return Ok(self.simulator.as_ref());
        }
        Err(PodError::Conflict(
            match super::providers::key_variable(provider) {
                Some(var) => format!("deploying on {provider} needs {var}"),
                None => format!("pods cannot be deployed on {provider}"),
            },
        ))
    }

    /// `user_id`'s pod `id`; another user's pod is not found.
    pub async fn pod_of(&self, user_id: &str, id: &str) -> Result<PodRow, PodError> {
        match self.store.pod(id).await? {
            Some(pod) if pod.user_id == user_id => Ok(pod),
            _ => Err(PodError::NotFound(format!("no pod {id}"))),
        }
    }

    pub(super) async fn reload(&self, id: &str) -> Result<PodRow, PodError> {
        self.store
            .pod(id)
            .await?
            .ok_or_else(|| PodError::NotFound(format!("no pod {id}")))
    }

    /// Deploys `offer` for `user_id`; answers the pod and whether it is new (a repeated
    /// `client_token` answers the pod made the first time).
    pub async fn deploy(
        &self,
        user_id: &str,
        offer: &Offer,
        name: Option<&str>,
        client_token: Option<&str>,
    ) -> Result<(PodRow, bool), PodError> {
        let id = format!("pod_{}", uuid::Uuid::now_v7().simple());
        let token = match client_token {
            Some(t) if t.is_empty() || t.len() > 100 || t.chars().any(char::is_control) => {
                return Err(PodError::Invalid(
                    "client_token must be 1 to 100 printable characters".into(),
                ))
            }
            Some(t) => format!("{user_id}:{t}"),
            None => format!("{user_id}:{id}"),
        };
        if let Some(existing) = self.store.pod_by_token(&token).await? {
            return Ok((existing, false));
        }
        let name = name.unwrap_or(offer.instance_type.as_str()).trim();
        if name.is_empty() || name.len() > 100 {
            return Err(PodError::Invalid("name must be 1 to 100 characters".into()));
        }
        // Before any money moves: the offer's provider needs a configured client (demo
        // offers, provider `demo-<cloud>`, run on the simulator).
        self.provisioner(&offer.provider)?;
        let price = match offer.price {
            Some(p) if p > MicroUsd::ZERO => p.0,
            _ => {
                return Err(PodError::Conflict(
                    "the offer has no on-demand price".into(),
                ))
            }
        };
        let plan = self.admit(user_id).await?;
        let hold = self
            .hold_prepaid(user_id, &id, &format!("{id}:"), price)
            .await?;
        let new = NewPod {
            id: &id,
            user_id,
            name,
            offer_id: &offer.id,
            provider: &offer.provider,
            price_per_hour: price,
            client_token: &token,
            hold_id: &hold.id,
        };
        let pod = match self.store.pod_insert(&new).await {
            Ok(pod) => pod,
            Err(e) => {
                self.void(&id, &format!("{id}:"), &hold.id).await;
                return match self.store.pod_by_token(&token).await? {
                    Some(existing) => Ok((existing, false)),
                    None => Err(e.into()),
                };
            }
        };
        self.keep_place(&pod, &plan).await?;
        self.notify(&pod, PodState::Requested, "deployed");
        let spec = LaunchSpec::for_offer(offer, token.clone(), name);
        // The create runs in its own task: a caller that goes away mid-call (a provider's
        // create with its retries can take a minute) does not leave the pod requested
        // with its hold placed.
        let this = self.clone();
        tokio::spawn(async move { this.launch(&pod, &spec).await })
            .await
            .map_err(|e| ProvisionError::Unavailable(format!("the launch task failed: {e}")))??;
        Ok((self.reload(&id).await?, true))
    }

    /// Creates `pod`'s machine: provisioning when made, failed (hold voided) when not.
    async fn launch(&self, pod: &PodRow, spec: &LaunchSpec) -> Result<(), PodError> {
        match self.provisioner(&pod.provider)?.create(spec).await {
            Ok(machine) => {
                let change = PodChange {
                    machine_ref: Some(&machine),
                    ..PodChange::default()
                };
                self.advance(pod, PodState::Provisioning, "launched", &change)
                    .await?;
            }
            Err(e) => {
                tracing::warn!(pod = %pod.id, error = %e, "pod launch failed");
                self.fail(pod, &format!("launch failed: {e}")).await?;
            }
        }
        Ok(())
    }

    /// Moves `pod` to `to` when the state machine allows it; `false` when another caller
    /// moved it first.
    async fn advance(
        &self,
        pod: &PodRow,
        to: PodState,
        reason: &str,
        change: &PodChange<'_>,
    ) -> Result<bool, PodError> {
        let from = state_of(pod);
        if !from.can_become(to) {
            return Err(PodError::Conflict(format!(
                "a {from} pod cannot become {to}"
            )));
        }
        let moved = self
            .store
            .pod_transition(&pod.id, from.as_str(), to.as_str(), reason, change)
            .await?;
        if moved {
            self.notify(pod, to, reason);
        }
        Ok(moved)
    }

    pub(super) fn notify(&self, pod: &PodRow, state: PodState, reason: &str) {
        self.events
            .publish(vec![Event::Notification(UserNotification {
                user_id: pod.user_id.clone(),
                kind: "pod.state".into(),
                payload: json!({ "pod_id": pod.id, "state": state, "reason": reason }),
            })]);
    }

    /// Releases the prepaid hold of a run (once; a resolved hold is left as it is).
    pub(super) async fn void(&self, pod_id: &str, run_prefix: &str, hold_id: &str) {
        let result = match system_key(&format!("pod-release:{run_prefix}")) {
            Ok(key) => self.ledger.void_hold(&key, hold_id).await.map(|_| ()),
            Err(_) => Ok(()),
        };
        match result {
            Ok(()) | Err(LedgerError::HoldResolved { .. } | LedgerError::HoldExpired(_)) => {}
            Err(e) => tracing::warn!(pod = pod_id, error = %e, "releasing the pod hold failed"),
        }
    }

    /// Marks `pod` failed, charges what it ran and releases its hold.
    pub(super) async fn fail(&self, pod: &PodRow, reason: &str) -> Result<(), PodError> {
        let now = store::now();
        let change = PodChange {
            failure: Some(reason),
            stopped_at: Some(now),
            ..PodChange::default()
        };
        if self.advance(pod, PodState::Failed, reason, &change).await? {
            let pod = self.reload(&pod.id).await?;
            self.settle_and_release(&pod, now).await?;
        }
        Ok(())
    }

    async fn settle_and_release(&self, pod: &PodRow, now: DateTime<Utc>) -> Result<(), PodError> {
        if let Some(hold) = &pod.hold_id {
            self.void(&pod.id, &super::metering::run_prefix(pod), hold)
                .await;
        }
        match self.meter(pod, now).await {
            Ok(()) => Ok(()),
            Err(PodError::InsufficientFunds(m)) => {
                tracing::warn!(pod = %pod.id, "final pod charge short: {m}");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Stops a running or provisioning pod: metering ends now (the partial last interval
    /// is charged once), the hold is released and the machine is stopped.
    pub async fn stop(&self, pod: &PodRow, reason: &str) -> Result<PodRow, PodError> {
        self.stop_by(pod, reason, None).await
    }

    /// Stops `pod` like [`Pods::stop`], with metering ending at `deadline` when that is
    /// earlier than now (a budget's limit: the time run past it is not charged).
    pub(super) async fn stop_by(
        &self,
        pod: &PodRow,
        reason: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<PodRow, PodError> {
        let state = state_of(pod);
        if !matches!(state, PodState::Running | PodState::Provisioning) {
            return Err(PodError::Conflict(format!(
                "a {state} pod cannot be stopped"
            )));
        }
        let mut now = store::now();
        if let Some(deadline) = deadline {
            now = now.min(deadline.max(pod.running_since.unwrap_or(deadline)));
        }
        let change = PodChange {
            stopped_at: Some(now),
            ..PodChange::default()
        };
        if !self
            .advance(pod, PodState::Stopping, reason, &change)
            .await?
        {
            return Err(PodError::Conflict(
                "the pod changed state meanwhile; reload it and try again".into(),
            ));
        }
        let pod = self.reload(&pod.id).await?;
        self.settle_and_release(&pod, now).await?;
        self.reconcile(&pod).await?;
        self.reload(&pod.id).await
    }

    /// Terminates a pod (stopping it first when it runs).
    pub async fn terminate(&self, pod: &PodRow) -> Result<PodRow, PodError> {
        let mut pod = pod.clone();
        if matches!(state_of(&pod), PodState::Running | PodState::Provisioning) {
            pod = self.stop(&pod, "terminate requested").await?;
        }
        let state = state_of(&pod);
        if !state.can_become(PodState::Terminated) {
            return Err(PodError::Conflict(format!(
                "a {state} pod cannot be terminated"
            )));
        }
        if let Some(machine) = &pod.machine_ref {
            match self.provisioner(&pod.provider)?.terminate(machine).await {
                Ok(()) | Err(ProvisionError::Unknown(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let _ = self
            .advance(
                &pod,
                PodState::Terminated,
                "terminate requested",
                &PodChange::default(),
            )
            .await?;
        self.reload(&pod.id).await
    }

    /// Brings a provisioning or stopping pod in line with its machine.
    pub async fn reconcile(&self, pod: &PodRow) -> Result<(), PodError> {
        let Some(machine) = &pod.machine_ref else {
            return Ok(());
        };
        let provisioner = self.provisioner(&pod.provider)?;
        let status = match provisioner.status(machine).await {
            Ok(status) => status,
            // The provider no longer has the machine (gone while we were down, or a
            // simulated one lost with its process): a stopping pod is stopped, a booting
            // one failed.
            Err(ProvisionError::Unknown(_)) => match state_of(pod) {
                PodState::Stopping => MachineStatus::Terminated,
                PodState::Provisioning => {
                    MachineStatus::Failed("the provider no longer knows the machine".into())
                }
                _ => return Ok(()),
            },
            Err(e) => return Err(e.into()),
        };
        match (state_of(pod), status) {
            (PodState::Provisioning, MachineStatus::Running(connection)) => {
                let change = PodChange {
                    running_since: Some(store::now()),
                    ..PodChange::default()
                };
                if !connection.is_empty() {
                    self.store.pod_set_connection(&pod.id, &connection).await?;
                }
                self.advance(pod, PodState::Running, "machine running", &change)
                    .await?;
            }
            (PodState::Provisioning, MachineStatus::Failed(why)) => {
                self.fail(pod, &why).await?;
                // A machine that never ran is not billed; it must not keep costing either.
                if let Err(e) = provisioner.terminate(machine).await {
                    tracing::warn!(pod = %pod.id, error = %e, "terminating a failed machine failed");
                }
            }
            (PodState::Provisioning, MachineStatus::Stopped | MachineStatus::Terminated) => {
                self.fail(pod, "the provider stopped the machine").await?;
            }
            (PodState::Stopping, MachineStatus::Stopped | MachineStatus::Terminated) => {
                self.advance(
                    pod,
                    PodState::Stopped,
                    "machine stopped",
                    &PodChange::default(),
                )
                .await?;
            }
            (PodState::Stopping, MachineStatus::Running(_) | MachineStatus::Provisioning) => {
                provisioner.stop(machine).await?;
                let now = provisioner.status(machine).await?;
                if matches!(now, MachineStatus::Stopped | MachineStatus::Terminated) {
                    self.advance(
                        pod,
                        PodState::Stopped,
                        "machine stopped",
                        &PodChange::default(),
                    )
                    .await?;
                }
            }
            (PodState::Stopping, MachineStatus::Failed(why)) => self.fail(pod, &why).await?,
            _ => {}
        }
        Ok(())
    }
}

pub(super) fn active_names() -> Vec<&'static str> {
    PodState::active()
        .into_iter()
        .map(PodState::as_str)
        .collect()
}
