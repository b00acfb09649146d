//! Database housekeeping: on SQLite, a periodic WAL checkpoint and `PRAGMA optimize`
//! so the WAL file does not grow without bound (on PostgreSQL autovacuum does this job);
//! on both, pod telemetry older than its retention window is deleted.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::AppState;

/// How often housekeeping runs.
const INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Runs housekeeping every [`INTERVAL`] until `token` is cancelled.
pub async fn run(state: AppState, token: CancellationToken) {
    let mut ticker = tokio::time::interval(INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick fires at once; skip it
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            _ = ticker.tick() => {
                if let Err(e) = state.store.housekeeping().await {
                    tracing::warn!(error = %e, "database housekeeping failed");
                }
                prune_telemetry(&state).await;
            }
        }
    }
    tracing::debug!("maintenance worker stopped");
}

/// Deletes pod telemetry older than [`crate::pods::telemetry::RETENTION`].
async fn prune_telemetry(state: &AppState) {
    use crate::pods::telemetry::{minute_of, RETENTION};
    let before = minute_of(chrono::Utc::now() - RETENTION);
    match state.store.telemetry_prune(before).await {
        Ok(0) => {}
        Ok(rows) => tracing::info!(rows, "pruned old pod telemetry"),
        Err(e) => tracing::warn!(error = %e, "pruning pod telemetry failed"),
    }
}
