//! The pod worker: reconciles provisioning and stopping pods with their machines and
//! meters running ones, every `pods.tick`. Runs under the `pods` lease; every step is
//! idempotent (metering charges each (pod, interval) once by its ledger key).

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// Runs [`crate::pods::Pods::tick`] every tick until `token` is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut ticker = tokio::time::interval(state.pods.settings().tick);
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
