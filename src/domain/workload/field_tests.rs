//! Phrasings per field: models, sizes, precisions, fine-tuning, training, images, batch
//! and load.

use super::tests::{check, s, size, spec, Row, IGNORED};
use super::Task::*;
use super::WorkloadSpec;

#[test]
fn models_sizes_and_precisions() {
    check(vec![
        Row {
            text: "deploy Llama-3.1-8B as a chat API, 2000 tok/s",
            spec: WorkloadSpec {
                model: s("llama-3.1-8b"),
                model_params_b: size("llama-3.1-8b"),
                tokens_per_second: Some(2000.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "host qwen2.5 72b in fp8 on 4 H100 GPUs",
            spec: WorkloadSpec {
                model: s("qwen2.5-72b"),
                model_params_b: size("qwen2.5-72b"),
                precision: s("fp8"),
                gpu: s("H100"),
                gpu_count: Some(4),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve mistral 7b at 1,500 tokens per second",
            spec: WorkloadSpec {
                model: s("mistral-7b"),
                model_params_b: size("mistral-7b"),
                tokens_per_second: Some(1500.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve a 70b on 2 RTX 4090s, max 2 dollars an hour",
            spec: WorkloadSpec {
                model_params_b: Some(70.0),
                gpu: s("RTX4090"),
                gpu_count: Some(2),
                budget_per_hour: Some(2.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "inference of mistral 7b at 8-bit, 8 usd/h",
            spec: WorkloadSpec {
                model: s("mistral-7b"),
                model_params_b: size("mistral-7b"),
                precision: s("int8"),
                budget_per_hour: Some(8.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve llama 3 8b in awq with 128k tokens of context",
            spec: WorkloadSpec {
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                precision: s("int4"),
                context_tokens: Some(131_072),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve llama 3.1 8b for 2 days in us-east-1",
            spec: WorkloadSpec {
                model: s("llama-3.1-8b"),
                model_params_b: size("llama-3.1-8b"),
                duration_hours: Some(48.0),
                region: s("us-east-1"),
                continent: s("NA"),
                country: s("US"),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            // "3.1" is the family's version, not a number of anything.
            text: "serve llama 3.1 for 2 days",
            spec: WorkloadSpec {
                duration_hours: Some(48.0),
                ..spec(Inference)
            },
            warn: &["\"llama 3.1\" names a model family", "llama-3.1-8b"],
        },
        Row {
            text: "serve gemma 2 27b in half precision with 48 GB of VRAM, preemptible fine",
            spec: WorkloadSpec {
                model: s("gemma-2-27b"),
                model_params_b: size("gemma-2-27b"),
                precision: s("fp16"),
                min_vram_gb: Some(48.0),
                spot: Some(true),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "deepseek v3 inference in Asia with a budget of $500",
            spec: WorkloadSpec {
                model: s("deepseek-v3"),
                model_params_b: size("deepseek-v3"),
                continent: s("AS"),
                budget_total: Some(500.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "fine-tune a 7b model quantized",
            spec: WorkloadSpec {
                model_params_b: Some(7.0),
                ..spec(FineTune)
            },
            warn: &["\"quantized\" does not say to what"],
        },
        Row {
            text: "serve gpt-4 for our app",
            spec: spec(Inference),
            warn: &[IGNORED, "\"gpt-4\"", "\"app\""],
        },
    ]);
}

#[test]
fn fine_tuning_and_training() {
    check(vec![
        Row {
            text: "qlora fine-tune of qwen2.5 72b on an A100 with budget of $500",
            spec: WorkloadSpec {
                model: s("qwen2.5-72b"),
                model_params_b: size("qwen2.5-72b"),
                method: s("qlora"),
                precision: s("int4"),
                gpu: s("A100"),
                gpu_count: Some(1),
                budget_total: Some(500.0),
                ..spec(FineTune)
            },
            warn: &[],
        },
        Row {
            text: "full fine-tune of a 13b params model in bf16 for 2 weeks",
            spec: WorkloadSpec {
                method: s("full"),
                model_params_b: Some(13.0),
                precision: s("bf16"),
                duration_hours: Some(336.0),
                ..spec(FineTune)
            },
            warn: &[],
        },
        Row {
            text: "lora finetune llama 3 8b, 4-bit, 90 minutes",
            spec: WorkloadSpec {
                method: s("lora"),
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                precision: s("int4"),
                duration_hours: Some(1.5),
                ..spec(FineTune)
            },
            warn: &[],
        },
        Row {
            text: "fine-tune phi 3 mini with LoRA on a single GPU",
            spec: WorkloadSpec {
                model: s("phi-3-mini"),
                model_params_b: size("phi-3-mini"),
                method: s("lora"),
                gpu_count: Some(1),
                ..spec(FineTune)
            },
            warn: &[],
        },
        Row {
            text: "fine-tune llama 3 70b on my training data and then serve it",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                ..spec(FineTune)
            },
            warn: &[],
        },
        Row {
            text: "pretrain a 350M parameter model on 1 billion tokens overnight",
            spec: WorkloadSpec {
                model_params_b: Some(0.35),
                total_tokens: Some(1e9),
                duration_hours: Some(12.0),
                ..spec(Training)
            },
            warn: &[],
        },
        Row {
            text: "training from scratch on 2 trillion tokens with 64 GPUs for a month",
            spec: WorkloadSpec {
                total_tokens: Some(2e12),
                gpu_count: Some(64),
                duration_hours: Some(730.0),
                ..spec(Training)
            },
            warn: &[],
        },
        Row {
            text: "train a 7b on 8x h100 for 10h",
            spec: WorkloadSpec {
                model_params_b: Some(7.0),
                gpu: s("H100"),
                gpu_count: Some(8),
                duration_hours: Some(10.0),
                ..spec(Training)
            },
            warn: &[],
        },
    ]);
}

#[test]
fn images_batch_and_load() {
    check(vec![
        Row {
            text: "stable diffusion: 2,000 pictures in Japan under $50 total",
            spec: WorkloadSpec {
                image_model: s("stable-diffusion"),
                images: Some(2000),
                country: s("JP"),
                continent: s("AS"),
                budget_total: Some(50.0),
                ..spec(ImageGeneration)
            },
            warn: &[],
        },
        Row {
            text: "flux image generation on an L40S for half an hour",
            spec: WorkloadSpec {
                image_model: s("flux"),
                gpu: s("L40S"),
                gpu_count: Some(1),
                duration_hours: Some(0.5),
                ..spec(ImageGeneration)
            },
            warn: &[],
        },
        Row {
            text: "serve SDXL on an RTX 4090",
            spec: WorkloadSpec {
                image_model: s("sdxl"),
                gpu: s("RTX4090"),
                gpu_count: Some(1),
                ..spec(ImageGeneration)
            },
            warn: &[],
        },
        Row {
            text: "midjourney in asia",
            spec: WorkloadSpec {
                continent: s("AS"),
                ..spec(ImageGeneration)
            },
            warn: &["hosted service"],
        },
        Row {
            text: "process 1M documents offline to make embeddings",
            spec: WorkloadSpec {
                samples: Some(1_000_000),
                ..spec(Batch)
            },
            warn: &[],
        },
        Row {
            text: "batch inference over 10M tokens in the US with bf16",
            spec: WorkloadSpec {
                total_tokens: Some(1e7),
                country: s("US"),
                continent: s("NA"),
                precision: s("bf16"),
                ..spec(Batch)
            },
            warn: &[],
        },
        Row {
            text: "embed 2.5M documents in bulk, spot instances fine",
            spec: WorkloadSpec {
                samples: Some(2_500_000),
                spot: Some(true),
                ..spec(Batch)
            },
            warn: &[],
        },
        Row {
            text: "batch job over 500 documents, 3 days, 2x L4",
            spec: WorkloadSpec {
                samples: Some(500),
                duration_hours: Some(72.0),
                gpu: s("L4"),
                gpu_count: Some(2),
                ..spec(Batch)
            },
            warn: &[],
        },
        Row {
            text: "inference with batch size 32 and 8k context",
            spec: WorkloadSpec {
                batch_size: Some(32),
                context_tokens: Some(8192),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "chatbot for 10k requests per day in north america",
            spec: WorkloadSpec {
                requests_per_day: Some(10_000.0),
                continent: s("NA"),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "api serving 5 requests per second, interruptible ok",
            spec: WorkloadSpec {
                requests_per_day: Some(432_000.0),
                spot: Some(true),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve 1,000 concurrent users with llama 3 8b in the UK",
            spec: WorkloadSpec {
                concurrency: Some(1000),
                model: s("llama-3-8b"),
                model_params_b: size("llama-3-8b"),
                country: s("GB"),
                continent: s("EU"),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve llama 3 70b, $3 per GPU hour, context of 16k, concurrency 64",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                budget_per_gpu_hour: Some(3.0),
                context_tokens: Some(16_384),
                concurrency: Some(64),
                ..spec(Inference)
            },
            warn: &[],
        },
    ]);
}
