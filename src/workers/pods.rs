//! The pod worker: reconciles provisioning and stopping pods with their machines and
//! meters running ones, every `pods.tick`. Runs under the `pods` lease; every step is
//! idempotent (metering charges each (pod, interval) once by its ledger key).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Runs [`crate::pods::Pods::tick`] every tick until `token` is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let every = state.pods.settings().tick.max(Duration::from_millis(10));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            _ = ticker.tick() => {
                if let Err(e) = state.pods.tick().await {
                    tracing::warn!(error = %e, "pod worker pass failed");
                }
            }
        }
    }
    tracing::debug!("pod worker stopped");
}
