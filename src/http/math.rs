//! Developer math endpoints: the engines behind ranking and estimates, on your own numbers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::JsonBody;
use crate::app::AppState;
use crate::domain::ranking::{topsis, Direction};
use crate::error::{ApiError, ErrorBody};
use axum::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(math_topsis))
}

/// Largest decision matrix accepted, in cells.
const MAX_CELLS: usize = 1_000_000;

/// A decision matrix to rank.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopsisRequest {
    /// One row per alternative, one column per criterion.
    pub decision_matrix: Vec<Vec<f64>>,
    /// One weight per criterion, ≥ 0; normalised to sum 1.
    pub weights: Vec<f64>,
    /// `benefit` (more is better) or `cost` (less is better) per criterion.
    pub criteria_types: Vec<Direction>,
}

/// TOPSIS scores and ranking.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TopsisResponse {
    /// Row indices, best first; equal scores keep input order.
    pub rankings: Vec<usize>,
    /// Closeness to the ideal per row, 0–1, input order.
    pub scores: Vec<f64>,
    /// The weights as used (normalised).
    pub weights: Vec<f64>,
    /// Ideal point in weighted normalised space.
    pub ideal_solution: Vec<f64>,
    /// Anti-ideal point in weighted normalised space.
    pub anti_ideal_solution: Vec<f64>,
}

/// Rank alternatives with TOPSIS.
#[utoipa::path(post, path = "/api/v2/math/topsis", tag = "math", request_body = TopsisRequest,
    responses(
        (status = 200, description = "Scores and ranking", body = TopsisResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Matrix, weights or types inconsistent", body = ErrorBody)
    ))]
pub async fn math_topsis(
    JsonBody(req): JsonBody<TopsisRequest>,
) -> Result<Json<TopsisResponse>, ApiError> {
    let m = req.criteria_types.len();
    if req.decision_matrix.is_empty() {
        return Err(ApiError::Validation(
            "decision_matrix needs at least one row".into(),
        ));
    }
    if req.decision_matrix.len().saturating_mul(m) > MAX_CELLS {
        return Err(ApiError::Validation(format!(
            "decision_matrix is limited to {MAX_CELLS} cells"
        )));
    }
    if let Some((row, r)) = req
        .decision_matrix
        .iter()
        .enumerate()
        .find(|(_, r)| r.len() != m)
    {
        return Err(ApiError::Validation(format!(
            "row {row} has {} values but there are {m} criteria_types",
            r.len()
        )));
    }
    let columns: Vec<Vec<f64>> = (0..m)
        .map(|j| req.decision_matrix.iter().map(|r| r[j]).collect())
        .collect();
    let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let out = topsis(&refs, &req.weights, &req.criteria_types)
        .map_err(|e| ApiError::Validation(e.to_string()))?;
    Ok(Json(TopsisResponse {
        rankings: out.ranking(),
        scores: out.scores,
        weights: out.weights,
        ideal_solution: out.ideal,
        anti_ideal_solution: out.anti_ideal,
    }))
}
