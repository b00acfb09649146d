//! Background loops. Each worker owns a child of the shutdown token and stops when it fires.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

pub mod ingest;
mod maintenance;
mod payments;

/// The running background workers.
pub struct Workers {
    tasks: JoinSet<()>,
    token: CancellationToken,
}

impl Workers {
    /// Starts every background worker of this node.
    pub fn spawn(state: &AppState) -> Self {
        let token = state.shutdown.child_token();
        let mut tasks = JoinSet::new();
        tasks.spawn(maintenance::run(state.clone(), token.clone()));
        tasks.spawn(payments::run(state.clone(), token.clone()));
        tasks.spawn(ingest::freshness(state.clone(), token.clone()));
        for source in &state.sources {
            tasks.spawn(ingest::run(state.clone(), source.clone(), token.clone()));
        }
        Self { tasks, token }
    }

    /// Number of workers still running.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no worker is running.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Signals every worker to stop and waits up to `timeout` for them; stragglers are aborted.
    pub async fn shutdown(mut self, timeout: Duration) {
        self.token.cancel();
        let all_done = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(timeout, all_done).await.is_err() {
            tracing::warn!(
                remaining = self.tasks.len(),
                "workers did not stop in time; aborting them"
            );
            self.tasks.abort_all();
        }
    }
}
