//! Phrasings for GPUs, places, budgets and spot, and for the doubtful parts warned about.

use super::tests::{check, s, size, spec, Row, IGNORED, NO_TASK};
use super::Task::*;
use super::WorkloadSpec;

#[test]
fn gpus_places_budgets_and_spot() {
    check(vec![
        Row {
            text: "8x A100 80GB in Germany, no spot, <= $10/hr",
            spec: WorkloadSpec {
                gpu: s("A100-80GB"),
                gpu_count: Some(8),
                country: s("DE"),
                continent: s("EU"),
                spot: Some(false),
                budget_per_hour: Some(10.0),
                ..spec(Inference)
            },
            warn: &[NO_TASK],
        },
        Row {
            text: "need at least 48GB VRAM, on-demand only, in europe",
            spec: WorkloadSpec {
                min_vram_gb: Some(48.0),
                spot: Some(false),
                continent: s("EU"),
                ..spec(Inference)
            },
            warn: &[NO_TASK],
        },
        Row {
            text: "rent 8xH100 for 3 days under $2/gpu/hr",
            spec: WorkloadSpec {
                gpu: s("H100"),
                gpu_count: Some(8),
                duration_hours: Some(72.0),
                budget_per_gpu_hour: Some(2.0),
                ..spec(Inference)
            },
            warn: &[NO_TASK],
        },
        Row {
            text: "H100 x8 for 1.5 hours",
            spec: WorkloadSpec {
                gpu: s("H100"),
                gpu_count: Some(8),
                duration_hours: Some(1.5),
                ..spec(Inference)
            },
            warn: &[NO_TASK],
        },
        Row {
            text: "two A100s for a week, spot",
            spec: WorkloadSpec {
                gpu: s("A100"),
                gpu_count: Some(2),
                duration_hours: Some(168.0),
                spot: Some(true),
                ..spec(Inference)
            },
            warn: &[NO_TASK],
        },
        Row {
            text: "serve llama 3 8b on a100s in fp16, not preemptible",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                gpu: s("A100"),
                precision: s("fp16"),
                spot: Some(false),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "deploy to Australia for 3 months, reliable",
            spec: WorkloadSpec {
                country: s("AU"),
                continent: s("OC"),
                duration_hours: Some(2190.0),
                spot: Some(false),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve llama 3 8b with an hourly budget of $4",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                budget_per_hour: Some(4.0),
                ..spec(Inference)
            },
            warn: &[],
        },
    ]);
}

#[test]
fn doubtful_parts_are_warned_about() {
    check(vec![
        Row {
            text: "serve llama 3 70b in the EU or the US",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                continent: s("EU"),
                country: s("US"),
                ..spec(Inference)
            },
            warn: &["continent given more than once"],
        },
        Row {
            text: "serve llama 3 70b on spot but reliable",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                ..spec(Inference)
            },
            warn: &["both spot and on-demand"],
        },
        Row {
            text: "serve llama 3 70b under €8/h",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                ..spec(Inference)
            },
            warn: &["only US dollars", "EUR"],
        },
        Row {
            text: "train a 7b model for $50/day",
            spec: WorkloadSpec {
                model_params_b: Some(7.0),
                ..spec(Training)
            },
            warn: &["a budget per day is not supported"],
        },
        Row {
            text: "serve llama 3 8b with 64GB RAM",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                ..spec(Inference)
            },
            warn: &["system memory and disk are not matched"],
        },
        Row {
            text: "serve llama 3 8b on 8 H100 and 4 A100",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                gpu: s("H100"),
                gpu_count: Some(8),
                ..spec(Inference)
            },
            warn: &["GPU given more than once; kept the first, ignored A100 (\"4 A100\")"],
        },
        Row {
            text: "serve llama 3 8b at 100 tokens/s for 20 users",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                tokens_per_second: Some(100.0),
                ..spec(Inference)
            },
            warn: &["a user count is not a load figure"],
        },
        Row {
            text: "serve llama 3 70b at 300 tokens per request",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                ..spec(Inference)
            },
            warn: &["tokens per request"],
        },
        Row {
            text: "image generation for 10 hours with a 1TB disk",
            spec: WorkloadSpec {
                duration_hours: Some(10.0),
                ..spec(ImageGeneration)
            },
            warn: &["only GB of GPU memory"],
        },
        Row {
            text: "serve mixtral with 0 GPUs",
            spec: WorkloadSpec {
                model: s("mixtral-8x7b"),
                model_params_b: size("mixtral-8x7b"),
                ..spec(Inference)
            },
            warn: &[IGNORED, "\"0\""],
        },
        Row {
            text: "serve llama 3 8b, a 70B model",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                ..spec(Inference)
            },
            warn: &["model size given more than once"],
        },
        Row {
            text: "8 H100s",
            spec: WorkloadSpec {
                gpu: s("H100"),
                gpu_count: Some(8),
                ..spec(Inference)
            },
            warn: &[NO_TASK],
        },
    ]);
}
