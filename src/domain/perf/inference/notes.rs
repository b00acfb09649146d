//! Plain-language notes for an [`InferenceEstimate`]: what binds, what was assumed.

use super::{Bound, Decode, InferenceEstimate, InferenceParams};
use crate::domain::gpu::{FormFactor, GpuSpec};
use crate::domain::llm::LlmSpec;
use crate::domain::perf::{is_moe, Precision, MOE_INFERENCE_EFFICIENCY};

/// Plain-language explanation of the estimate.
pub(super) fn explain(
    gpu: &GpuSpec,
    model: &LlmSpec,
    p: &InferenceParams,
    e: &InferenceEstimate,
    d: &Decode,
) -> Vec<String> {
    let ms = |s: f64| s * 1e3;
    let mut notes = vec![format!(
        "memory: weights {:.1} GB ({:.1}B params × {} B/param, {}) + KV cache {:.1} GB ({} × {} tokens × {:.0} KiB) + overhead {:.1} GB = {:.1} GB of {:.1} GB: {}; at most {} sequences of {} tokens fit",
        e.weights_gb, model.params_b, p.precision.bytes_per_param(), p.precision, e.kv_cache_gb,
        e.batch_size, e.context_tokens, e.kv_bytes_per_token / 1024.0, e.overhead_gb,
        e.memory_needed_gb, e.memory_available_gb,
        if e.fits { "fits" } else { "does not fit" }, e.max_batch_size, e.context_tokens,
    )];
    if !e.fits {
        notes.push("does not fit: the speeds below are what it would do if it did".to_owned());
    }
    notes.push(match d.bound {
        Bound::Memory => format!(
            "decode is memory-bound: a step reads the weights in {:.2} ms and the KV cache in {:.2} ms at {:.0} GB/s, while the matmuls need {:.2} ms at {:.0} TFLOPS",
            ms(d.weights_s), ms(d.kv_s), e.effective_bandwidth_gbs, ms(d.matmul_s), e.effective_tflops,
        ),
        Bound::Compute => format!(
            "decode is compute-bound: the matmuls for {} sequences need {:.2} ms at {:.0} TFLOPS, more than reading the weights ({:.2} ms) or the KV cache ({:.2} ms)",
            e.batch_size, ms(d.matmul_s), e.effective_tflops, ms(d.weights_s), ms(d.kv_s),
        ),
    });
    notes.push(format!(
        "prefill is {}-bound: {} prompt tokens take {:.1} ms to the first token",
        match e.prefill_bound {
            Bound::Memory => "memory",
            Bound::Compute => "compute",
        },
        p.prompt_tokens,
        e.time_to_first_token_ms,
    ));
    notes.extend(assumption_notes(gpu, model, p, e));
    notes
}

/// Notes on the assumptions that apply to this request only.
fn assumption_notes(
    gpu: &GpuSpec,
    model: &LlmSpec,
    p: &InferenceParams,
    e: &InferenceEstimate,
) -> Vec<String> {
    let mut notes = Vec::new();
    if e.gpu_count > 1 {
        notes.push(format!(
            "{} GPUs as one tensor-parallel group over {} keep {:.0} % of linear scaling",
            e.gpu_count,
            interconnect(gpu.form_factor),
            e.scaling_efficiency * 100.0,
        ));
    }
    if matches!(p.precision, Precision::Fp8 | Precision::Int8) && !p.precision.uses_fp8_rate(gpu) {
        notes.push(format!(
            "{} has no FP8/INT8 tensor rate in the registry: 8-bit weights save memory but multiply at the BF16 rate",
            gpu.model,
        ));
    }
    if p.precision == Precision::Int4 {
        notes.push("int4 is weight-only: 4.5 bits per weight with scales, 16-bit compute, weights streamed at 80 % of the 16-bit kernels' rate".to_owned());
    }
    if is_moe(model) {
        notes.push(format!(
            "mixture of experts: {:.1}B of {:.1}B parameters active per token; compute efficiency × {MOE_INFERENCE_EFFICIENCY}",
            model.active_params_b, model.params_b,
        ));
    }
    if e.context_tokens > model.max_context {
        notes.push(format!(
            "{} tokens per sequence exceed the model's {}-token context window",
            e.context_tokens, model.max_context,
        ));
    }
    if !model.known {
        notes.push(format!("{}: {}", model.name, model.source));
    }
    notes
}

/// How GPUs of this form factor talk to each other, in words.
fn interconnect(form_factor: FormFactor) -> &'static str {
    match form_factor {
        FormFactor::Sxm => "an NVLink switch",
        FormFactor::Oam => "the OAM fabric",
        FormFactor::Nvl => "NVLink-bridged pairs and PCIe",
        FormFactor::Superchip => "NVLink between superchips",
        FormFactor::Pcie => "PCIe",
        FormFactor::Unspecified => "PCIe (form factor unknown)",
    }
}
