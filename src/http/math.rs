//! Developer math endpoints: the engines behind ranking and estimates, on your own numbers.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::JsonBody;
use crate::app::AppState;
use crate::domain::gpu::{self, GpuHints, GpuSpec};
use crate::domain::llm::{self, LlmSpec};
use crate::domain::perf::{
    self, CostEstimate, InferenceEstimate, InferenceParams, TrainingEstimate, TrainingParams,
};
use crate::domain::ranking::{topsis, Direction};
use crate::error::{ApiError, ErrorBody};
use axum::Json;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(math_topsis))
        .routes(routes!(math_cost_per_token))
        .routes(routes!(math_estimate_workload))
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

/// The hardware and model an estimate is for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// GPU name as any provider writes it, or a registry model: "H100-SXM", "A100 80GB".
    pub gpu: String,
    /// GPUs working together (default 1).
    #[serde(default = "one")]
    pub gpu_count: u32,
    /// A known model ("llama-3-70b"); or give `params_b`.
    pub model: Option<String>,
    /// Size of a generic dense model, billions of parameters.
    pub params_b: Option<f64>,
}

fn one() -> u32 {
    1
}

fn resolve_target(t: &Target) -> Result<(&'static GpuSpec, LlmSpec), ApiError> {
    let gpu = gpu::lookup(&t.gpu)
        .or_else(|| gpu::resolve(&t.gpu, GpuHints::default()).spec())
        .ok_or_else(|| {
            ApiError::Validation(format!(
                "unknown GPU {:?}; GET /api/v2/gpus lists the registry",
                t.gpu
            ))
        })?;
    if !(1..=1024).contains(&t.gpu_count) {
        return Err(ApiError::Validation(
            "gpu_count must be from 1 to 1024".into(),
        ));
    }
    let model = match (&t.model, t.params_b) {
        (Some(name), None) => llm::resolve(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = llm::all().map(|m| m.id).collect();
            ApiError::Validation(format!(
                "unknown model {name:?}; known: {} (or give params_b)",
                known.join(", ")
            ))
        })?,
        (None, Some(b)) if b.is_finite() && b > 0.0 && b <= 10_000.0 => LlmSpec::generic(b),
        (None, Some(b)) => {
            return Err(ApiError::Validation(format!(
                "params_b must be above 0 and at most 10000, not {b}"
            )))
        }
        _ => {
            return Err(ApiError::Validation(
                "give either model (a known model id) or params_b (a size in billions)".into(),
            ))
        }
    };
    Ok((gpu, model))
}

fn check_price(price: f64) -> Result<(), ApiError> {
    if price.is_finite() && price > 0.0 {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "price_per_hour must be a positive number of USD, not {price}"
        )))
    }
}

/// Cost per token of serving a model on a GPU at a price.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CostPerTokenRequest {
    /// GPU, count and model.
    pub target: Target,
    /// Price of all the GPUs per hour, USD.
    pub price_per_hour: f64,
    /// Serving shape: precision, batch (concurrent requests), prompt and output tokens.
    #[serde(default)]
    pub inference: InferenceParams,
    /// Tokens to price a run of (default one million).
    pub tokens: Option<f64>,
}

/// Speed and cost of serving.
#[derive(Debug, Serialize, ToSchema)]
pub struct CostPerTokenResponse {
    /// The registry model used.
    pub gpu: String,
    /// The model served.
    pub model: LlmSpec,
    pub estimate: InferenceEstimate,
    /// `usd_per_million_tokens` is infinite-free: null when the model does not fit.
    pub cost: Option<CostEstimate>,
}

/// USD per million output tokens of serving a model on a GPU configuration at a price,
/// with the performance model's fit, speed and reasoning.
#[utoipa::path(post, path = "/api/v2/math/cost-per-token", tag = "math",
    request_body = CostPerTokenRequest,
    responses(
        (status = 200, description = "Estimate and cost", body = CostPerTokenResponse),
        (status = 422, description = "Unknown GPU or model, bad price or shape", body = ErrorBody)
    ))]
pub async fn math_cost_per_token(
    JsonBody(req): JsonBody<CostPerTokenRequest>,
) -> Result<Json<CostPerTokenResponse>, ApiError> {
    let (gpu, model) = resolve_target(&req.target)?;
    check_price(req.price_per_hour)?;
    check_shape(&req.inference)?;
    let tokens = req.tokens.unwrap_or(1e6);
    if !(tokens.is_finite() && tokens > 0.0) {
        return Err(ApiError::Validation(
            "tokens must be a positive number".into(),
        ));
    }
    let estimate = perf::inference(gpu, req.target.gpu_count, &model, &req.inference);
    let cost = estimate
        .fits
        .then(|| estimate.cost(req.price_per_hour, tokens));
    Ok(Json(CostPerTokenResponse {
        gpu: gpu.model.to_owned(),
        model,
        estimate,
        cost,
    }))
}

fn check_shape(p: &InferenceParams) -> Result<(), ApiError> {
    if p.batch_size == 0 || p.batch_size > 65_536 {
        return Err(ApiError::Validation(
            "batch_size must be from 1 to 65536".into(),
        ));
    }
    if p.output_tokens == 0 {
        return Err(ApiError::Validation(
            "output_tokens must be at least 1".into(),
        ));
    }
    Ok(())
}

/// What to estimate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EstimateTask {
    Inference,
    Training,
}

/// A workload on a GPU configuration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EstimateWorkloadRequest {
    /// GPU, count and model.
    pub target: Target,
    pub task: EstimateTask,
    /// Serving shape (task inference).
    #[serde(default)]
    pub inference: InferenceParams,
    /// Tokens to generate (task inference), default one million.
    pub tokens: Option<f64>,
    /// Training run (task training): tokens, method (full, lora, qlora), precision, MFU.
    #[serde(default)]
    pub training: TrainingParams,
    /// Price of all the GPUs per hour, USD, to price the run.
    pub price_per_hour: Option<f64>,
}

/// The estimate for the task asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateWorkloadResponse {
    pub gpu: String,
    pub model: LlmSpec,
    pub inference: Option<InferenceEstimate>,
    /// Time and cost of generating `tokens` (inference, with a price, when the model fits).
    pub cost: Option<CostEstimate>,
    pub training: Option<TrainingEstimate>,
}

/// Time, memory and cost of serving or training a model on a GPU configuration.
#[utoipa::path(post, path = "/api/v2/math/estimate-workload", tag = "math",
    request_body = EstimateWorkloadRequest,
    responses(
        (status = 200, description = "The estimate", body = EstimateWorkloadResponse),
        (status = 422, description = "Unknown GPU or model, bad numbers", body = ErrorBody)
    ))]
pub async fn math_estimate_workload(
    JsonBody(req): JsonBody<EstimateWorkloadRequest>,
) -> Result<Json<EstimateWorkloadResponse>, ApiError> {
    let (gpu, model) = resolve_target(&req.target)?;
    if let Some(p) = req.price_per_hour {
        check_price(p)?;
    }
    let mut out = EstimateWorkloadResponse {
        gpu: gpu.model.to_owned(),
        model: model.clone(),
        inference: None,
        cost: None,
        training: None,
    };
    match req.task {
        EstimateTask::Inference => {
            check_shape(&req.inference)?;
            let tokens = req.tokens.unwrap_or(1e6);
            if !(tokens.is_finite() && tokens > 0.0) {
                return Err(ApiError::Validation(
                    "tokens must be a positive number".into(),
                ));
            }
            let est = perf::inference(gpu, req.target.gpu_count, &model, &req.inference);
            out.cost = match req.price_per_hour {
                Some(price) if est.fits => Some(est.cost(price, tokens)),
                _ => None,
            };
            out.inference = Some(est);
        }
        EstimateTask::Training => {
            let t = &req.training;
            if !(t.tokens.is_finite() && t.tokens > 0.0) {
                return Err(ApiError::Validation(
                    "training.tokens must be a positive number".into(),
                ));
            }
            if let Some(p) = t.price_per_hour_usd {
                check_price(p)?;
            }
            if t.mfu.is_some_and(|m| !(m > 0.0 && m <= 1.0)) {
                return Err(ApiError::Validation(
                    "training.mfu must be in (0, 1]".into(),
                ));
            }
            let params = TrainingParams {
                price_per_hour_usd: req.price_per_hour.or(t.price_per_hour_usd),
                ..*t
            };
            out.training = Some(perf::training(gpu, req.target.gpu_count, &model, &params));
        }
    }
    Ok(Json(out))
}
