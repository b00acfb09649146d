//! Properties the model must keep whatever its constants: monotonicity, memory fit of
//! well-known cases, linear cost, and the worked example of `docs/performance-model.md`.

use super::*;
use crate::domain::{gpu, llm};

fn spec(gpu_model: &str) -> &'static GpuSpec {
    gpu::lookup(gpu_model).unwrap()
}

fn model(name: &str) -> &'static LlmSpec {
    llm::resolve(name).unwrap()
}

fn with(precision: Precision, batch_size: u32) -> InferenceParams {
    InferenceParams {
        precision,
        batch_size,
        ..InferenceParams::default()
    }
}

#[test]
fn more_gpus_never_mean_less_throughput() {
    for (g, m) in [
        ("H100-SXM", "llama-3-70b"),
        ("RTX4090", "llama-3-8b"),
        ("L40S", "mixtral-8x7b"),
    ] {
        for batch in [1, 32, 256] {
            let mut last = (0.0, 0.0, 0);
            for n in 1..=16 {
                let e = inference(spec(g), n, model(m), &with(Precision::Fp8, batch));
                let now = (
                    e.output_tokens_per_s,
                    e.decode_tokens_per_s,
                    e.max_batch_size,
                );
                assert!(
                    now.0 >= last.0 && now.1 >= last.1 && now.2 >= last.2,
                    "{g} {m} b{batch} n{n}"
                );
                last = now;
            }
        }
    }
}

#[test]
fn bigger_batches_raise_aggregate_but_not_per_sequence_speed() {
    for (g, m) in [
        ("H100-SXM", "llama-3-70b"),
        ("A10G", "mistral-7b"),
        ("H200-SXM", "mixtral-8x7b"),
    ] {
        let mut last: Option<InferenceEstimate> = None;
        for batch in [1, 2, 4, 8, 16, 64, 256, 1024, 4096] {
            let e = inference(spec(g), 2, model(m), &with(Precision::Bf16, batch));
            if let Some(prev) = &last {
                assert!(
                    e.decode_tokens_per_s >= prev.decode_tokens_per_s,
                    "{g} {m} b{batch}"
                );
                assert!(
                    e.output_tokens_per_s >= prev.output_tokens_per_s,
                    "{g} {m} b{batch}"
                );
                assert!(
                    e.decode_tokens_per_s_per_sequence <= prev.decode_tokens_per_s_per_sequence,
                    "{g} {m} b{batch}"
                );
            }
            last = Some(e);
        }
    }
}

#[test]
fn llama_70b_memory_fit_matches_practice() {
    let m = model("llama-3-70b");
    let bf16_one = inference(spec("H100-SXM"), 1, m, &with(Precision::Bf16, 1));
    assert!(!bf16_one.fits);
    assert_eq!(bf16_one.max_batch_size, 0);
    assert!(bf16_one.notes.iter().any(|n| n.contains("does not fit")));
    assert!(inference(spec("H100-SXM"), 2, m, &with(Precision::Fp8, 1)).fits);
    assert!(inference(spec("H200-SXM"), 1, m, &with(Precision::Fp8, 1)).fits);
    assert!(inference(spec("H100-SXM"), 2, m, &with(Precision::Bf16, 1)).fits);
    assert!(!inference(spec("RTX4090"), 1, m, &with(Precision::Int4, 1)).fits);
}

#[test]
fn weights_and_kv_cache_add_up() {
    let m = model("llama-3-70b");
    let p = InferenceParams {
        batch_size: 8,
        context_tokens: Some(8192),
        ..with(Precision::Bf16, 8)
    };
    let e = inference(spec("H100-SXM"), 4, m, &p);
    assert!((e.weights_gb - 141.2).abs() < 1e-9);
    // 8 × 8192 tokens × 327,680 bytes (llm.rs: 320 KiB per token at bf16).
    assert!((e.kv_cache_gb - 8.0 * 8192.0 * 327_680.0 / 1e9).abs() < 1e-9);
    let sum = e.weights_gb + e.kv_cache_gb + e.overhead_gb;
    assert!((e.memory_needed_gb - sum).abs() < 1e-9);
    assert_eq!(e.context_tokens, 8192);
}

#[test]
fn context_never_shorter_than_prompt_plus_output() {
    let p = InferenceParams {
        context_tokens: Some(100),
        ..InferenceParams::default()
    };
    let e = inference(spec("L4"), 1, model("llama-3-8b"), &p);
    assert_eq!(e.context_tokens, 1024 + 256);
}

#[test]
fn mixture_of_experts_reads_only_routed_experts_at_batch_1() {
    let mixtral = model("mixtral-8x7b");
    let e = inference(spec("H100-SXM"), 1, mixtral, &with(Precision::Fp8, 1));
    let dense = inference(
        spec("H100-SXM"),
        1,
        &LlmSpec::generic(46.7),
        &with(Precision::Fp8, 1),
    );
    assert!(e.decode_tokens_per_s > 2.5 * dense.decode_tokens_per_s);
    assert!(e.notes.iter().any(|n| n.contains("mixture of experts")));
}

#[test]
fn notes_name_the_binding_constraint() {
    let one = inference(
        spec("H100-SXM"),
        1,
        model("llama-3-8b"),
        &with(Precision::Bf16, 1),
    );
    assert_eq!(one.decode_bound, Bound::Memory);
    assert!(one
        .notes
        .iter()
        .any(|n| n.starts_with("decode is memory-bound")));
    let many = inference(
        spec("H100-SXM"),
        1,
        model("llama-3-8b"),
        &InferenceParams {
            prompt_tokens: 16,
            output_tokens: 16,
            ..with(Precision::Bf16, 2048)
        },
    );
    assert_eq!(many.decode_bound, Bound::Compute);
    assert!(many
        .notes
        .iter()
        .any(|n| n.starts_with("decode is compute-bound")));
}

#[test]
fn cost_scales_linearly_with_price() {
    let e = inference(
        spec("H100-SXM"),
        8,
        model("llama-3-70b"),
        &with(Precision::Fp8, 64),
    );
    let base = cost_per_mtok(10.0, e.output_tokens_per_s);
    for k in [0.5, 2.0, 3.0, 10.0] {
        let scaled = cost_per_mtok(10.0 * k, e.output_tokens_per_s);
        assert!((scaled / base - k).abs() < 1e-12, "{k}");
    }
    let c = e.cost(20.0, 1e6);
    assert!((c.usd_per_million_tokens.unwrap() - 2.0 * base).abs() < 1e-9);
}

#[test]
fn a_request_that_does_not_fit_has_no_cost() {
    let e = inference(
        spec("RTX4090"),
        1,
        model("llama-3-70b"),
        &InferenceParams::default(),
    );
    assert!(!e.fits);
    assert_eq!(e.cost(0.5, 1e6).usd_per_million_tokens, None);
}

#[test]
fn inputs_deserialise_with_defaults() {
    let p: InferenceParams = serde_json::from_str("{}").unwrap();
    assert_eq!(p, InferenceParams::default());
    let p: InferenceParams =
        serde_json::from_str(r#"{"precision":"fp8","batch_size":32}"#).unwrap();
    assert_eq!(
        (p.precision, p.batch_size, p.prompt_tokens),
        (Precision::Fp8, 32, 1024)
    );
    let t: TrainingParams = serde_json::from_str(r#"{"method":"qlora"}"#).unwrap();
    assert_eq!((t.method, t.tokens), (TrainingMethod::Qlora, 1e9));
}

#[test]
fn training_memory_falls_from_full_to_lora_to_qlora() {
    let (g, m) = (spec("H100-SXM"), model("llama-3-8b"));
    let run = |method| {
        training(
            g,
            1,
            m,
            &TrainingParams {
                method,
                ..TrainingParams::default()
            },
        )
    };
    let (full, lora, qlora) = (
        run(TrainingMethod::Full),
        run(TrainingMethod::Lora),
        run(TrainingMethod::Qlora),
    );
    assert!(full.memory_per_gpu_gb > lora.memory_per_gpu_gb);
    assert!(lora.memory_per_gpu_gb > qlora.memory_per_gpu_gb);
    assert!(!full.fits && lora.fits && qlora.fits);
    assert!(full.hours > lora.hours && qlora.hours > lora.hours);
    let eight = training(g, 8, m, &TrainingParams::default());
    assert!(eight.fits);
    assert!((eight.hours * 8.0 - full.hours).abs() < 1e-9 * full.hours);
}

#[test]
fn a_given_mfu_is_used_and_a_bad_one_is_reported() {
    let (g, m) = (spec("H100-SXM"), model("llama-3-8b"));
    let run = |mfu| {
        training(
            g,
            8,
            m,
            &TrainingParams {
                mfu,
                ..TrainingParams::default()
            },
        )
    };
    let (default, half, bad) = (run(None), run(Some(0.2)), run(Some(40.0)));
    assert_eq!(half.mfu, 0.2);
    assert!((half.hours / default.hours - 2.0).abs() < 1e-9);
    assert_eq!(bad.mfu, default.mfu);
    assert!(bad
        .notes
        .iter()
        .any(|n| n.starts_with("mfu 40 is not a share")));
}

#[test]
fn training_cost_is_hours_times_price() {
    let p = TrainingParams {
        price_per_hour_usd: Some(24.0),
        ..TrainingParams::default()
    };
    let e = training(spec("H100-SXM"), 8, model("llama-3-8b"), &p);
    assert!((e.cost_usd.unwrap() - 24.0 * e.hours).abs() < 1e-9);
    // 6 × 8.03e9 × 1e9 FLOPs at 0.40 × 989 TFLOPS on 8 GPUs.
    let hours = 6.0 * 8.03e9 * 1e9 / (8.0 * 0.40 * 989e12) / 3600.0;
    assert!((e.hours - hours).abs() < 1e-9);
}

/// `docs/performance-model.md`, "Worked example": Llama 3 70B, FP8 weights and KV cache,
/// 8× H100 SXM, 1024 prompt and 256 output tokens, $20/h for the whole machine.
#[test]
fn worked_example_matches_the_docs() {
    let (g, m) = (spec("H100-SXM"), model("llama-3-70b"));
    let run = |batch_size| {
        let p = InferenceParams {
            precision: Precision::Fp8,
            kv_precision: Some(Precision::Fp8),
            batch_size,
            ..InferenceParams::default()
        };
        inference(g, 8, m, &p)
    };
    let close = |got: f64, want: f64| (got / want - 1.0).abs() < 0.005;
    let (one, mid, busy) = (run(1), run(64), run(256));
    let cases = [
        (one.decode_tokens_per_s_per_sequence, 220.8),
        (one.time_to_first_token_ms, 25.30),
        (one.output_tokens_per_s, 216.1),
        (cost_per_mtok(20.0, one.output_tokens_per_s), 25.71),
        (mid.decode_tokens_per_s_per_sequence, 189.0),
        (mid.output_tokens_per_s, 5_510.0),
        (cost_per_mtok(20.0, mid.output_tokens_per_s), 1.008),
        (busy.decode_tokens_per_s_per_sequence, 106.9),
        (busy.output_tokens_per_s, 7_386.0),
        (cost_per_mtok(20.0, busy.output_tokens_per_s), 0.752),
        (f64::from(busy.max_batch_size), 2_866.0),
    ];
    assert_eq!(
        (one.decode_bound, mid.decode_bound, busy.decode_bound),
        (Bound::Memory, Bound::Memory, Bound::Compute)
    );
    for (i, (got, want)) in cases.iter().enumerate() {
        assert!(
            close(*got, *want),
            "case {i}: got {got:.2}, docs say {want:.2}"
        );
    }
}
