//! Background loops. Each worker owns a child of the shutdown token and stops when it fires.
//! Singleton workers (each source's ingest loop, maintenance, the payment sweep) run under a leader lease
//! ([`lease::Leases::run_while_leader`]), so with several replicas one runs each; the
//! freshness loop runs on every replica (it only reads).

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;

pub mod ingest;
pub mod lease;
mod maintenance;
mod payments;
mod pods;

/// Runs `work` on this replica whenever it holds the lease `name` (until `token` fires).
fn spawn_singleton<F, Fut>(
    tasks: &mut JoinSet<()>,
    state: &AppState,
    token: &CancellationToken,
    name: String,
    work: F,
) where
    F: Fn(AppState, CancellationToken) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (leases, state, token) = (state.leases.clone(), state.clone(), token.clone());
    tasks.spawn(async move {
        leases
            .run_while_leader(&name, token, |lead| work(state.clone(), lead.token))
            .await;
    });
}

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
        tasks.spawn(ingest::freshness(state.clone(), token.clone()));
        spawn_singleton(
            &mut tasks,
            state,
            &token,
            "maintenance".into(),
            maintenance::run,
        );
        spawn_singleton(&mut tasks, state, &token, "payments".into(), payments::run);
        spawn_singleton(&mut tasks, state, &token, "pods".into(), pods::run);
        for source in &state.sources {
            let source = source.clone();
            let name = format!("ingest:{}", source.id());
            spawn_singleton(&mut tasks, state, &token, name, move |state, token| {
                ingest::run(state, source.clone(), token)
            });
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
