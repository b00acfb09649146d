//! One ingest loop per price source: fetch with timeout, retries and circuit breaker,
//! write the changes, refresh freshness, sleep the source's interval. A failing source
//! records its error and never blocks the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::catalog::live::ingest_report;
use crate::providers::resilience::{fetch_resilient, CircuitBreaker};
use crate::providers::source::PriceSource;

/// How often source freshness is recomputed even when no fetch finishes.
pub const FRESHNESS_INTERVAL: Duration = Duration::from_secs(30);

/// Fetches `source` every interval (or at once when `refresh_sources` is notified) until
/// `token` is cancelled.
pub async fn run(state: AppState, source: Arc<dyn PriceSource>, token: CancellationToken) {
    let breaker = CircuitBreaker::new(source.policy());
    loop {
        ingest_once(&state, source.as_ref(), &breaker).await;
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(source.policy().interval) => {}
            () = state.refresh_sources.notified() => {}
        }
    }
    tracing::debug!(source = source.id(), "ingest worker stopped");
}

/// One fetch of `source`, recorded in the database and the live catalog.
pub async fn ingest_once(state: &AppState, source: &dyn PriceSource, breaker: &CircuitBreaker) {
    let id = source.id();
    let started = Instant::now();
    let result = fetch_resilient(source, breaker).await;
    let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    match result {
        Ok(outcome) => match ingest_report(
            &state.store,
            Some(&state.catalog),
            id,
            outcome.report,
            latency_ms,
        )
        .await
        {
            Ok(summary) => {
                metrics::counter!("ingest_fetches_total", "source" => id.to_owned(), "outcome" => "ok").increment(1);
                tracing::info!(
                    source = id,
                    live = summary.live,
                    added = summary.added,
                    changed = summary.changed,
                    closed = summary.closed,
                    skipped = summary.skipped,
                    unknown_gpus = summary.unknown_gpus.len(),
                    attempts = outcome.attempts,
                    latency_ms,
                    "ingested"
                );
            }
            Err(e) => tracing::error!(source = id, error = %e, "could not store fetched offers"),
        },
        Err(e) => {
            metrics::counter!("ingest_fetches_total", "source" => id.to_owned(), "outcome" => "error").increment(1);
            tracing::warn!(source = id, error = %e, latency_ms, "fetch failed");
            if let Err(store_error) = state
                .store
                .record_source_failure(id, &e.to_string(), crate::store::now(), latency_ms)
                .await
            {
                tracing::error!(source = id, error = %store_error, "could not record the failure");
            }
        }
    }
    if let Err(e) = state
        .catalog
        .refresh_freshness(&state.store, &state.stale_windows())
        .await
    {
        tracing::warn!(error = %e, "could not refresh source freshness");
    }
}

/// Recomputes freshness periodically so a silent source turns stale on time.
pub async fn freshness(state: AppState, token: CancellationToken) {
    loop {
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(FRESHNESS_INTERVAL) => {
                if let Err(e) = state.catalog.refresh_freshness(&state.store, &state.stale_windows()).await {
                    tracing::warn!(error = %e, "could not refresh source freshness");
                }
            }
        }
    }
}
