//! Operations endpoints: `/health/`, `/ready` and `/metrics`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::{AppState, Phase};

/// How long the database check may take before it counts as failed.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// Outcome of one health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Healthy,
    Unhealthy,
}

/// Body of `GET /health/`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `healthy` when every check passed.
    pub status: CheckStatus,
    /// Each check by name (`database`, `config`).
    pub checks: BTreeMap<String, CheckStatus>,
    /// Why a failing check failed (never secrets).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
    pub version: String,
    /// This replica's id (the holder named in leader leases).
    #[serde(default)]
    pub replica: String,
    /// The leader leases this replica holds, with their fencing tokens (`ingest:<source>`,
    /// `maintenance`); with several replicas each lease is held by one of them.
    #[serde(default)]
    pub leases: BTreeMap<String, i64>,
}

/// Liveness and dependency health.
#[utoipa::path(get, path = "/health/", tag = "operations",
    responses(
        (status = 200, description = "Every check passed", body = HealthResponse),
        (status = 503, description = "A check failed; it is named in `checks`", body = HealthResponse)
    ))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let mut checks = BTreeMap::new();
    let mut details = BTreeMap::new();
    let database = match tokio::time::timeout(DB_CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {DB_CHECK_TIMEOUT:?}")),
    };
    let config = config_check(&state);
    for (name, result) in [("database", database), ("config", config)] {
        let status = match result {
            Ok(()) => CheckStatus::Healthy,
            Err(detail) => {
                tracing::warn!(check = name, detail = %detail, "health check failed");
                details.insert(name.to_owned(), detail);
                CheckStatus::Unhealthy
            }
        };
        checks.insert(name.to_owned(), status);
    }
    let healthy = details.is_empty();
    let body = HealthResponse {
        status: if healthy {
            CheckStatus::Healthy
        } else {
            CheckStatus::Unhealthy
        },
        checks,
        details,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        replica: state.replica_id.clone(),
        leases: state.leases.held(),
    };
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// The data dir must still be a writable directory (it holds the SQLite file and the key).
fn config_check(state: &AppState) -> Result<(), String> {
    let dir = &state.settings.data_dir;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() && !meta.permissions().readonly() => Ok(()),
        Ok(_) => Err(format!(
            "data dir {} is not a writable directory",
            dir.display()
        )),
        Err(e) => Err(format!("data dir {}: {e}", dir.display())),
    }
}

/// Body of `GET /ready`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadyResponse {
    /// `ready`, `starting` or `draining`.
    pub status: String,
}

/// Readiness for traffic: 503 while starting and while draining for shutdown.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready for traffic", body = ReadyResponse),
        (status = 503, description = "Starting or draining", body = ReadyResponse)
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ReadyResponse>) {
    let phase = state.phase();
    let code = if phase == Phase::Ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let status = serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    (code, Json(ReadyResponse { status }))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let pool = state.store.pool_stats();
    let backend = state.store.kind().as_str();
    let active = pool.size.saturating_sub(pool.idle);
    metrics::gauge!("db_pool_connections", "state" => "idle", "backend" => backend)
        .set(f64::from(pool.idle));
    metrics::gauge!("db_pool_connections", "state" => "active", "backend" => backend)
        .set(f64::from(active));
    metrics::gauge!("db_pool_max_connections", "backend" => backend).set(f64::from(pool.max));
    metrics::gauge!("gpubroker_ready").set(if state.phase() == Phase::Ready {
        1.0
    } else {
        0.0
    });
    metrics::gauge!("gpubroker_build_info", "version" => env!("CARGO_PKG_VERSION"), "backend" => backend)
        .set(1.0);
    let body = state.metrics.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
