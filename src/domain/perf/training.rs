//! Training estimate: FLOPs (6·N·D, or 4·N·D with frozen base weights), time at a stated
//! MFU, memory for full fine-tuning against LoRA and QLoRA, and cost at an offer's price.

use serde::{Deserialize, Serialize};

use super::{
    approx_width, is_moe, usable_memory_gb, Precision, FULL_FT_BYTES_PER_PARAM,
    LORA_TRAINABLE_FRACTION, MOE_TRAINING_EFFICIENCY, PCIE_DATA_PARALLEL_EFFICIENCY,
    QLORA_COMPUTE_FACTOR, RUNTIME_RESERVE_GB, TRAINING_MFU_16BIT, TRAINING_MFU_8BIT,
};
use crate::domain::gpu::{FormFactor, GpuSpec};
use crate::domain::llm::LlmSpec;

/// Which parameters are trained.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TrainingMethod {
    /// Every parameter, mixed-precision Adam (also pre-training).
    #[default]
    Full,
    /// Low-rank adapters on a frozen base at `precision`.
    Lora,
    /// Low-rank adapters on a frozen 4-bit base.
    Qlora,
}

/// What the caller wants to train.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrainingParams {
    /// Training tokens (dataset tokens × epochs). Default 10⁹.
    pub tokens: f64,
    /// Default full.
    pub method: TrainingMethod,
    /// Matmul precision (and, for LoRA, the frozen base's). Default bf16.
    pub precision: Precision,
    /// Model FLOPs utilisation to assume instead of the default for the precision.
    pub mfu: Option<f64>,
    /// Tokens per GPU per micro-batch (sequence length × micro-batch size). Default 4096.
    pub micro_batch_tokens: u32,
    /// Hourly price of the whole offer, USD, to price the run.
    pub price_per_hour_usd: Option<f64>,
}

impl Default for TrainingParams {
    fn default() -> Self {
        Self {
            tokens: 1e9,
            method: TrainingMethod::Full,
            precision: Precision::Bf16,
            mfu: None,
            micro_batch_tokens: 4096,
            price_per_hour_usd: None,
        }
    }
}

/// Time, memory and cost of a training run. GB are 10⁹ bytes.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TrainingEstimate {
    /// Method used.
    pub method: TrainingMethod,
    /// GPUs training together (data parallel, states sharded).
    pub gpu_count: u32,
    /// Training tokens.
    pub tokens: f64,
    /// Parameters that receive gradients, billions.
    pub trainable_params_b: f64,
    /// FLOPs per active parameter per token: 6 (full) or 4 (frozen base).
    pub flops_per_param_token: f64,
    /// Total training FLOPs.
    pub flops: f64,
    /// Model FLOPs utilisation used, against `peak_tflops`.
    pub mfu: f64,
    /// Dense peak of one GPU at the matmul precision, TFLOPS.
    pub peak_tflops: f64,
    /// FLOP/s one GPU delivers in the model, TFLOPS.
    pub effective_tflops_per_gpu: f64,
    /// Wall-clock hours.
    pub hours: f64,
    /// `hours × gpu_count`.
    pub gpu_hours: f64,
    /// Weights (base and adapters), all GPUs, GB.
    pub weights_gb: f64,
    /// Gradients, all GPUs, GB.
    pub gradients_gb: f64,
    /// Optimiser states (FP32 master copy, Adam moments), all GPUs, GB.
    pub optimizer_gb: f64,
    /// Activations of one micro-batch with full recomputation, per GPU, GB.
    pub activations_gb: f64,
    /// Sharded states + activations + runtime reserve, per GPU, GB.
    pub memory_per_gpu_gb: f64,
    /// Memory of one GPU, GB.
    pub memory_available_per_gpu_gb: f64,
    /// True when `memory_per_gpu_gb ≤ memory_available_per_gpu_gb`.
    pub fits: bool,
    /// `hours × price_per_hour_usd` when a price was given.
    pub cost_usd: Option<f64>,
    /// Plain-language reasons and assumptions.
    pub notes: Vec<String>,
}

/// Weights, gradients and optimiser states, all GPUs, GB.
struct States {
    trainable_b: f64,
    weights_gb: f64,
    gradients_gb: f64,
    optimizer_gb: f64,
}

fn states(model: &LlmSpec, method: TrainingMethod, precision: Precision) -> States {
    let n = model.params_b;
    match method {
        TrainingMethod::Full => States {
            trainable_b: n,
            weights_gb: 2.0 * n,
            gradients_gb: 2.0 * n,
            optimizer_gb: (FULL_FT_BYTES_PER_PARAM - 4.0) * n,
        },
        TrainingMethod::Lora | TrainingMethod::Qlora => {
            let base = if method == TrainingMethod::Qlora {
                Precision::Int4
            } else {
                precision
            };
            let adapter = n * LORA_TRAINABLE_FRACTION;
            States {
                trainable_b: adapter,
                weights_gb: n * base.bytes_per_param() + 2.0 * adapter,
                gradients_gb: 2.0 * adapter,
                optimizer_gb: (FULL_FT_BYTES_PER_PARAM - 4.0) * adapter,
            }
        }
    }
}

/// Activations of one micro-batch with full recomputation (Korthikanti et al.,
/// arXiv:2205.05198): each layer keeps its 16-bit input (2 bytes × width per token) and the
/// layer being recomputed holds 34 bytes × width per token.
fn activations_gb(model: &LlmSpec, micro_batch_tokens: u32) -> f64 {
    let per_token = approx_width(model) * (2.0 * f64::from(model.layers) + 34.0);
    f64::from(micro_batch_tokens) * per_token / 1e9
}

/// Share of per-GPU speed kept when data-parallel gradients cross PCIe.
fn data_parallel_efficiency(form_factor: FormFactor, gpu_count: u32) -> f64 {
    let pcie = match form_factor {
        FormFactor::Pcie | FormFactor::Unspecified => gpu_count > 1,
        FormFactor::Nvl => gpu_count > 2,
        FormFactor::Sxm | FormFactor::Oam | FormFactor::Superchip => false,
    };
    if pcie {
        PCIE_DATA_PARALLEL_EFFICIENCY
    } else {
        1.0
    }
}

impl TrainingMethod {
    /// FLOPs per active parameter per token: forward 2 and backward 4 when every weight gets
    /// a gradient; 4 when the base is frozen (the backward pass still carries activations).
    pub fn flops_per_param_token(self) -> f64 {
        match self {
            Self::Full => 6.0,
            Self::Lora | Self::Qlora => 4.0,
        }
    }
}

/// The caller's MFU when it is a share in (0, 1].
fn given_mfu(p: &TrainingParams) -> Option<f64> {
    p.mfu.filter(|m| *m > 0.0 && *m <= 1.0)
}

/// Model FLOPs utilisation, the peak it applies to, and the TFLOPS one GPU delivers.
struct Speed {
    mfu: f64,
    peak: f64,
    effective: f64,
}

fn speed(gpu: &GpuSpec, gpu_count: u32, model: &LlmSpec, p: &TrainingParams) -> Speed {
    let qlora = p.method == TrainingMethod::Qlora;
    let compute = if qlora { Precision::Int4 } else { p.precision };
    let default_mfu = if compute.uses_fp8_rate(gpu) {
        TRAINING_MFU_8BIT
    } else {
        TRAINING_MFU_16BIT
    };
    let moe = if is_moe(model) {
        MOE_TRAINING_EFFICIENCY
    } else {
        1.0
    };
    let mfu = given_mfu(p).unwrap_or(default_mfu * moe);
    let dequant = if qlora { QLORA_COMPUTE_FACTOR } else { 1.0 };
    let peak = compute.peak_tflops(gpu);
    Speed {
        mfu,
        peak,
        effective: peak * mfu * dequant * data_parallel_efficiency(gpu.form_factor, gpu_count),
    }
}

/// Estimates training `model` on `gpu_count` GPUs of type `gpu` (a count of 0 is taken as 1).
pub fn training(
    gpu: &GpuSpec,
    gpu_count: u32,
    model: &LlmSpec,
    p: &TrainingParams,
) -> TrainingEstimate {
    let gpu_count = gpu_count.max(1);
    let n = f64::from(gpu_count);
    let Speed {
        mfu,
        peak,
        effective,
    } = speed(gpu, gpu_count, model, p);
    let per_param_token = p.method.flops_per_param_token();
    let tokens = p.tokens.max(0.0);
    let flops = per_param_token * model.active_params_b * 1e9 * tokens;
    let hours = flops / (n * effective * 1e12) / 3600.0;
    let s = states(model, p.method, p.precision);
    let activations = activations_gb(model, p.micro_batch_tokens);
    let per_gpu =
        (s.weights_gb + s.gradients_gb + s.optimizer_gb) / n + activations + RUNTIME_RESERVE_GB;
    let available = usable_memory_gb(gpu, 1);
    let mut est = TrainingEstimate {
        method: p.method,
        gpu_count,
        tokens,
        trainable_params_b: s.trainable_b,
        flops_per_param_token: per_param_token,
        flops,
        mfu,
        peak_tflops: peak,
        effective_tflops_per_gpu: effective,
        hours,
        gpu_hours: hours * n,
        weights_gb: s.weights_gb,
        gradients_gb: s.gradients_gb,
        optimizer_gb: s.optimizer_gb,
        activations_gb: activations,
        memory_per_gpu_gb: per_gpu,
        memory_available_per_gpu_gb: available,
        fits: per_gpu <= available,
        cost_usd: p.price_per_hour_usd.map(|price| price * hours),
        notes: Vec::new(),
    };
    est.notes = notes(gpu, model, p, &est);
    est
}

fn notes(gpu: &GpuSpec, model: &LlmSpec, p: &TrainingParams, e: &TrainingEstimate) -> Vec<String> {
    let mut notes = vec![
        format!(
            "compute: {} × {:.1}B active params × {:.3e} tokens = {:.3e} FLOPs; at {:.0} % MFU of {:.0} TFLOPS a GPU delivers {:.0} TFLOPS: {:.1} h on {} GPUs ({:.0} GPU-hours)",
            e.flops_per_param_token, model.active_params_b, e.tokens, e.flops, e.mfu * 100.0,
            e.peak_tflops, e.effective_tflops_per_gpu, e.hours, e.gpu_count, e.gpu_hours,
        ),
        format!(
            "memory per GPU: (weights {:.1} + gradients {:.1} + optimiser {:.1} GB) / {} GPUs + activations {:.1} GB + runtime {:.1} GB = {:.1} GB of {:.1} GB: {}",
            e.weights_gb, e.gradients_gb, e.optimizer_gb, e.gpu_count, e.activations_gb,
            RUNTIME_RESERVE_GB, e.memory_per_gpu_gb, e.memory_available_per_gpu_gb,
            if e.fits { "fits" } else { "does not fit" },
        ),
    ];
    if !e.fits && p.method != TrainingMethod::Qlora {
        notes.push(
            "does not fit: try LoRA or QLoRA, more GPUs, or fewer tokens per micro-batch"
                .to_owned(),
        );
    }
    if p.method == TrainingMethod::Qlora {
        notes.push(format!(
            "qlora: 4-bit base, 16-bit compute at × {QLORA_COMPUTE_FACTOR} for dequantisation"
        ));
    }
    if let (Some(m), None) = (p.mfu, given_mfu(p)) {
        notes.push(format!(
            "mfu {m} is not a share in (0, 1]: the default {:.2} was used",
            e.mfu
        ));
    }
    if is_moe(model) && given_mfu(p).is_none() {
        notes.push(format!(
            "mixture of experts: default MFU × {MOE_TRAINING_EFFICIENCY} (routing, all-to-all)"
        ));
    }
    if data_parallel_efficiency(gpu.form_factor, e.gpu_count) < 1.0 {
        notes.push(format!(
            "gradients are all-reduced over PCIe: × {PCIE_DATA_PARALLEL_EFFICIENCY}"
        ));
    }
    if !model.known {
        notes.push(format!("{}: {}", model.name, model.source));
    }
    notes
}
