//! Budgets and the notification inbox over HTTP: set a monthly or per-pod spending limit,
//! see what was spent against it and which alerts fired; read the notifications budget
//! alerts and funds notices leave. Another user's budget answers 404.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::payments::private_json;
use super::JsonBody;
use crate::app::AppState;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::pods::budgets::{BudgetStatus, THRESHOLDS};
use crate::store::budgets::NotificationRow;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_budgets, set_budget))
        .routes(routes!(get_budget, delete_budget))
        .routes(routes!(list_notifications))
        .routes(routes!(mark_notifications_read))
}

/// A budget and what was spent against it in its current period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BudgetView {
    pub id: String,
    /// `month` (the caller's pods per calendar month, UTC) or `pod`.
    pub scope: String,
    /// The pod, for a pod budget.
    pub pod_id: Option<String>,
    pub limit_micro_usd: i64,
    /// Stop the budget's pods before the limit is passed.
    pub auto_stop: bool,
    /// `YYYY-MM` for the monthly budget, `pod` for a pod's whole life.
    pub period: String,
    /// Metered usage in the period: charged plus accruing in the current interval.
    pub spent_micro_usd: i64,
    /// `spent / limit` in percent, one decimal.
    pub percent: f64,
    /// Alert thresholds (percent) and which of them fired in this period.
    pub thresholds: Vec<i32>,
    pub alerted: Vec<i32>,
    pub updated_at: DateTime<Utc>,
}

impl From<BudgetStatus> for BudgetView {
    fn from(s: BudgetStatus) -> Self {
        let b = s.budget;
        let percent = (s.spent as f64 * 1000.0 / b.limit_micro_usd as f64).round() / 10.0;
        Self {
            scope: if b.pod_id.is_some() { "pod" } else { "month" }.to_owned(),
            id: b.id,
            pod_id: b.pod_id,
            limit_micro_usd: b.limit_micro_usd,
            auto_stop: b.auto_stop,
            period: s.period,
            spent_micro_usd: s.spent,
            percent,
            thresholds: THRESHOLDS.to_vec(),
            alerted: s.alerted,
            updated_at: b.updated_at,
        }
    }
}

/// A budget to set: the monthly one, or a pod's when `pod_id` is given. Setting it again
/// replaces the limit (and re-arms its alerts when the limit changed).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRequest {
    pub pod_id: Option<String>,
    /// The limit, micro-USD (1 000 000 = $1), at most $1 000 000.
    pub limit_micro_usd: i64,
    /// Stop the pods at 100 % (default true).
    pub auto_stop: Option<bool>,
}

/// The caller's budgets with their spending, the monthly one first.
#[utoipa::path(get, path = "/api/v2/budgets", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's budgets", body = Vec<BudgetView>),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody)
    ))]
pub async fn list_budgets(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let views: Vec<BudgetView> = state
        .pods
        .budgets(&user.id)
        .await?
        .into_iter()
        .map(BudgetView::from)
        .collect();
    Ok(private_json(StatusCode::OK, views))
}

/// Sets the caller's monthly budget or a pod's budget. Alerts go out at 50, 75 and 90 %;
/// with auto-stop the pods are stopped before the limit is passed.
#[utoipa::path(post, path = "/api/v2/budgets", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    request_body = BudgetRequest,
    responses(
        (status = 201, description = "A new budget", body = BudgetView),
        (status = 200, description = "The budget for that subject, replaced", body = BudgetView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such pod of the caller's", body = ErrorBody),
        (status = 409, description = "The pod is terminated", body = ErrorBody),
        (status = 422, description = "A limit out of range", body = ErrorBody)
    ))]
pub async fn set_budget(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<BudgetRequest>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Trade)?;
    let (status, created) = state
        .pods
        .set_budget(
            &user.id,
            req.pod_id.as_deref(),
            req.limit_micro_usd,
            req.auto_stop.unwrap_or(true),
        )
        .await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(private_json(code, BudgetView::from(status)))
}

/// One of the caller's budgets.
#[utoipa::path(get, path = "/api/v2/budgets/{id}", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Budget id")),
    responses(
        (status = 200, description = "The budget", body = BudgetView),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No such budget of the caller's", body = ErrorBody)
    ))]
pub async fn get_budget(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let status = state.pods.budget_of(&user.id, &id).await?;
    Ok(private_json(StatusCode::OK, BudgetView::from(status)))
}

/// Deletes one of the caller's budgets.
#[utoipa::path(delete, path = "/api/v2/budgets/{id}", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "Budget id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "An API key without the trade scope", body = ErrorBody),
        (status = 404, description = "No such budget of the caller's", body = ErrorBody)
    ))]
pub async fn delete_budget(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    user.require_scope(Scope::Trade)?;
    state.pods.delete_budget(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A notification (budget alert, pod stopped for funds).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationView {
    pub id: String,
    /// `budget.alert`, `pod.stopped`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The details, by kind.
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for NotificationView {
    fn from(n: NotificationRow) -> Self {
        Self {
            data: serde_json::from_str(&n.payload).unwrap_or(serde_json::Value::Null),
            id: n.id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// How many notifications to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationParams {
    /// 1 to 200, default 50.
    pub limit: Option<i64>,
}

/// The caller's newest notifications, newest first.
#[utoipa::path(get, path = "/api/v2/notifications", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    params(NotificationParams),
    responses(
        (status = 200, description = "Notifications", body = Vec<NotificationView>),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 422, description = "A limit out of range", body = ErrorBody)
    ))]
pub async fn list_notifications(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<NotificationParams>,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Validation("limit must be from 1 to 200".into()));
    }
    let rows = state.store.notifications_of(&user.id, limit).await?;
    let views: Vec<NotificationView> = rows.into_iter().map(NotificationView::from).collect();
    Ok(private_json(StatusCode::OK, views))
}

/// How many notifications were marked read.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarkedRead {
    pub marked: u64,
}

/// Marks all the caller's notifications read.
#[utoipa::path(post, path = "/api/v2/notifications/read", tag = "pods",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "How many were unread", body = MarkedRead),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody)
    ))]
pub async fn mark_notifications_read(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Response, ApiError> {
    user.require_scope(Scope::Read)?;
    let marked = state.store.notifications_mark_read(&user.id).await?;
    Ok(private_json(StatusCode::OK, MarkedRead { marked }))
}
