//! The admin center's overview: accounts, pods by state and this month's usage revenue
//! (finance, support and admin).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use crate::app::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::ledger::AccountKind;
use crate::pods::PodState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overview))
}

/// The operator's numbers at a glance.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AdminOverview {
    pub users: i64,
    pub disabled_users: i64,
    /// Pods requested, provisioning, running or stopping.
    pub active_pods: i64,
    /// Every pod state with its count (zero included).
    pub pods_by_state: BTreeMap<String, i64>,
    /// `YYYY-MM` (UTC) of `usage_revenue_micro_usd`.
    pub month: String,
    /// Metered pod usage charged this month.
    pub usage_revenue_micro_usd: i64,
}

/// Accounts, pods by state and this month's usage revenue.
#[utoipa::path(get, path = "/api/v2/admin/overview", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The overview", body = AdminOverview),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not finance, support or admin", body = ErrorBody)
    ))]
pub async fn overview(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Result<Json<AdminOverview>, ApiError> {
    let now = crate::store::now();
    let since = crate::pods::budgets::month_start(now);
    let counts = state
        .store
        .overview_counts(&AccountKind::Revenue.system_id(), since)
        .await?;
    let mut pods_by_state: BTreeMap<String, i64> = PodState::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), 0))
        .collect();
    for (name, n) in counts.pods_by_state {
        *pods_by_state.entry(name).or_default() += n;
    }
    let active_pods = PodState::active()
        .into_iter()
        .map(|s| pods_by_state.get(s.as_str()).copied().unwrap_or(0))
        .sum();
    Ok(Json(AdminOverview {
        users: counts.users,
        disabled_users: counts.disabled_users,
        active_pods,
        pods_by_state,
        month: now.format("%Y-%m").to_string(),
        usage_revenue_micro_usd: counts.usage_revenue,
    }))
}
