//! The pod state machine, pure: which transitions are allowed (I16). Every state change
//! of a stored pod goes through [`PodState::can_become`].

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PodState {
    /// Accepted and paid for (the prepaid hold is placed), not yet sent to the provider.
    Requested,
    /// The provider is starting it.
    Provisioning,
    /// Up; metered per second.
    Running,
    /// Being stopped; metering has ended.
    Stopping,
    /// Stopped at the provider; nothing is billed.
    Stopped,
    /// Gone for good.
    Terminated,
    /// The launch or the machine failed; nothing more is billed.
    Failed,
}

impl PodState {
    /// Every state, in life order.
    pub const ALL: [PodState; 7] = [
        Self::Requested,
        Self::Provisioning,
        Self::Running,
        Self::Stopping,
        Self::Stopped,
        Self::Terminated,
        Self::Failed,
    ];

    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Provisioning => "provisioning",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Terminated => "terminated",
            Self::Failed => "failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a pod in this state may move to `next`.
    pub fn can_become(self, next: PodState) -> bool {
        use PodState::*;
        matches!(
            (self, next),
            (Requested, Provisioning | Failed)
                | (Provisioning, Running | Stopping | Failed)
                | (Running, Stopping | Failed)
                | (Stopping, Stopped | Failed)
                | (Stopped, Provisioning)
                | (Stopped | Failed, Terminated)
        )
    }

    /// Whether the pod counts against the plan's concurrent-pod limit.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Requested | Self::Provisioning | Self::Running | Self::Stopping
        )
    }

    /// The states counted by [`PodState::is_active`].
    pub fn active() -> Vec<PodState> {
        Self::ALL.into_iter().filter(|s| s.is_active()).collect()
    }
}

impl fmt::Display for PodState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::PodState::{self, *};

    const ALLOWED: &[(PodState, PodState)] = &[
        (Requested, Provisioning),
        (Requested, Failed),
        (Provisioning, Running),
        (Provisioning, Stopping),
        (Provisioning, Failed),
        (Running, Stopping),
        (Running, Failed),
        (Stopping, Stopped),
        (Stopping, Failed),
        (Stopped, Provisioning),
        (Stopped, Terminated),
        (Failed, Terminated),
    ];

    #[test]
    fn exactly_the_listed_transitions_are_allowed() {
        for from in PodState::ALL {
            for to in PodState::ALL {
                assert_eq!(
                    from.can_become(to),
                    ALLOWED.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn terminal_states_and_self_loops_are_forbidden() {
        for to in PodState::ALL {
            assert!(!Terminated.can_become(to), "terminated -> {to}");
            assert!(!to.can_become(to), "{to} -> {to}");
        }
        assert!(!Stopped.can_become(Running));
        assert!(!Running.can_become(Terminated));
    }

    #[test]
    fn names_round_trip_and_active_states_are_the_live_ones() {
        for s in PodState::ALL {
            assert_eq!(PodState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PodState::parse("paused"), None);
        assert_eq!(
            PodState::active(),
            vec![Requested, Provisioning, Running, Stopping]
        );
    }
}
