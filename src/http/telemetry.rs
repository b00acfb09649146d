//! GPU telemetry of pods over HTTP: the owner issues a pod's agent token and reads its
//! telemetry; the node agent (`gpubroker agent`) posts samples with that token. See
//! docs/pods.md, "GPU node agent and telemetry".

use std::time::Instant;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::payments::private_json;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::http::rate_limit::Decision;
use crate::pods::telemetry::{minute_start, TelemetryBatch};
use crate::store::telemetry::TelemetryRow;

/// Largest agent post: 100 samples fit in well under this.
pub const AGENT_BODY_LIMIT_BYTES: usize = 64 * 1024;
/// Posts per second one pod's agent may make (a backlog flushes at this pace).
const AGENT_POSTS_PER_SECOND: u32 = 10;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    let agent = OpenApiRouter::new()
        .routes(routes!(post_telemetry))
        .layer(DefaultBodyLimit::max(AGENT_BODY_LIMIT_BYTES));
    OpenApiRouter::new()
        .routes(routes!(issue_agent_token))
        .routes(routes!(pod_telemetry))
        .merge(agent)
}

/// A new agent token, shown once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentTokenView {
    pub pod_id: String,
    /// `gpa_…`: pass it to `gpubroker agent` (GPUBROKER_AGENT_TOKEN); it is not shown again.
    pub token: String,
}

/// What a telemetry post kept.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IngestView {
    pub accepted: usize,
    /// Samples older than the 7-day retention window, skipped.
    pub ignored: usize,
}

/// Query of `GET /api/v2/pods/{id}/telemetry`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TelemetryParams {
    /// The window, minutes back from now (1 to 10080) [default: 60].
    pub minutes: Option<i64>,
    /// Minutes per point (1 to 1440) [default: 1].
    pub step: Option<i64>,
}

/// One point of a GPU's series: the aggregate of `step` minutes from `at`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TelemetryPoint {
    pub at: DateTime<Utc>,
    /// Samples behind this point.
    pub samples: i64,
    pub utilization_avg: Option<f64>,
    pub utilization_max: Option<f64>,
    pub memory_used_avg: Option<f64>,
    pub memory_used_max: Option<i64>,
    pub memory_total: Option<i64>,
    pub temperature_max: Option<i64>,
    pub power_avg: Option<f64>,
    pub power_max: Option<f64>,
}

/// One GPU's series, oldest point first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GpuSeries {
    pub gpu_index: i64,
    pub uuid: String,
    pub name: String,
    pub points: Vec<TelemetryPoint>,
}

/// A pod's telemetry over a window.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PodTelemetryView {
    pub pod_id: String,
    pub minutes: i64,
    pub step: i64,
    /// The newest sample ever kept ("last seen"), also outside the window.
    pub last_sample_at: Option<DateTime<Utc>>,
    pub gpus: Vec<GpuSeries>,
}

fn avg(sum: f64, n: i64) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

fn point(r: &TelemetryRow) -> TelemetryPoint {
    TelemetryPoint {
        at: minute_start(r.bucket),
        samples: r.samples,
        utilization_avg: avg(r.util_sum, r.util_n),
        utilization_max: r.util_max,
        memory_used_avg: avg(r.mem_used_sum as f64, r.mem_n),
        memory_used_max: r.mem_used_max,
        memory_total: r.mem_total,
        temperature_max: r.temp_max,
        power_avg: avg(r.power_sum, r.power_n),
        power_max: r.power_max,
    }
}

/// Groups rows (ordered by GPU, then time) into one series per GPU.
fn series(rows: &[TelemetryRow]) -> Vec<GpuSeries> {
    let mut out: Vec<GpuSeries> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(s) if s.gpu_index == r.gpu_index => {
                s.uuid.clone_from(&r.uuid);
                s.name.clone_from(&r.name);
                s.points.push(point(r));
            }
            _ => out.push(GpuSeries {
                gpu_index: r.gpu_index,
                uuid: r.uuid.clone(),
                name: r.name.clone(),
                points: vec![point(r)],
            }),
        }
    }
    out
}

/// Issues the pod's agent token, replacing any earlier one (whose agent then gets 401).
#[utoipa::path(post, path = "/api/v2/pods/{id}/agent-token", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id")),
    responses(
        (status = 201, description = "The token, shown once", body = AgentTokenView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody),
        (status = 409, description = "The pod is stopping, stopped, failed or terminated", body = ErrorBody)
    ))]
pub async fn issue_agent_token(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    let token = state.pods.issue_agent_token(&pod).await?;
    Ok(private_json(
        StatusCode::CREATED,
        AgentTokenView {
            pod_id: pod.id,
            token,
        },
    ))
}

/// The pod's GPU telemetry over the last `minutes`, one series per GPU in points of
/// `step` minutes (averages weighted by samples), and when the agent was last heard.
#[utoipa::path(get, path = "/api/v2/pods/{id}/telemetry", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id"), TelemetryParams),
    responses(
        (status = 200, description = "The series", body = PodTelemetryView),
        (status = 400, description = "A query that does not parse", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody),
        (status = 422, description = "minutes or step out of range", body = ErrorBody)
    ))]
pub async fn pod_telemetry(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    query: Result<Query<TelemetryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    let Query(params) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (minutes, step) = (params.minutes.unwrap_or(60), params.step.unwrap_or(1));
    let (rows, last) = state.pods.telemetry(&pod, minutes, step).await?;
    let view = PodTelemetryView {
        pod_id: pod.id,
        minutes,
        step,
        last_sample_at: last,
        gpus: series(&rows),
    };
    Ok(private_json(StatusCode::OK, view))
}

/// The agent token of an `Authorization: Bearer gpa_…` header.
fn agent_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "an agent token (Authorization: Bearer gpa_…) is required".into(),
            )
        })
}

/// Accepts GPU samples from a pod's node agent, which authenticates with the pod's agent
/// token (not a user credential). Samples are stored as per-minute aggregates.
#[utoipa::path(post, path = "/api/v2/agent/telemetry", tag = "pods",
    security(("agent_token" = [])),
    request_body = TelemetryBatch,
    responses(
        (status = 202, description = "Stored (samples older than the retention window are ignored)", body = IngestView),
        (status = 400, description = "A body that does not parse", body = ErrorBody),
        (status = 401, description = "A missing, unknown or replaced agent token", body = ErrorBody),
        (status = 409, description = "The pod is not provisioning or running", body = ErrorBody),
        (status = 413, description = "A body over 64 KiB", body = ErrorBody),
        (status = 422, description = "Too many samples, or a value out of range", body = ErrorBody),
        (status = 429, description = "More than 10 posts a second for the pod", body = ErrorBody)
    ))]
pub async fn post_telemetry(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<TelemetryBatch>, JsonRejection>,
) -> Result<Response, ApiError> {
    let token = agent_token(&headers)?;
    let pod = state
        .pods
        .pod_of_agent(token)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown or replaced agent token".into()))?;
    let key = format!("agent:{}", pod.id);
    if let Decision::Limited {
        retry_after_secs, ..
    } = state
        .rate_limiter
        .check_at(&key, AGENT_POSTS_PER_SECOND, Instant::now())
    {
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    let Json(batch) = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit_bytes: AGENT_BODY_LIMIT_BYTES,
            }
        } else {
            ApiError::from(rejection)
        }
    })?;
    let kept = state.pods.ingest_telemetry(&pod, &batch).await?;
    Ok(private_json(
        StatusCode::ACCEPTED,
        IngestView {
            accepted: kept.accepted,
            ignored: kept.ignored,
        },
    ))
}
