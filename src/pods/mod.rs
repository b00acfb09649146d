//! GPU pods: deploy a catalog offer as a machine, meter it per second while it runs and
//! stop or terminate it. The state machine is in [`state`], provider calls behind
//! [`provisioner::Provisioner`], the orchestration in [`service`], the metering and
//! reconcile loop in `workers::pods`. See `docs/pods.md`.

use std::time::Duration;

use crate::domain::money::MicroUsd;
use crate::ledger::LedgerError;
use crate::payments::PaymentError;
use crate::store::StoreError;

pub mod budgets;
mod metering;
pub mod providers;
pub mod provisioner;
mod runs;
pub mod service;
pub mod state;
pub mod telemetry;

pub use service::Pods;
pub use state::PodState;

/// Pod timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodSettings {
    /// Length of one metering interval; each is charged once.
    pub meter_interval: Duration,
    /// How often the reconcile and metering worker runs.
    pub tick: Duration,
    /// The run time reserved (held) on the wallet at deploy.
    pub prepaid: Duration,
    /// The simulated provider of demo-market offers.
    pub simulated: provisioner::SimulatedBehaviour,
    /// Limit of one request to a real provider's API.
    pub provider_timeout: Duration,
    /// Attempts of a machine create at a real provider (each looks for the machine first).
    pub create_attempts: u32,
    /// Pause between create attempts.
    pub create_backoff: Duration,
}

impl Default for PodSettings {
    fn default() -> Self {
        Self {
            meter_interval: Duration::from_secs(60),
            tick: Duration::from_secs(5),
            prepaid: Duration::from_secs(3600),
            simulated: provisioner::SimulatedBehaviour::default(),
            provider_timeout: Duration::from_secs(30),
            create_attempts: 3,
            create_backoff: Duration::from_secs(2),
        }
    }
}

/// The price of `millis` milliseconds at `per_hour`, rounded down to the micro-dollar.
pub fn cost_of(per_hour: i64, millis: i64) -> Result<MicroUsd, PodError> {
    let micros = i128::from(per_hour) * i128::from(millis) / 3_600_000;
    i64::try_from(micros)
        .map(MicroUsd)
        .map_err(|_| PodError::Invalid("price overflow".into()))
}

/// Why a pod operation did not apply.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    /// Not allowed in the pod's state, or a plan limit.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InsufficientFunds(String),
    #[error(transparent)]
    Provider(#[from] provisioner::ProvisionError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_pro_rata_per_millisecond_rounded_down() {
        assert_eq!(cost_of(3_600_000, 1_000).unwrap(), MicroUsd(1_000));
        assert_eq!(cost_of(2_000_000, 60_000).unwrap(), MicroUsd(33_333));
        assert_eq!(cost_of(1, 1).unwrap(), MicroUsd(0));
        assert!(cost_of(i64::MAX, i64::MAX).is_err());
    }
}
