//! Tracing (json|text), request ids and the Prometheus metrics registry.
//!
//! The request middleware (see [`crate::http::middleware`]) scopes the request id in a
//! task-local so that errors built anywhere below it can carry the id in their body.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id.
pub async fn with_request_id<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The id of the request being served by this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Installs the global tracing subscriber. Calling it twice is harmless (the second is ignored).
pub fn init_tracing(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    // An already-installed subscriber (tests) is fine.
    drop(result);
}

/// Histogram buckets for HTTP latency, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder. The `metrics` facade is global by design, so the
/// recorder is installed once per process and every app in the process shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe_metrics();
            handle
        })
        .clone()
}

fn describe_metrics() {
    metrics::describe_counter!(
        "http_requests_total",
        "HTTP requests by method, matched route and status"
    );
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method, matched route and status"
    );
    metrics::describe_gauge!(
        "db_pool_connections",
        "database pool connections by state (idle, active)"
    );
    metrics::describe_gauge!(
        "db_pool_max_connections",
        "configured maximum database pool size"
    );
    metrics::describe_gauge!(
        "gpubroker_build_info",
        "build information; the value is always 1"
    );
    metrics::describe_gauge!("ws_connections", "open WebSocket connections");
    metrics::describe_counter!(
        "ws_queue_overflows_total",
        "WebSocket clients whose send queue overflowed (each then gets resync_required)"
    );
    metrics::describe_counter!(
        "events_published_total",
        "events published on the in-process bus while someone listened"
    );
    metrics::describe_gauge!(
        "gpubroker_ready",
        "1 when the server is ready for traffic, 0 otherwise"
    );
}
