//! GPU pods over HTTP: deploy an offer, list and read the caller's pods, stop, terminate
//! and read a pod's state history. Another user's pod answers 404.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::payments::private_json;
use super::JsonBody;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::pods::service::state_of;
use crate::pods::{PodError, PodState};
use crate::store::pods::{PodEventRow, PodRow};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pods, deploy_pod))
        .routes(routes!(get_pod))
        .routes(routes!(stop_pod))
        .routes(routes!(start_pod))
        .routes(routes!(terminate_pod))
        .routes(routes!(pod_events))
}

impl From<PodError> for ApiError {
    fn from(err: PodError) -> Self {
        match err {
            PodError::NotFound(m) => ApiError::NotFound(m),
            PodError::Invalid(m) => ApiError::Validation(m),
            PodError::Conflict(m) | PodError::InsufficientFunds(m) => ApiError::Conflict(m),
            PodError::Provider(e) => {
                ApiError::BadGateway(format!("the provider failed the request: {e}"))
            }
            PodError::Ledger(e) => e.into(),
            PodError::Payment(e) => e.into(),
            PodError::Store(e) => e.into(),
        }
    }
}

/// A pod.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PodView {
    pub id: String,
    pub name: String,
    pub offer_id: String,
    pub provider: String,
    /// The hourly price billed, fixed at deploy time.
    pub price_per_hour_micro_usd: i64,
    pub state: PodState,
    /// Why the pod failed, when it did.
    pub failure: Option<String>,
    /// Metering intervals charged so far.
    pub billed_intervals: i64,
    pub created_at: DateTime<Utc>,
    /// When metering started.
    pub running_since: Option<DateTime<Utc>>,
    /// When metering ended.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Which run this is: 0 until the pod is started again after a stop.
    pub run: i64,
    /// How to reach the machine, once its provider reported it running (absent for
    /// demo-market pods: they are simulated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<PodConnection>,
}

/// How to reach a pod's machine; each part as far as the provider told it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PodConnection {
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i64>,
    pub ssh_user: Option<String>,
    pub jupyter_url: Option<String>,
}

impl From<PodRow> for PodView {
    fn from(p: PodRow) -> Self {
        let known = p.ssh_host.is_some()
            || p.ssh_port.is_some()
            || p.ssh_user.is_some()
            || p.jupyter_url.is_some();
        let connection = known.then(|| PodConnection {
            ssh_host: p.ssh_host.clone(),
            ssh_port: p.ssh_port,
            ssh_user: p.ssh_user.clone(),
            jupyter_url: p.jupyter_url.clone(),
        });
        Self {
            connection,
            state: state_of(&p),
            id: p.id,
            name: p.name,
            offer_id: p.offer_id,
            provider: p.provider,
            price_per_hour_micro_usd: p.price_per_hour,
            failure: p.failure,
            billed_intervals: p.billed_intervals,
            created_at: p.created_at,
            running_since: p.running_since,
            stopped_at: p.stopped_at,
            run: p.run,
        }
    }
}

/// One state change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PodEventView {
    /// `None` for the first (deploy).
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

impl From<PodEventRow> for PodEventView {
    fn from(e: PodEventRow) -> Self {
        Self {
            from: e.from_state,
            to: e.to_state,
            reason: e.reason,
            at: e.at,
        }
    }
}

/// What to deploy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// A catalog offer id (a demo-market offer, or a RunPod, Vast.ai or Lambda offer when
    /// that provider's API key is configured); or send `recommendation` instead.
    pub offer_id: Option<String>,
    /// Deploy the offer a recommendation ranks `rank` (default 1) for this workload, as
    /// `POST /api/v2/recommendations` would answer it now.
    pub recommendation: Option<super::recommend::RecommendationRequest>,
    /// Which of the recommendation's offers, 1 = the best (default).
    pub rank: Option<usize>,
    /// A budget for this pod, micro-USD: alerts at 50/75/90 % and auto-stop at 100 %.
    pub budget_micro_usd: Option<i64>,
    /// Defaults to the offer's instance type.
    pub name: Option<String>,
    /// Makes retries safe: a repeated token answers the pod made the first time.
    pub client_token: Option<String>,
}

/// The caller's pods, newest first.
#[utoipa::path(get, path = "/api/v2/pods", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's pods", body = Vec<PodView>),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody)
    ))]
pub async fn list_pods(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let pods = state.store.pods_of(&user.id).await?;
    let views: Vec<PodView> = pods.into_iter().map(PodView::from).collect();
    Ok(private_json(StatusCode::OK, views))
}

/// Deploys an offer: checks the plan's pod limit, holds one prepaid hour on the wallet and
/// launches the machine; it is metered per second once running.
#[utoipa::path(post, path = "/api/v2/pods", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    request_body = DeployRequest,
    responses(
        (status = 201, description = "The new pod (state `provisioning`, or `failed` when the launch failed and its hold was released)", body = PodView),
        (status = 200, description = "The pod made earlier with the same client_token", body = PodView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such offer", body = ErrorBody),
        (status = 409, description = "Plan pod limit reached, or the wallet cannot cover the prepaid period", body = ErrorBody),
        (status = 422, description = "A bad name or token, or an offer that cannot be deployed", body = ErrorBody)
    ))]
pub async fn deploy_pod(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<DeployRequest>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    if let Some(limit) = req.budget_micro_usd {
        if !(1..=crate::pods::budgets::MAX_LIMIT_MICRO_USD).contains(&limit) {
            return Err(ApiError::Validation(format!(
                "budget_micro_usd must be from 1 to {}",
                crate::pods::budgets::MAX_LIMIT_MICRO_USD
            )));
        }
    }
    let offer_id = match (req.offer_id, req.recommendation) {
        (Some(id), None) => id,
        (None, Some(rec)) => recommended_offer(&state, rec, req.rank.unwrap_or(1))?,
        _ => {
            return Err(ApiError::Validation(
                "send either offer_id or recommendation, not both".into(),
            ))
        }
    };
    let offer = state
        .catalog
        .snapshot()
        .get(&offer_id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("no offer {offer_id}")))?;
    let (pod, created) = state
        .pods
        .deploy(
            &user.id,
            &offer,
            req.name.as_deref(),
            req.client_token.as_deref(),
        )
        .await?;
    if let (Some(limit), true) = (req.budget_micro_usd, created) {
        state
            .pods
            .set_budget(&user.id, Some(&pod.id), limit, true)
            .await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(private_json(status, PodView::from(pod)))
}

/// The id of the offer ranked `rank` by the recommendation for `req`.
fn recommended_offer(
    state: &AppState,
    req: super::recommend::RecommendationRequest,
    rank: usize,
) -> Result<String, ApiError> {
    if !(1..=crate::catalog::recommend::MAX_PICKS).contains(&rank) {
        return Err(ApiError::Validation(format!(
            "rank must be from 1 to {}",
            crate::catalog::recommend::MAX_PICKS
        )));
    }
    let mut req = req;
    req.limit = Some(req.limit.unwrap_or(rank).max(rank));
    let answer = super::recommend::recommend_for(state, req)?;
    answer
        .recommendations
        .into_iter()
        .find(|r| r.rank == rank)
        .map(|r| r.offer.id)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "the recommendation has no offer ranked {rank} for this workload now"
            ))
        })
}

/// One of the caller's pods.
#[utoipa::path(get, path = "/api/v2/pods/{id}", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id")),
    responses(
        (status = 200, description = "The pod", body = PodView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody)
    ))]
pub async fn get_pod(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    Ok(private_json(StatusCode::OK, PodView::from(pod)))
}

/// Stops a running or provisioning pod: charging ends at once (the partial last interval
/// is charged once) and the prepaid hold is released.
#[utoipa::path(post, path = "/api/v2/pods/{id}/stop", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id")),
    responses(
        (status = 200, description = "The stopped pod", body = PodView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody),
        (status = 409, description = "The pod cannot be stopped in its state", body = ErrorBody)
    ))]
pub async fn stop_pod(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    let pod = state.pods.stop(&pod, "stop requested").await?;
    Ok(private_json(StatusCode::OK, PodView::from(pod)))
}

/// Starts a stopped pod again on its machine: a new run with a new prepaid hold, metered
/// from zero; its earlier runs still count against its budgets.
#[utoipa::path(post, path = "/api/v2/pods/{id}/start", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id")),
    responses(
        (status = 200, description = "The pod, provisioning again (or failed when the provider refused)", body = PodView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody),
        (status = 409, description = "Not stopped, a plan limit, a spent budget, or a wallet that cannot cover the prepaid period", body = ErrorBody)
    ))]
pub async fn start_pod(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    let pod = state.pods.start(&pod).await?;
    Ok(private_json(StatusCode::OK, PodView::from(pod)))
}

/// Terminates a pod, stopping it first when it runs.
#[utoipa::path(post, path = "/api/v2/pods/{id}/terminate", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id")),
    responses(
        (status = 200, description = "The terminated pod", body = PodView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody),
        (status = 409, description = "The pod cannot be terminated in its state", body = ErrorBody)
    ))]
pub async fn terminate_pod(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    let pod = state.pods.terminate(&pod).await?;
    Ok(private_json(StatusCode::OK, PodView::from(pod)))
}

/// A pod's state history, oldest first.
#[utoipa::path(get, path = "/api/v2/pods/{id}/events", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Pod id")),
    responses(
        (status = 200, description = "The state changes", body = Vec<PodEventView>),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No such pod of the caller", body = ErrorBody)
    ))]
pub async fn pod_events(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let pod = state.pods.pod_of(&user.id, &id).await?;
    let events = state.store.pod_events(&pod.id).await?;
    let views: Vec<PodEventView> = events.into_iter().map(PodEventView::from).collect();
    Ok(private_json(StatusCode::OK, views))
}
