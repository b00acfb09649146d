//! The workload assistant over HTTP: plain language to a workload spec, and a spec (or
//! text) to ranked offers with estimated costs and reasons.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::offer_view::{last_success, warnings, OfferView, SourceWarning};
use super::JsonBody;
use crate::app::AppState;
use crate::catalog::recommend::{
    self, Estimate, Exclusion, Requirements, DEFAULT_PICKS, MAX_PICKS,
};
use crate::domain::workload::{self, ParseOutcome, WorkloadSpec};
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(parse_workload))
        .routes(routes!(recommendations))
}

/// A workload description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseWorkloadRequest {
    /// e.g. "serve llama 3 70b at 2k tokens/s in the EU under $8/h".
    pub text: String,
}

/// Read a plain-language workload description into a workload spec (deterministic rules,
/// no model involved).
#[utoipa::path(post, path = "/api/v2/ai/parse-workload", tag = "assistant",
    request_body = ParseWorkloadRequest,
    responses(
        (status = 200, description = "The spec, what was understood and what was doubtful", body = ParseOutcome),
        (status = 422, description = "Empty, too long, or nothing understood", body = ErrorBody)
    ))]
pub async fn parse_workload(
    JsonBody(req): JsonBody<ParseWorkloadRequest>,
) -> Result<Json<ParseOutcome>, ApiError> {
    workload::parse(&req.text)
        .map(Json)
        .map_err(|e| ApiError::Validation(e.to_string()))
}

/// A workload as text or as a spec.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendationRequest {
    /// Plain-language description; give this or `spec`.
    pub text: Option<String>,
    /// The workload as a spec; give this or `text`.
    pub spec: Option<WorkloadSpec>,
    /// Picks to return (1–20, default 5).
    pub limit: Option<usize>,
}

/// One recommended offer with its estimate and reasons.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendedOffer {
    pub rank: usize,
    pub offer: OfferView,
    pub estimate: Estimate,
    pub reasons: Vec<String>,
}

/// Requirements, ranked offers and exclusions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendationResponse {
    /// The spec used (parsed from `text`, or as sent).
    pub spec: WorkloadSpec,
    /// What was understood from `text` (empty for a spec).
    pub recognised: Vec<String>,
    /// Doubtful parts of `text`.
    pub warnings: Vec<String>,
    pub requirements: Requirements,
    pub recommendations: Vec<RecommendedOffer>,
    /// Offers left out, by reason, most common first.
    pub excluded: Vec<Exclusion>,
    /// Live offers examined.
    pub considered: usize,
    /// Offers that passed every check (the picks keep one per provider, GPU and count).
    pub suitable: usize,
    /// Sources that are failing or stale: the answer may miss their offers.
    pub catalog_warnings: Vec<SourceWarning>,
}

/// Recommend offers for a workload: requirements, ranked offers with estimated cost and
/// the reason for each pick, and what was excluded and why.
#[utoipa::path(post, path = "/api/v2/recommendations", tag = "assistant",
    request_body = RecommendationRequest,
    responses(
        (status = 200, description = "Ranked offers", body = RecommendationResponse),
        (status = 422, description = "Neither or both of text and spec, or unreadable text", body = ErrorBody)
    ))]
pub async fn recommendations(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RecommendationRequest>,
) -> Result<Json<RecommendationResponse>, ApiError> {
    Ok(Json(recommend_for(&state, req)?))
}

/// The recommendation for `req` over the live catalog (shared with the assistant).
pub fn recommend_for(
    state: &AppState,
    req: RecommendationRequest,
) -> Result<RecommendationResponse, ApiError> {
    let limit = req.limit.unwrap_or(DEFAULT_PICKS);
    if !(1..=MAX_PICKS).contains(&limit) {
        return Err(ApiError::Validation(format!(
            "limit must be from 1 to {MAX_PICKS}"
        )));
    }
    let outcome = match (req.text, req.spec) {
        (Some(text), None) => {
            workload::parse(&text).map_err(|e| ApiError::Validation(e.to_string()))?
        }
        (None, Some(spec)) => ParseOutcome {
            spec,
            ..ParseOutcome::default()
        },
        _ => {
            return Err(ApiError::Validation(
                "send either text (a plain-language description) or spec, not both".into(),
            ))
        }
    };
    recommend::validate(&outcome.spec).map_err(ApiError::Validation)?;
    let snapshot = state.catalog.snapshot();
    let statuses = state.catalog.statuses();
    let seen = last_success(&statuses);
    let rec = recommend::recommend(&snapshot, &outcome.spec, limit);
    let recommendations = rec
        .picks
        .into_iter()
        .enumerate()
        .map(|(i, p)| RecommendedOffer {
            rank: i + 1,
            offer: OfferView::new(p.offer, &snapshot, &seen),
            estimate: p.estimate,
            reasons: p.reasons,
        })
        .collect();
    Ok(RecommendationResponse {
        spec: outcome.spec,
        recognised: outcome.recognised,
        warnings: outcome.warnings,
        requirements: rec.requirements,
        recommendations,
        excluded: rec.excluded,
        considered: rec.considered,
        suitable: rec.suitable,
        catalog_warnings: warnings(&statuses),
    })
}
