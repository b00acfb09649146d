//! Inference estimate: memory fit, decode and prefill speed, sustained output throughput.
//!
//! Decode step = max(weight read, matmul FLOPs) + KV-cache read: the weight GEMMs and the
//! attention kernel run one after the other, so the attention's KV read adds to whichever
//! bound the GEMMs hit. (Taking one max over everything overestimates large-batch,
//! long-context throughput by 30–80 % against TensorRT-LLM's figures.)

mod notes;

use serde::{Deserialize, Serialize};

use super::{
    approx_width, is_moe, scaling_efficiency, usable_memory_gb, Precision, ACTIVATION_FRACTION,
    BANDWIDTH_EFFICIENCY, INT4_DEQUANT_BANDWIDTH_FACTOR, MOE_INFERENCE_EFFICIENCY,
    RUNTIME_RESERVE_GB,
};
use crate::domain::gpu::GpuSpec;
use crate::domain::llm::LlmSpec;

/// What the caller wants to run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InferenceParams {
    /// Weight (and activation) precision. Default bf16.
    pub precision: Precision,
    /// KV-cache precision; default 16-bit (fp32 when `precision` is fp32).
    pub kv_precision: Option<Precision>,
    /// Sequences decoded together (concurrent requests). Default 1.
    pub batch_size: u32,
    /// KV-cache tokens reserved per sequence; default and minimum `prompt_tokens +
    /// output_tokens`.
    pub context_tokens: Option<u32>,
    /// Prompt length per request. Default 1024.
    pub prompt_tokens: u32,
    /// Tokens generated per request. Default 256.
    pub output_tokens: u32,
}

impl Default for InferenceParams {
    /// One chat request with a page of context: bf16, batch 1, 1024 tokens in, 256 out.
    fn default() -> Self {
        Self {
            precision: Precision::Bf16,
            kv_precision: None,
            batch_size: 1,
            context_tokens: None,
            prompt_tokens: 1024,
            output_tokens: 256,
        }
    }
}

/// Which resource limits a phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// Memory bandwidth: reading weights or the KV cache.
    Memory,
    /// Tensor-core throughput.
    Compute,
}

/// The model's answer for one GPU offer. GB are 10⁹ bytes; speeds are for all GPUs together.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InferenceEstimate {
    /// Weight precision used.
    pub precision: Precision,
    /// KV-cache precision used.
    pub kv_precision: Precision,
    /// GPUs working as one tensor-parallel group.
    pub gpu_count: u32,
    /// Sequences decoded together.
    pub batch_size: u32,
    /// KV-cache tokens reserved per sequence.
    pub context_tokens: u32,
    /// Weights at `precision`, GB.
    pub weights_gb: f64,
    /// KV cache for `batch_size × context_tokens`, GB.
    pub kv_cache_gb: f64,
    /// KV-cache bytes per token (all layers).
    pub kv_bytes_per_token: f64,
    /// Activations, allocator slack and per-GPU runtime reserve, GB.
    pub overhead_gb: f64,
    /// Weights + KV cache + overhead, GB.
    pub memory_needed_gb: f64,
    /// Memory of all GPUs, GB.
    pub memory_available_gb: f64,
    /// True when `memory_needed_gb ≤ memory_available_gb`.
    pub fits: bool,
    /// Most sequences of `context_tokens` that fit next to the weights (0 if none).
    pub max_batch_size: u32,
    /// Share of peak memory bandwidth assumed.
    pub bandwidth_efficiency: f64,
    /// Share of peak tensor FLOP/s assumed (model FLOPs utilisation).
    pub compute_efficiency: f64,
    /// Share of linear multi-GPU scaling kept.
    pub scaling_efficiency: f64,
    /// Bandwidth the model uses, all GPUs, GB/s.
    pub effective_bandwidth_gbs: f64,
    /// FLOP/s the model uses, all GPUs, TFLOPS.
    pub effective_tflops: f64,
    /// What limits a decode step.
    pub decode_bound: Bound,
    /// One decode step for the whole batch at the mean context, ms.
    pub decode_step_ms: f64,
    /// Tokens per second each sequence sees while decoding.
    pub decode_tokens_per_s_per_sequence: f64,
    /// Decode tokens per second over the batch.
    pub decode_tokens_per_s: f64,
    /// What limits the prefill of the batch's prompts.
    pub prefill_bound: Bound,
    /// Prompt tokens per second while prefilling the batch.
    pub prefill_tokens_per_s: f64,
    /// Prefill of one request's prompt, ms.
    pub time_to_first_token_ms: f64,
    /// Sustained output tokens per second with every request's prefill included: the figure
    /// for cost per token.
    pub output_tokens_per_s: f64,
    /// One request, first prompt token to last output token, s.
    pub request_latency_s: f64,
    /// Plain-language reasons: what binds, what was assumed.
    pub notes: Vec<String>,
}

/// Effective rates of the GPU group for one precision and model.
struct Rates {
    /// KV and activation traffic, bytes/s.
    bandwidth: f64,
    /// Weight streaming, bytes/s (lower for dequantising INT4 kernels).
    weight_bandwidth: f64,
    /// Matrix maths, FLOP/s.
    flops: f64,
    compute_efficiency: f64,
    scaling: f64,
}

fn rates(gpu: &GpuSpec, gpu_count: u32, model: &LlmSpec, precision: Precision) -> Rates {
    let scaling = scaling_efficiency(gpu.form_factor, gpu_count);
    let n = f64::from(gpu_count);
    let bandwidth = n * f64::from(gpu.memory_bandwidth_gbs) * 1e9 * BANDWIDTH_EFFICIENCY * scaling;
    let dequant = if precision == Precision::Int4 {
        INT4_DEQUANT_BANDWIDTH_FACTOR
    } else {
        1.0
    };
    let moe = if is_moe(model) {
        MOE_INFERENCE_EFFICIENCY
    } else {
        1.0
    };
    let compute_efficiency = precision.compute_efficiency(gpu) * moe;
    Rates {
        bandwidth,
        weight_bandwidth: bandwidth * dequant,
        flops: n * precision.peak_tflops(gpu) * 1e12 * compute_efficiency * scaling,
        compute_efficiency,
        scaling,
    }
}

/// The request in the units the formulas use.
struct Workload {
    batch_size: u32,
    batch: f64,
    prompt: f64,
    output: f64,
    kv_precision: Precision,
    context_tokens: u32,
    kv_bytes_per_token: f64,
    weight_bytes: f64,
}

impl Workload {
    fn new(model: &LlmSpec, p: &InferenceParams) -> Self {
        let batch_size = p.batch_size.max(1);
        let kv_precision = p.kv_precision.unwrap_or(match p.precision {
            Precision::Fp32 => Precision::Fp32,
            _ => Precision::Bf16,
        });
        let context_tokens = p
            .context_tokens
            .unwrap_or(0)
            .max(p.prompt_tokens.saturating_add(p.output_tokens));
        Self {
            batch_size,
            batch: f64::from(batch_size),
            prompt: f64::from(p.prompt_tokens),
            output: f64::from(p.output_tokens),
            kv_precision,
            context_tokens,
            kv_bytes_per_token: model.kv_bytes_per_token(kv_precision.bytes_per_param()),
            weight_bytes: model.params_b * 1e9 * p.precision.bytes_per_param(),
        }
    }
}

/// Times of one decode step, seconds.
struct Decode {
    weights_s: f64,
    matmul_s: f64,
    kv_s: f64,
    step_s: f64,
    bound: Bound,
}

/// One decode step for the batch at the mean context `prompt + output / 2`. A mixture of
/// experts reads the experts its batch routes to: with a share `r = active / total` per
/// token, a batch of B touches `1 − (1 − r)^B` of the weights (all of them when dense).
fn decode(model: &LlmSpec, w: &Workload, r: &Rates) -> Decode {
    let routed = (model.active_params_b / model.params_b.max(1e-9)).clamp(0.0, 1.0);
    let touched = 1.0 - (1.0 - routed).powf(w.batch);
    let weights_s = w.weight_bytes * touched / r.weight_bandwidth;
    let matmul_s = 2.0 * model.active_params_b * 1e9 * w.batch / r.flops;
    let context = w.prompt + w.output / 2.0;
    let kv_s = w.batch * context * w.kv_bytes_per_token / r.bandwidth;
    let bound = if matmul_s > weights_s && matmul_s > kv_s {
        Bound::Compute
    } else {
        Bound::Memory
    };
    Decode {
        weights_s,
        matmul_s,
        kv_s,
        step_s: weights_s.max(matmul_s) + kv_s,
        bound,
    }
}

/// FLOPs to prefill one prompt: 2 per active parameter per token, plus causal attention
/// `4 · layers · width · P² / 2`.
fn prefill_flops(model: &LlmSpec, prompt: f64) -> f64 {
    2.0 * model.active_params_b * 1e9 * prompt
        + 2.0 * f64::from(model.layers) * approx_width(model) * prompt * prompt
}

/// Prefill of `sequences` prompts together: compute, or one read of the weights for short
/// prompts, whichever is longer. Seconds and the bound.
fn prefill(model: &LlmSpec, w: &Workload, r: &Rates, sequences: f64) -> (f64, Bound) {
    let compute = sequences * prefill_flops(model, w.prompt) / r.flops;
    let memory = w.weight_bytes / r.weight_bandwidth;
    if compute >= memory {
        (compute, Bound::Compute)
    } else {
        (memory, Bound::Memory)
    }
}

/// Memory of the request, GB.
struct Memory {
    weights_gb: f64,
    kv_gb: f64,
    overhead_gb: f64,
    needed_gb: f64,
    available_gb: f64,
    max_batch: u32,
}

fn memory(gpu: &GpuSpec, gpu_count: u32, w: &Workload) -> Memory {
    let weights_gb = w.weight_bytes / 1e9;
    let context = f64::from(w.context_tokens);
    let kv_gb = w.batch * context * w.kv_bytes_per_token / 1e9;
    let overhead_gb = ACTIVATION_FRACTION * weights_gb + RUNTIME_RESERVE_GB * f64::from(gpu_count);
    let available_gb = usable_memory_gb(gpu, gpu_count);
    let per_sequence_gb = context.max(1.0) * w.kv_bytes_per_token / 1e9;
    let room = (available_gb - weights_gb - overhead_gb).max(0.0);
    let max_batch = if per_sequence_gb > 0.0 {
        (room / per_sequence_gb).floor().min(f64::from(u32::MAX)) as u32
    } else {
        u32::MAX
    };
    Memory {
        weights_gb,
        kv_gb,
        overhead_gb,
        needed_gb: weights_gb + kv_gb + overhead_gb,
        available_gb,
        max_batch,
    }
}

/// `count / seconds`, or 0 when no time passes.
fn per_second(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count / seconds
    } else {
        0.0
    }
}

/// Estimates `model` served on `gpu_count` GPUs of type `gpu` (a count of 0 is taken as 1).
pub fn inference(
    gpu: &GpuSpec,
    gpu_count: u32,
    model: &LlmSpec,
    p: &InferenceParams,
) -> InferenceEstimate {
    let gpu_count = gpu_count.max(1);
    let w = Workload::new(model, p);
    let mem = memory(gpu, gpu_count, &w);
    let r = rates(gpu, gpu_count, model, p.precision);
    let d = decode(model, &w, &r);
    let (ttft_s, _) = prefill(model, &w, &r, 1.0);
    let (batch_prefill_s, prefill_bound) = prefill(model, &w, &r, w.batch);
    let mut est = InferenceEstimate {
        precision: p.precision,
        kv_precision: w.kv_precision,
        gpu_count,
        batch_size: w.batch_size,
        context_tokens: w.context_tokens,
        weights_gb: mem.weights_gb,
        kv_cache_gb: mem.kv_gb,
        kv_bytes_per_token: w.kv_bytes_per_token,
        overhead_gb: mem.overhead_gb,
        memory_needed_gb: mem.needed_gb,
        memory_available_gb: mem.available_gb,
        fits: mem.needed_gb <= mem.available_gb,
        max_batch_size: mem.max_batch,
        bandwidth_efficiency: BANDWIDTH_EFFICIENCY,
        compute_efficiency: r.compute_efficiency,
        scaling_efficiency: r.scaling,
        effective_bandwidth_gbs: r.bandwidth / 1e9,
        effective_tflops: r.flops / 1e12,
        decode_bound: d.bound,
        decode_step_ms: d.step_s * 1e3,
        decode_tokens_per_s_per_sequence: per_second(1.0, d.step_s),
        decode_tokens_per_s: per_second(w.batch, d.step_s),
        prefill_bound,
        prefill_tokens_per_s: per_second(w.batch * w.prompt, batch_prefill_s),
        time_to_first_token_ms: ttft_s * 1e3,
        output_tokens_per_s: per_second(w.batch * w.output, batch_prefill_s + w.output * d.step_s),
        request_latency_s: ttft_s + w.output * d.step_s,
        notes: Vec::new(),
    };
    est.notes = notes::explain(gpu, model, p, &est, &d);
    est
}

/// The estimate for serving up to `batch` concurrent requests with `base`'s shapes: the
/// batch is capped at what fits in memory. `None` when not even one request fits.
pub fn serving(
    gpu: &GpuSpec,
    gpu_count: u32,
    model: &LlmSpec,
    base: &InferenceParams,
    batch: u32,
) -> Option<InferenceEstimate> {
    let one = inference(
        gpu,
        gpu_count,
        model,
        &InferenceParams {
            batch_size: 1,
            ..*base
        },
    );
    if !one.fits || one.max_batch_size == 0 {
        return None;
    }
    let batch = batch.clamp(1, one.max_batch_size);
    if batch == 1 {
        return Some(one);
    }
    Some(inference(
        gpu,
        gpu_count,
        model,
        &InferenceParams {
            batch_size: batch,
            ..*base
        },
    ))
}
