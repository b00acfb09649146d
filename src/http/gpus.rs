//! The GPU registry and the price sources, with live offer counts.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::catalog::live::SourceStatus;
use crate::domain::gpu::{self, GpuSpec};
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_gpus))
        .routes(routes!(get_gpu))
        .routes(routes!(list_providers))
}

/// A registry model with its current market.
#[derive(Debug, Serialize, ToSchema)]
pub struct GpuView {
    pub spec: &'static GpuSpec,
    /// Live, non-stale offers with this model.
    pub offers: usize,
    /// Cheapest on-demand price per GPU-hour among them.
    pub min_price_per_gpu_hour: Option<f64>,
}

/// Every model in the GPU registry, with offer counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct GpuListResponse {
    pub gpus: Vec<GpuView>,
    /// Offers whose GPU name is not in the registry, by raw name.
    pub unknown: HashMap<String, usize>,
}

fn market(state: &AppState) -> (ModelMarket, HashMap<String, usize>) {
    let snapshot = state.catalog.snapshot();
    let mut by_model: HashMap<&'static str, (usize, Option<f64>)> = HashMap::new();
    let mut unknown: HashMap<String, usize> = HashMap::new();
    for offer in snapshot.offers().iter().filter(|o| !snapshot.is_stale(o)) {
        match offer.gpu_model() {
            Some(model) => {
                let entry = by_model.entry(model).or_insert((0, None));
                entry.0 += 1;
                if let Some(p) = offer.price_per_gpu().map(|p| p.as_usd_f64()) {
                    entry.1 = Some(entry.1.map_or(p, |m: f64| m.min(p)));
                }
            }
            None => *unknown.entry(offer.gpu_raw.clone()).or_default() += 1,
        }
    }
    (by_model, unknown)
}

/// Offer count and cheapest price per GPU-hour, by canonical model.
type ModelMarket = HashMap<&'static str, (usize, Option<f64>)>;

/// The GPU registry: specs and current offer counts.
#[utoipa::path(get, path = "/api/v2/gpus", tag = "catalog",
    responses((status = 200, description = "Every registry model", body = GpuListResponse)))]
pub async fn list_gpus(State(state): State<AppState>) -> Json<GpuListResponse> {
    let (by_model, unknown) = market(&state);
    let gpus = gpu::registry()
        .iter()
        .map(|spec| {
            let (offers, min) = by_model.get(spec.model).copied().unwrap_or((0, None));
            GpuView {
                spec,
                offers,
                min_price_per_gpu_hour: min,
            }
        })
        .collect();
    Json(GpuListResponse { gpus, unknown })
}

/// One registry model (canonical id, case-insensitive).
#[utoipa::path(get, path = "/api/v2/gpus/{model}", tag = "catalog",
    params(("model" = String, Path, description = "Canonical model id, e.g. H100-SXM")),
    responses(
        (status = 200, description = "The model", body = GpuView),
        (status = 404, description = "Not in the registry", body = ErrorBody)
    ))]
pub async fn get_gpu(
    State(state): State<AppState>,
    Path(model): Path<String>,
) -> Result<Json<GpuView>, ApiError> {
    let spec = gpu::lookup(&model).ok_or_else(|| {
        let family: Vec<&str> = gpu::registry()
            .iter()
            .filter(|s| gpu::matches_family(s, &model))
            .map(|s| s.model)
            .collect();
        let hint = if family.is_empty() {
            String::new()
        } else {
            format!("; models in this family: {}", family.join(", "))
        };
        ApiError::NotFound(format!("no GPU model {model:?}{hint}"))
    })?;
    let (by_model, _) = market(&state);
    let (offers, min) = by_model.get(spec.model).copied().unwrap_or((0, None));
    Ok(Json(GpuView {
        spec,
        offers,
        min_price_per_gpu_hour: min,
    }))
}

/// A configured or recorded price source.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderView {
    pub source: String,
    /// Configured on this server (as opposed to only seen in the database, e.g. imported).
    pub configured: bool,
    /// Fetch interval in seconds, for configured sources.
    pub interval_secs: Option<u64>,
    /// Health; absent for a configured source that has not been fetched yet.
    pub status: Option<SourceStatus>,
}

/// Sources with health and offer counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersResponse {
    pub providers: Vec<ProviderView>,
}

/// Price sources: configuration, freshness, last error, latency, success rate, offers.
#[utoipa::path(get, path = "/api/v2/providers", tag = "catalog",
    responses((status = 200, description = "Every source", body = ProvidersResponse)))]
pub async fn list_providers(State(state): State<AppState>) -> Json<ProvidersResponse> {
    let mut statuses: HashMap<String, SourceStatus> = state
        .catalog
        .statuses()
        .into_iter()
        .map(|s| (s.source.clone(), s))
        .collect();
    let mut providers: Vec<ProviderView> = state
        .sources
        .iter()
        .map(|s| ProviderView {
            source: s.id().to_owned(),
            configured: true,
            interval_secs: Some(s.policy().interval.as_secs()),
            status: statuses.remove(s.id()),
        })
        .collect();
    let mut rest: Vec<ProviderView> = statuses
        .into_values()
        .map(|status| ProviderView {
            source: status.source.clone(),
            configured: false,
            interval_secs: None,
            status: Some(status),
        })
        .collect();
    rest.sort_by(|a, b| a.source.cmp(&b.source));
    providers.extend(rest);
    Json(ProvidersResponse { providers })
}
