//! Market KPIs and insights, computed from the live catalog and the price history.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::catalog::kpi::{self, GpuKpi, Insights, Overview, ProviderKpi};
use crate::catalog::live::SourceStatus;
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(kpi_overview))
        .routes(routes!(kpi_gpu))
        .routes(routes!(kpi_provider))
        .routes(routes!(kpi_insights))
}

/// Market overview: offers, providers, GPU models, median and cheapest price per model.
#[utoipa::path(get, path = "/api/v2/kpi/overview", tag = "kpi",
    responses((status = 200, description = "The market now", body = Overview)))]
pub async fn kpi_overview(State(state): State<AppState>) -> Json<Overview> {
    Json(kpi::overview(&state.catalog.snapshot(), Utc::now()))
}

/// Price distribution of a GPU model or family, per provider, per TFLOP, and its trend.
#[utoipa::path(get, path = "/api/v2/kpi/gpu/{model}", tag = "kpi",
    params(("model" = String, Path, description = "Canonical model or family: H100, H100-SXM, A100-80GB")),
    responses(
        (status = 200, description = "KPIs of the model", body = GpuKpi),
        (status = 404, description = "No live offer of that model", body = ErrorBody)
    ))]
pub async fn kpi_gpu(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<GpuKpi>, ApiError> {
    let now = Utc::now();
    let (day, week) = (now - Duration::hours(24), now - Duration::days(7));
    let snapshot = state.catalog.snapshot();
    // Cheap check first: no history reads for a model nobody offers.
    if !snapshot.offers().iter().any(|o| {
        o.gpu
            .is_some_and(|g| crate::domain::gpu::matches_family(g, &model))
    }) {
        return Err(not_offered(&model));
    }
    // A young catalog has no history that old: its trends start at the first observation.
    let first = state.store.first_observation().await?.unwrap_or(now);
    let (day, week) = (day.max(first), week.max(first));
    let past_day = state.store.prices_at(day).await?;
    let past_week = state.store.prices_at(week).await?;
    kpi::gpu_kpi(&snapshot, &model, (day, &past_day), (week, &past_week))
        .map(Json)
        .ok_or_else(|| not_offered(&model))
}

fn not_offered(model: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no live offer of GPU {model:?}; GET /api/v2/gpus lists the models and their offers"
    ))
}

/// A provider's KPIs with the health of the sources that report it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderKpiResponse {
    #[serde(flatten)]
    pub kpi: ProviderKpi,
    /// Ingestion health of each source reporting this provider: success rate, latency,
    /// freshness.
    pub sources: Vec<SourceStatus>,
}

/// Offers, price against the market, volatility and ingestion health of one provider.
#[utoipa::path(get, path = "/api/v2/kpi/provider/{name}", tag = "kpi",
    params(("name" = String, Path, description = "Provider id: lambda, runpod, vastai, …")),
    responses(
        (status = 200, description = "KPIs of the provider", body = ProviderKpiResponse),
        (status = 404, description = "No offer of that provider", body = ErrorBody)
    ))]
pub async fn kpi_provider(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProviderKpiResponse>, ApiError> {
    let since = Utc::now() - Duration::days(7);
    let snapshot = state.catalog.snapshot();
    let provider = snapshot
        .offers()
        .iter()
        .find(|o| o.provider.eq_ignore_ascii_case(&name))
        .map(|o| o.provider.clone())
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no offer of provider {name:?}; GET /api/v2/providers lists the sources"
            ))
        })?;
    let observations = state.store.provider_price_changes(&provider, since).await?;
    let kpi = kpi::provider_kpi(&snapshot, &provider, &observations, since)
        .ok_or_else(|| ApiError::NotFound(format!("no offer of provider {name:?}")))?;
    let mut sources: Vec<&str> = snapshot
        .offers()
        .iter()
        .filter(|o| o.provider == provider)
        .map(|o| o.source.as_str())
        .collect();
    sources.sort_unstable();
    sources.dedup();
    let sources = state
        .catalog
        .statuses()
        .into_iter()
        .filter(|s| sources.contains(&s.source.as_str()))
        .collect();
    Ok(Json(ProviderKpiResponse { kpi, sources }))
}

/// Largest price moves, best value now, price anomalies and newly offered GPU models.
#[utoipa::path(get, path = "/api/v2/kpi/insights", tag = "kpi",
    responses((status = 200, description = "Market insights", body = Insights)))]
pub async fn kpi_insights(State(state): State<AppState>) -> Result<Json<Insights>, ApiError> {
    let now = Utc::now();
    let week = now - Duration::days(7);
    let past = state.store.prices_at(now - Duration::hours(24)).await?;
    // Before a week of history every model would look new: say nothing instead.
    let young = state
        .store
        .first_observation()
        .await?
        .is_none_or(|first| first > week);
    let debuts = if young {
        Vec::new()
    } else {
        state.store.models_first_seen_since(week).await?
    };
    Ok(Json(kpi::insights(
        &state.catalog.snapshot(),
        now,
        &past,
        &debuts,
    )))
}
