//! The performance model: how fast, how big and how expensive an LLM workload is on a GPU
//! offer, from the GPU's datasheet numbers ([`GpuSpec`]) and the model's architecture
//! ([`LlmSpec`]). Pure arithmetic, no I/O.
//!
//! It is a roofline model with stated efficiencies. Every kernel is either limited by memory
//! bandwidth (bytes moved / effective bandwidth) or by tensor-core throughput (FLOPs /
//! effective FLOP/s); the effective rates are the datasheet peaks times the constants below,
//! chosen as round numbers that reproduce published throughput (see
//! `docs/performance-model.md` for the formulas, the reasoning behind each constant and the
//! validation table, and `perf/validation_tests.rs` for the tests against those figures).

mod cost;
mod inference;
#[cfg(test)]
mod property_tests;
mod training;
#[cfg(test)]
mod validation_tests;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::gpu::{FormFactor, GpuSpec};
use super::llm::LlmSpec;

pub use cost::{cost_per_mtok, generation_cost, CostEstimate};
pub use inference::{inference, serving, Bound, InferenceEstimate, InferenceParams};
pub use training::{training, TrainingEstimate, TrainingMethod, TrainingParams};

/// Share of the datasheet memory bandwidth that inference kernels sustain (weight streaming,
/// paged-attention KV reads). Microbenchmarks reach 85–92 % on HBM; 0.80 reproduces llama.cpp
/// batch-1 decode on an RTX 4090 and TensorRT-LLM's large-batch decode on H100/H200.
pub const BANDWIDTH_EFFICIENCY: f64 = 0.80;

/// Model FLOPs utilisation of 16-bit (and FP32/TF32, INT4 weight-only) matrix maths in
/// inference: large prefill GEMMs on A100 reach 60–66 % of the BF16 peak in TensorRT-LLM.
pub const COMPUTE_EFFICIENCY_16BIT: f64 = 0.60;

/// Model FLOPs utilisation of FP8/INT8 matrix maths, as a share of the (twice as high) FP8
/// peak: activation quantisation and the non-GEMM work do not speed up with FP8. TensorRT-LLM's
/// prefill-heavy runs on H100/H200 sustain 46–54 % of the FP8 peak.
pub const COMPUTE_EFFICIENCY_8BIT: f64 = 0.50;

/// Weight-only INT4 kernels (AWQ, GPTQ, GGUF Q4) dequantise on the fly and stream weights at
/// about this share of the 16-bit kernels' bandwidth (llama.cpp Q4 on an RTX 4090).
pub const INT4_DEQUANT_BANDWIDTH_FACTOR: f64 = 0.80;

/// Mixture-of-experts inference reaches this share of a dense model's compute efficiency
/// (small per-expert GEMMs, routing, expert-parallel all-to-all). Calibrated on one public
/// source only: TensorRT-LLM's Qwen3-235B-A22B figures on 8×H200.
pub const MOE_INFERENCE_EFFICIENCY: f64 = 0.40;

/// Tensor-parallel efficiency kept per doubling of the GPU count, by interconnect.
/// NVLink switch (SXM, OAM fabrics): 0.90; NVLink-bridged pairs (NVL) and superchips: 0.85;
/// PCIe (and unknown form factors): 0.80.
pub const TP_EFFICIENCY_PER_DOUBLING_NVLINK: f64 = 0.90;
/// See [`TP_EFFICIENCY_PER_DOUBLING_NVLINK`].
pub const TP_EFFICIENCY_PER_DOUBLING_BRIDGED: f64 = 0.85;
/// See [`TP_EFFICIENCY_PER_DOUBLING_NVLINK`].
pub const TP_EFFICIENCY_PER_DOUBLING_PCIE: f64 = 0.80;

/// Largest tensor-parallel group (one 8-GPU node). GPUs beyond it are taken to be extra
/// pipeline stages or replicas, which add throughput without further all-reduce losses.
pub const MAX_TENSOR_PARALLEL: u32 = 8;

/// Activation and allocator allowance during inference, as a share of the weights: the peak
/// of a chunked prefill (MLP intermediates, logits) and fragmentation.
pub const ACTIVATION_FRACTION: f64 = 0.05;

/// Memory every GPU loses before any tensor is allocated: CUDA context, cuBLAS/NCCL
/// workspaces, CUDA graphs. GB per GPU.
pub const RUNTIME_RESERVE_GB: f64 = 1.5;

/// Bytes in the "GB" of a GPU datasheet: HBM and GDDR capacities are binary (an 80 GB H100
/// has 80 GiB = 85.9 × 10⁹ bytes). Every other GB in this module is 10⁹ bytes.
pub const DATASHEET_GB_BYTES: f64 = 1_073_741_824.0;

/// Training model-FLOPs utilisation at 16-bit: Llama 3 405B ran at 38–43 % on 16k H100s
/// (arXiv:2407.21783, table 4); Llama 2's GPU-hours imply about 40 % on A100s.
pub const TRAINING_MFU_16BIT: f64 = 0.40;

/// Training MFU of FP8 matmuls as a share of the FP8 peak: 1.4× the BF16 throughput, the
/// middle of the speed-ups reported for FP8 training with Transformer Engine (assumption).
pub const TRAINING_MFU_8BIT: f64 = 0.28;

/// Mixture-of-experts training reaches this share of a dense model's MFU: DeepSeek-V3's
/// 180k H800 GPU-hours per trillion tokens (arXiv:2412.19437, §1), its only public anchor.
pub const MOE_TRAINING_EFFICIENCY: f64 = 0.60;

/// QLoRA dequantises the 4-bit base weights in every forward and backward pass; compute runs
/// at this share of LoRA's rate (assumption, not validated).
pub const QLORA_COMPUTE_FACTOR: f64 = 0.75;

/// Data-parallel training over PCIe (no NVLink): the gradient all-reduce overlaps only
/// partly with the backward pass (assumption).
pub const PCIE_DATA_PARALLEL_EFFICIENCY: f64 = 0.85;

/// Full fine-tune with mixed-precision Adam: 2 (16-bit weights) + 2 (16-bit gradients) +
/// 12 (FP32 master weights, momentum, variance) bytes per parameter (ZeRO, arXiv:1910.02054,
/// §3.1).
pub const FULL_FT_BYTES_PER_PARAM: f64 = 16.0;

/// LoRA adapters (rank 16 on every linear layer) hold about this share of the parameters.
pub const LORA_TRAINABLE_FRACTION: f64 = 0.005;

/// Numeric precision of weights, activations or the KV cache.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float (TF32 tensor cores).
    Fp32,
    /// bfloat16, the default for open models.
    #[default]
    Bf16,
    /// IEEE half precision.
    Fp16,
    /// 8-bit float (E4M3), weights and activations.
    Fp8,
    /// 8-bit integer (W8A8 / SmoothQuant).
    Int8,
    /// 4-bit weight-only quantisation (AWQ, GPTQ, GGUF Q4), 16-bit compute.
    Int4,
}

/// A precision name that is not one of the accepted spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown precision {0:?}: expected fp32, bf16, fp16, fp8, int8 or int4 (awq, gptq, q4)")]
pub struct ParsePrecisionError(pub String);

impl FromStr for Precision {
    type Err = ParsePrecisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Self::Fp32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "fp16" | "float16" | "half" => Ok(Self::Fp16),
            "fp8" => Ok(Self::Fp8),
            "int8" => Ok(Self::Int8),
            "int4" | "awq" | "gptq" | "q4" => Ok(Self::Int4),
            _ => Err(ParsePrecisionError(text.trim().to_owned())),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Fp16 => "fp16",
            Self::Fp8 => "fp8",
            Self::Int8 => "int8",
            Self::Int4 => "int4",
        })
    }
}

impl Precision {
    /// Bytes one parameter (or one cached element) takes. INT4 is 4.5 bits on average: the
    /// 4-bit codes plus per-group scales (group size 32–128) and the layers quantisers leave
    /// in 16 bits.
    pub fn bytes_per_param(self) -> f64 {
        match self {
            Self::Fp32 => 4.0,
            Self::Bf16 | Self::Fp16 => 2.0,
            Self::Fp8 | Self::Int8 => 1.0,
            Self::Int4 => 0.5625,
        }
    }

    /// True when matrix maths runs at the GPU's FP8/INT8 tensor rate: FP8 and INT8 on a GPU
    /// that has one. Elsewhere FP8/INT8 weights are upcast and multiplied at the 16-bit rate.
    pub fn uses_fp8_rate(self, gpu: &GpuSpec) -> bool {
        matches!(self, Self::Fp8 | Self::Int8) && gpu.fp8_tflops.is_some()
    }

    /// Dense peak TFLOPS of one GPU for matrix maths at this precision: the FP8 rate where
    /// [`Self::uses_fp8_rate`], half the BF16 rate for FP32 (TF32 tensor cores), otherwise
    /// the BF16 rate (INT4 weight-only computes in 16 bits).
    pub fn peak_tflops(self, gpu: &GpuSpec) -> f64 {
        match (self, gpu.fp8_tflops) {
            (Self::Fp8 | Self::Int8, Some(fp8)) => fp8,
            (Self::Fp32, _) => gpu.bf16_tflops / 2.0,
            _ => gpu.bf16_tflops,
        }
    }

    /// The inference compute efficiency for this precision on `gpu`.
    pub fn compute_efficiency(self, gpu: &GpuSpec) -> f64 {
        if self.uses_fp8_rate(gpu) {
            COMPUTE_EFFICIENCY_8BIT
        } else {
            COMPUTE_EFFICIENCY_16BIT
        }
    }
}

/// Share of linear scaling kept by `gpu_count` GPUs working as one tensor-parallel group:
/// the per-doubling factor of the interconnect to the power log2(count), with the count
/// capped at [`MAX_TENSOR_PARALLEL`]. One GPU (or zero, taken as one) gives 1.0.
pub fn scaling_efficiency(form_factor: FormFactor, gpu_count: u32) -> f64 {
    let per_doubling = match form_factor {
        FormFactor::Sxm | FormFactor::Oam => TP_EFFICIENCY_PER_DOUBLING_NVLINK,
        FormFactor::Nvl | FormFactor::Superchip => TP_EFFICIENCY_PER_DOUBLING_BRIDGED,
        FormFactor::Pcie | FormFactor::Unspecified => TP_EFFICIENCY_PER_DOUBLING_PCIE,
    };
    let group = gpu_count.clamp(1, MAX_TENSOR_PARALLEL);
    per_doubling.powf(f64::from(group).log2())
}

/// Memory of `gpu_count` GPUs in 10⁹ bytes (see [`DATASHEET_GB_BYTES`]).
pub fn usable_memory_gb(gpu: &GpuSpec, gpu_count: u32) -> f64 {
    f64::from(gpu_count.max(1)) * f64::from(gpu.vram_gb) * DATASHEET_GB_BYTES / 1e9
}

/// True for a mixture-of-experts model (fewer active than total parameters).
fn is_moe(model: &LlmSpec) -> bool {
    model.active_params_b < model.params_b * 0.95
}

/// Residual-stream width estimated from the standard transformer parameter count
/// `params ≈ 12 · layers · width²` (active parameters for a mixture of experts). It only
/// scales the attention FLOPs of long prompts, a second-order term.
fn approx_width(model: &LlmSpec) -> f64 {
    let layers = f64::from(model.layers.max(1));
    (model.active_params_b.max(0.0) * 1e9 / (12.0 * layers)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gpu;

    #[test]
    fn precision_parses_common_spellings() {
        let cases = [
            ("fp32", Precision::Fp32),
            ("BF16", Precision::Bf16),
            (" fp16 ", Precision::Fp16),
            ("fp8", Precision::Fp8),
            ("int8", Precision::Int8),
            ("int4", Precision::Int4),
            ("AWQ", Precision::Int4),
            ("gptq", Precision::Int4),
            ("q4", Precision::Int4),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Precision>(), Ok(want), "{text}");
        }
        let err = "fp4".parse::<Precision>().unwrap_err();
        assert!(err.to_string().contains("\"fp4\""), "{err}");
        assert!(err.to_string().contains("expected fp32"), "{err}");
    }

    #[test]
    fn precision_serialises_lowercase_and_round_trips() {
        let json = serde_json::to_string(&Precision::Int4).unwrap();
        assert_eq!(json, "\"int4\"");
        let back: Precision = serde_json::from_str("\"fp8\"").unwrap();
        assert_eq!(back, Precision::Fp8);
        for p in [Precision::Fp32, Precision::Bf16, Precision::Int8] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
    }

    #[test]
    fn rates_follow_the_gpu() {
        let h100 = gpu::lookup("H100-SXM").unwrap();
        let a100 = gpu::lookup("A100-80GB-SXM").unwrap();
        assert_eq!(Precision::Fp8.peak_tflops(h100), 1979.0);
        assert_eq!(Precision::Int8.peak_tflops(h100), 1979.0);
        assert_eq!(Precision::Fp8.peak_tflops(a100), 312.0);
        assert_eq!(Precision::Int4.peak_tflops(h100), 989.0);
        assert_eq!(Precision::Fp32.peak_tflops(a100), 156.0);
        assert_eq!(
            Precision::Fp8.compute_efficiency(h100),
            COMPUTE_EFFICIENCY_8BIT
        );
        assert_eq!(
            Precision::Fp8.compute_efficiency(a100),
            COMPUTE_EFFICIENCY_16BIT
        );
    }

    #[test]
    fn scaling_is_one_for_one_gpu_and_worse_over_pcie() {
        assert_eq!(scaling_efficiency(FormFactor::Sxm, 1), 1.0);
        assert_eq!(scaling_efficiency(FormFactor::Pcie, 0), 1.0);
        let sxm = scaling_efficiency(FormFactor::Sxm, 8);
        let pcie = scaling_efficiency(FormFactor::Pcie, 8);
        assert!((sxm - 0.729).abs() < 1e-9, "{sxm}");
        assert!(pcie < sxm);
        assert_eq!(scaling_efficiency(FormFactor::Sxm, 64), sxm);
    }

    #[test]
    fn datasheet_gigabytes_are_binary() {
        let h100 = gpu::lookup("H100-SXM").unwrap();
        assert!((usable_memory_gb(h100, 1) - 85.899).abs() < 0.01);
        assert!((usable_memory_gb(h100, 8) - 687.19).abs() < 0.01);
    }
}
