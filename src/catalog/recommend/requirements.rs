//! What a workload needs: GPU memory, throughput, the place and the budget, derived from
//! the [`WorkloadSpec`] with the performance model, and the validation of a spec.

use super::*;
use crate::domain::gpu::GpuSpec;
use crate::domain::llm::{self, LlmSpec};
use crate::domain::offer::Offer;
use crate::domain::perf::{self, InferenceParams, Precision, TrainingMethod};
use crate::domain::workload::{Task, WorkloadSpec};

/// What sizes the memory check and the speed estimate.
pub(super) enum Need {
    /// Serve or batch-process an LLM.
    Llm {
        model: LlmSpec,
        precision: Option<Precision>,
        concurrency: u32,
        context: Option<u32>,
    },
    /// Fine-tune or train an LLM.
    Train {
        model: LlmSpec,
        method: TrainingMethod,
        precision: Precision,
    },
    /// Only a per-GPU memory floor (images, or a workload without a model).
    Memory(f64),
    /// Nothing to size.
    Nothing,
}

/// Memory per GPU (GB) an image model needs to generate at its native resolution.
pub(super) fn image_vram_gb(image_model: Option<&str>) -> f64 {
    match image_model {
        Some("sd-1.5") => 8.0,
        Some("sd-3") => 16.0,
        Some("flux") => 24.0,
        _ => 12.0, // SDXL and unnamed
    }
}

pub(super) fn place_of(spec: &WorkloadSpec) -> Option<String> {
    spec.region
        .clone()
        .or_else(|| spec.country.clone())
        .or_else(|| spec.continent.clone())
}

pub(super) fn in_place(o: &Offer, spec: &WorkloadSpec) -> Option<bool> {
    if let Some(region) = &spec.region {
        return Some(
            o.region
                .to_ascii_lowercase()
                .contains(&region.to_ascii_lowercase()),
        );
    }
    if let Some(country) = &spec.country {
        return o.country.as_ref().map(|c| c.eq_ignore_ascii_case(country));
    }
    if let Some(continent) = &spec.continent {
        return o.continent.map(|c| c.eq_ignore_ascii_case(continent));
    }
    Some(true)
}

/// A count in words people read: 850k, 8.5M, 1.2B.
pub(super) fn count(x: f64) -> String {
    let (v, unit) = if x >= 1e12 {
        (x / 1e12, "T")
    } else if x >= 1e9 {
        (x / 1e9, "B")
    } else if x >= 1e6 {
        (x / 1e6, "M")
    } else if x >= 1e3 {
        (x / 1e3, "k")
    } else {
        (x, "")
    };
    if v >= 100.0 || unit.is_empty() {
        format!("{v:.0}{unit}")
    } else {
        format!("{v:.1}{unit}")
    }
}

pub(super) fn method_name(method: TrainingMethod, task: Task) -> &'static str {
    match (method, task) {
        (TrainingMethod::Lora, _) => "LoRA fine-tune",
        (TrainingMethod::Qlora, _) => "QLoRA fine-tune",
        (TrainingMethod::Full, Task::FineTune) => "full fine-tune",
        (TrainingMethod::Full, _) => "training",
    }
}

/// Rounds a reported number to `digits` decimals (estimates, not ledger amounts).
pub(super) fn round(x: f64, digits: i32) -> f64 {
    let k = 10f64.powi(digits);
    (x * k).round() / k
}

pub(super) fn money(x: f64) -> String {
    if x >= 100.0 {
        format!("${x:.0}")
    } else {
        format!("${x:.2}")
    }
}

/// Understands `spec` into requirements and the sizing need.
pub(super) fn requirements(spec: &WorkloadSpec) -> (Requirements, Need) {
    let mut assumptions = Vec::new();
    let model: Option<LlmSpec> = spec
        .model
        .as_deref()
        .and_then(llm::resolve)
        .cloned()
        .or_else(|| spec.model_params_b.map(LlmSpec::generic));
    let precision: Option<Precision> = spec.precision.as_deref().and_then(|p| p.parse().ok());
    if let (Some(p), None) = (&spec.precision, precision) {
        assumptions.push(format!(
            "precision {p:?} is not known; choosing one per offer"
        ));
    }
    let spot_allowed = spec.spot.unwrap_or(false);
    if spec.spot.is_none() {
        assumptions.push("on-demand prices only (say \"spot ok\" to consider spot)".into());
    }
    let mut method = None;
    let mut concurrency = None;
    let need = match (spec.task, &model) {
        (Task::Inference | Task::Batch, Some(m)) => {
            let c = spec.concurrency.or(spec.batch_size).unwrap_or_else(|| {
                assumptions.push(format!(
                    "serving up to {DEFAULT_CONCURRENCY} concurrent requests (say \"N concurrent users\" to change)"
                ));
                DEFAULT_CONCURRENCY
            });
            concurrency = Some(c);
            if precision.is_none() {
                assumptions.push(
                    "precision chosen per offer: bf16 if the model fits, else fp8, else int4"
                        .into(),
                );
            }
            Need::Llm {
                model: m.clone(),
                precision,
                concurrency: c,
                context: spec.context_tokens,
            }
        }
        (Task::FineTune | Task::Training, Some(m)) => {
            let parsed =
                spec.method
                    .as_deref()
                    .and_then(|s| match s.to_ascii_lowercase().as_str() {
                        "lora" => Some(TrainingMethod::Lora),
                        "qlora" => Some(TrainingMethod::Qlora),
                        "full" => Some(TrainingMethod::Full),
                        _ => None,
                    });
            let chosen = match (spec.task, parsed) {
                (_, Some(p)) => p,
                (Task::FineTune, None) => {
                    assumptions.push(
                        "LoRA fine-tuning (say \"full fine-tune\" or \"qlora\" to change)".into(),
                    );
                    TrainingMethod::Lora
                }
                _ => TrainingMethod::Full,
            };
            method = Some(format!("{chosen:?}").to_lowercase());
            let p = precision.unwrap_or(if chosen == TrainingMethod::Qlora {
                Precision::Int4
            } else {
                Precision::Bf16
            });
            Need::Train {
                model: m.clone(),
                method: chosen,
                precision: p,
            }
        }
        (Task::ImageGeneration, _) => {
            let gb = image_vram_gb(spec.image_model.as_deref());
            assumptions.push(format!(
                "{} needs about {gb:.0} GB per GPU",
                spec.image_model
                    .as_deref()
                    .unwrap_or("an SDXL-class image model")
            ));
            Need::Memory(gb)
        }
        (_, None) => {
            assumptions.push(
                "no model named or sized: offers are ranked by price, without a speed estimate"
                    .into(),
            );
            spec.min_vram_gb.map_or(Need::Nothing, Need::Memory)
        }
    };
    if spec.duration_hours.is_none() && spec.total_tokens.is_none() {
        assumptions.push("no duration given: costs are per hour".into());
    }
    if spec.requests_per_day.is_some() {
        assumptions.push(
            "requests per day are not used: give a throughput (tokens/s) or concurrency".into(),
        );
    }
    if spec.images.is_some() || spec.samples.is_some() {
        assumptions.push(
            "image and sample counts are not turned into time: give a duration to price the job"
                .into(),
        );
    }
    let requirements = Requirements {
        task: spec.task,
        model: model.as_ref().map(|m| {
            if m.known {
                m.name.to_owned()
            } else {
                format!("a {}B-parameter model", m.params_b)
            }
        }),
        model_params_b: model.as_ref().map(|m| m.params_b),
        precision: match (&need, precision) {
            (Need::Train { precision, .. }, _) => precision.to_string(),
            (_, Some(p)) => p.to_string(),
            (Need::Llm { .. }, None) => "auto".into(),
            _ => "n/a".into(),
        },
        method,
        tokens_per_second: spec.tokens_per_second,
        concurrency,
        total_tokens: spec.total_tokens,
        duration_hours: spec.duration_hours,
        budget_per_hour: spec.budget_per_hour,
        budget_per_gpu_hour: spec.budget_per_gpu_hour,
        budget_total: spec.budget_total,
        place: place_of(spec),
        gpu: spec.gpu.clone(),
        gpu_count: spec.gpu_count,
        min_vram_gb: spec.min_vram_gb,
        spot_allowed,
        assumptions,
    };
    (requirements, need)
}

/// Serving speed of one instance: the first precision that fits, with its estimate.
pub(super) fn serving(
    gpu: &GpuSpec,
    count: u32,
    model: &LlmSpec,
    precision: Option<Precision>,
    concurrency: u32,
    context: Option<u32>,
) -> Option<(Precision, perf::InferenceEstimate)> {
    let tries: &[Precision] = match precision {
        Some(ref p) => std::slice::from_ref(p),
        None => &[Precision::Bf16, Precision::Fp8, Precision::Int4],
    };
    tries.iter().find_map(|p| {
        let base = InferenceParams {
            precision: *p,
            context_tokens: context,
            ..InferenceParams::default()
        };
        perf::serving(gpu, count, model, &base, concurrency).map(|e| (*p, e))
    })
}

/// Checks that every number of `spec` is one a workload can have.
pub fn validate(spec: &WorkloadSpec) -> Result<(), String> {
    let positive = [
        ("model_params_b", spec.model_params_b, 1e4),
        ("tokens_per_second", spec.tokens_per_second, 1e9),
        ("total_tokens", spec.total_tokens, 1e16),
        ("requests_per_day", spec.requests_per_day, 1e12),
        ("duration_hours", spec.duration_hours, 1e5),
    ];
    for (name, value, max) in positive {
        if let Some(v) = value {
            if !(v.is_finite() && v > 0.0 && v <= max) {
                return Err(format!("{name} must be above 0 and at most {max}, not {v}"));
            }
        }
    }
    let non_negative = [
        ("budget_per_hour", spec.budget_per_hour),
        ("budget_per_gpu_hour", spec.budget_per_gpu_hour),
        ("budget_total", spec.budget_total),
        ("min_vram_gb", spec.min_vram_gb),
    ];
    for (name, value) in non_negative {
        if let Some(v) = value {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a number of at least 0, not {v}"));
            }
        }
    }
    for (name, value) in [
        ("gpu_count", spec.gpu_count),
        ("concurrency", spec.concurrency),
        ("batch_size", spec.batch_size),
        ("context_tokens", spec.context_tokens),
    ] {
        if value == Some(0) {
            return Err(format!("{name} must be at least 1"));
        }
    }
    Ok(())
}
