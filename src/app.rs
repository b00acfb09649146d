//! `AppState` (built once), serving and graceful shutdown.
//!
//! Startup order: the pool is opened, the listener is bound and serves at once with
//! `/ready` answering 503 (`starting`) while migrations run; then the state turns ready
//! and the background workers start. On SIGTERM/SIGINT `/ready` turns 503 (`draining`)
//! at once, after the drain delay the listener stops accepting, in-flight requests and
//! workers finish within the shutdown timeout, and the pool is closed.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::catalog::live::Catalog;
use crate::providers::source::PriceSource;
use crate::secret::MasterKey;
use crate::settings::Settings;
use crate::store::Store;
use crate::{http, telemetry, workers};

/// Where the server is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Starting,
    Ready,
    Draining,
}

/// Shared application state, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// The contents of [`AppState`].
pub struct AppInner {
    pub settings: Settings,
    pub store: Store,
    /// The live offer catalog.
    pub catalog: Catalog,
    /// Offer, provider and per-user events (the catalog publishes on it too).
    pub events: crate::events::SharedBus,
    /// The same bus when it crosses replicas (PostgreSQL); `None` on SQLite.
    pub replica_bus: Option<Arc<crate::events::replica::ReplicaBus>>,
    /// This process's id among the replicas (lease holder, event origin).
    pub replica_id: String,
    /// Leader leases of the singleton workers.
    pub leases: workers::lease::Leases,
    /// Open WebSocket connections.
    pub ws: crate::ws::Registry,
    /// Wakes every ingest worker for an immediate fetch (SIGUSR1; used by the benchmarks).
    pub refresh_sources: tokio::sync::Notify,
    /// Configured price sources.
    pub sources: Vec<Arc<dyn PriceSource>>,
    pub master_key: MasterKey,
    pub metrics: PrometheusHandle,
    /// Cancelled when the process starts shutting down; every background task watches it.
    pub shutdown: CancellationToken,
    pub started_at: Instant,
    /// The assistant's language model, when one is configured.
    pub llm: Option<crate::assistant::llm::LlmClient>,
    /// Accounts, passwords and tokens.
    pub auth: crate::auth::Auth,
    /// Request rate limits on `/api/v2/*`.
    pub rate_limiter: crate::http::rate_limit::RateLimiter,
    /// The double-entry ledger (wallets, holds).
    pub ledger: crate::ledger::Ledger,
    /// Checkouts, gateway webhooks, refunds and subscriptions.
    pub payments: crate::payments::Payments,
    /// GPU pods: deploy, meter, stop.
    pub pods: crate::pods::Pods,
    phase: AtomicU8,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;
    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Builds the state in the `Starting` phase.
    pub fn new(settings: Settings, store: Store, master_key: MasterKey) -> Self {
        let sources = crate::providers::configured_sources(&settings);
        Self::with_sources(settings, store, master_key, sources)
    }

    /// Like [`AppState::new`] with explicitly given price sources.
    pub fn with_sources(
        settings: Settings,
        store: Store,
        master_key: MasterKey,
        sources: Vec<Arc<dyn PriceSource>>,
    ) -> Self {
        let llm = settings
            .llm
            .clone()
            .map(|llm| crate::assistant::llm::LlmClient::new(llm, settings.outbound));
        let auth = crate::auth::Auth::new(store.clone(), master_key.clone(), &settings);
        let ledger = crate::ledger::Ledger::new(store.clone());
        let replica_id = uuid::Uuid::now_v7().to_string();
        let replica_bus = store.pg_pool().map(|_| {
            Arc::new(crate::events::replica::ReplicaBus::new(
                replica_id.clone(),
                crate::events::DEFAULT_CAPACITY,
            ))
        });
        let events: crate::events::SharedBus = match &replica_bus {
            Some(bus) => bus.clone(),
            None => crate::events::local_bus(),
        };
        let leases = workers::lease::Leases::new(store.clone(), replica_id.clone(), settings.lease);
        let payments = crate::payments::Payments::new(
            Arc::new(settings.clone()),
            store.clone(),
            ledger.clone(),
            Arc::clone(&events),
            &master_key,
        );
        let pods = crate::pods::Pods::new(
            store.clone(),
            ledger.clone(),
            payments.clone(),
            Arc::clone(&events),
            settings.pods,
        )
        .with_mailer(crate::mail::Mailer::new(&settings));
        let pods = crate::pods::providers::configured(&settings)
            .into_iter()
            .fold(pods, |pods, (provider, client)| {
                pods.with_provisioner(provider, client)
            });
        Self(Arc::new(AppInner {
            pods,
            replica_bus,
            replica_id,
            leases,
            llm,
            catalog: Catalog::with_events(Arc::clone(&events)),
            events,
            ws: crate::ws::Registry::default(),
            refresh_sources: tokio::sync::Notify::new(),
            auth,
            rate_limiter: crate::http::rate_limit::RateLimiter::default(),
            ledger,
            payments,
            settings,
            store,
            sources,
            master_key,
            metrics: telemetry::metrics_handle(),
            shutdown: CancellationToken::new(),
            started_at: Instant::now(),
            phase: AtomicU8::new(0),
        }))
    }

    /// Current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Starting,
            1 => Phase::Ready,
            _ => Phase::Draining,
        }
    }

    /// Stale window of every configured source, by source id.
    pub fn stale_windows(&self) -> std::collections::HashMap<String, std::time::Duration> {
        self.sources
            .iter()
            .map(|s| (s.id().to_owned(), s.policy().stale_after))
            .collect()
    }

    /// Moves to `phase`; draining is final.
    pub fn set_phase(&self, phase: Phase) {
        let value = match phase {
            Phase::Starting => 0,
            Phase::Ready => 1,
            Phase::Draining => 2,
        };
        self.phase.fetch_max(value, Ordering::SeqCst);
    }
}

/// Takes provider API keys the environment does not set from the configuration store. A
/// database without the store yet (first start, before migrations) has none to give.
async fn stored_provider_keys(settings: &mut Settings, store: &Store, master_key: &MasterKey) {
    let config = match crate::config::ConfigStore::new(store.clone(), master_key) {
        Ok(config) => config,
        Err(err) => {
            tracing::warn!(error = %err, "cannot open the configuration store for provider keys");
            return;
        }
    };
    match crate::config::providers::fill_provider_keys(&mut settings.credentials, &config).await {
        Ok(taken) if !taken.is_empty() => {
            tracing::info!(keys = ?taken, "provider API keys from the configuration store");
        }
        Ok(_) => {}
        Err(err) => tracing::debug!(error = %err, "no provider keys from the configuration store"),
    }
}

/// Opens the database and serves until SIGTERM or SIGINT.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating the data dir {}", settings.data_dir.display()))?;
    let (master_key, generated) = settings
        .master_key
        .load()
        .context("loading the master key")?;
    if generated {
        tracing::warn!(
            path = %settings.data_dir.join(crate::settings::MASTER_KEY_FILE).display(),
            fingerprint = %master_key.fingerprint(),
            "generated a development master key (mode 0600); back it up: encrypted settings need it"
        );
    }
    tracing::info!(database = ?settings.database.target, "opening database");
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let mut settings = settings;
    stored_provider_keys(&mut settings, &store, &master_key).await;
    let state = AppState::new(settings, store, master_key);
    refresh_on_sigusr1(&state);
    serve(listener, state, shutdown_signal()).await
}

/// On SIGUSR1 every price source is fetched at once instead of at its next interval.
fn refresh_on_sigusr1(state: &AppState) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
            tracing::warn!("cannot listen for SIGUSR1; sources refresh on their interval only");
            return;
        };
        let state = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = state.shutdown.cancelled() => break,
                    received = usr1.recv() => {
                        if received.is_none() {
                            break;
                        }
                        tracing::info!("SIGUSR1: fetching every source now");
                        state.refresh_sources.notify_waiters();
                    }
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = state;
}

/// Serves `state` on `listener` until `signal` resolves, then shuts down gracefully.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = http::router(state.clone());
    serve_with(listener, state, router, signal).await
}

/// [`serve`] with a given router (tests add routes of their own through
/// [`http::with_layers`]).
pub async fn serve_with(
    listener: TcpListener,
    state: AppState,
    router: axum::Router,
    signal: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    state.payments.set_local_addr(addr);
    let startup = tokio::spawn(start(state.clone()));
    let drain = tokio::spawn(drain_on(signal, state.clone()));
    let ui = state
        .settings
        .public_url
        .as_ref()
        .map_or_else(|| format!("http://{addr}/"), |u| u.to_string());
    tracing::info!(%addr, %ui, version = env!("CARGO_PKG_VERSION"), backend = state.store.kind().as_str(), "listening");
    let token = state.shutdown.clone();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(token.clone().cancelled_owned());
    let timeout = state.settings.shutdown_timeout;
    let deadline = async {
        token.cancelled().await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        result = server => result.context("serving http")?,
        () = deadline => tracing::warn!(?timeout, "in-flight requests did not finish in time; closing them"),
    }
    drain.abort();
    // WebSocket connections outlive the HTTP server: they saw the same token and are
    // sending close frames (1001).
    state.ws.tasks.close();
    if tokio::time::timeout(timeout, state.ws.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = state.ws.tasks.len(),
            "websocket connections did not close in time"
        );
    }
    let workers = match startup.await {
        Ok(Ok(workers)) => workers,
        Ok(Err(e)) => {
            state.store.close().await;
            return Err(e);
        }
        Err(e) => anyhow::bail!("startup task failed: {e}"),
    };
    workers.shutdown(timeout).await;
    state.store.close().await;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Migrates, records the installation, then marks the state ready and starts the workers.
/// A failure cancels the server so the process exits with the error.
async fn start(state: AppState) -> anyhow::Result<workers::Workers> {
    let result = async {
        state.store.migrate().await.context("applying migrations")?;
        let installation = state.store.ensure_installation_id().await?;
        tracing::info!(installation, replica = %state.replica_id, "database ready");
        // Listen before loading the catalog, so no other replica's change falls between.
        if let (Some(bus), Some(pool)) = (&state.replica_bus, state.store.pg_pool()) {
            crate::events::replica::start(&state, bus, pool.clone());
        }
        state
            .catalog
            .reload(&state.store)
            .await
            .context("loading the catalog")?;
        state
            .catalog
            .refresh_freshness(&state.store, &state.stale_windows())
            .await?;
        tracing::info!(offers = state.catalog.snapshot().len(), "catalog loaded");
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = format!("{e:#}"), "startup failed");
        state.shutdown.cancel();
        return Err(e);
    }
    let workers = workers::Workers::spawn(&state);
    state.set_phase(Phase::Ready);
    tracing::info!(
        elapsed_ms = state.started_at.elapsed().as_millis() as u64,
        "ready"
    );
    Ok(workers)
}

/// Waits for `signal`, turns readiness off, waits the drain delay, then cancels everything.
async fn drain_on(signal: impl Future<Output = ()>, state: AppState) {
    tokio::select! {
        () = signal => {}
        () = state.shutdown.cancelled() => return,
    }
    state.set_phase(Phase::Draining);
    tracing::info!(drain_delay = ?state.settings.drain_delay, "shutdown requested; draining");
    tokio::time::sleep(state.settings.drain_delay).await;
    state.shutdown.cancel();
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
