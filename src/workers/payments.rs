//! The payment sweep: applies gateway events still waiting for a prerequisite, completes
//! refunds interrupted before the gateway answered, and expires checkouts left open for a
//! day. Every step is idempotent, so replicas running it at once do no harm.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// How often the sweep runs.
const INTERVAL: Duration = Duration::from_secs(60);

/// Runs the sweep every [`INTERVAL`] until `token` is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            _ = ticker.tick() => {
                if let Err(e) = state.payments.sweep().await {
                    tracing::warn!(error = %e, "payment sweep failed");
                }
            }
        }
    }
    tracing::debug!("payment sweep stopped");
}
