//! Table-driven tests: each row compares the whole spec, so every field a row does not set
//! is asserted to be absent. `warn` lists substrings that must each appear in a warning; an
//! empty list asserts there are no warnings at all. The brief's examples, errors and JSON
//! are here; more phrasings are in `field_tests` and `constraint_tests`.

use super::*;
use crate::domain::llm;
use Task::*;

pub(super) fn s(text: &str) -> Option<String> {
    Some(text.to_owned())
}

/// The registry size of model `id`, so rows do not copy registry numbers.
pub(super) fn size(id: &str) -> Option<f64> {
    llm::resolve(id).map(|m| m.params_b)
}

pub(super) fn spec(task: Task) -> WorkloadSpec {
    WorkloadSpec {
        task,
        ..WorkloadSpec::default()
    }
}

pub(super) const NO_TASK: &str = "no task named";
pub(super) const IGNORED: &str = "not understood, ignored";

pub(super) struct Row {
    pub(super) text: &'static str,
    pub(super) spec: WorkloadSpec,
    pub(super) warn: &'static [&'static str],
}

pub(super) fn check(rows: Vec<Row>) {
    for row in rows {
        let out = parse(row.text).unwrap_or_else(|e| panic!("{:?}: {e}", row.text));
        assert_eq!(out.spec, row.spec, "{:?}\n{:#?}", row.text, out);
        if row.warn.is_empty() {
            assert!(
                out.warnings.is_empty(),
                "{:?}: {:?}",
                row.text,
                out.warnings
            );
        }
        for expected in row.warn {
            assert!(
                out.warnings.iter().any(|w| w.contains(expected)),
                "{:?}: no warning with {expected:?} in {:?}",
                row.text,
                out.warnings
            );
        }
        assert!(!out.recognised.is_empty(), "{:?}", row.text);
    }
}

#[test]
fn the_brief_examples_parse_as_specified() {
    check(vec![
        Row {
            text: "serve llama 3 70b at 2000 tokens/s in the EU under $10/h",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                tokens_per_second: Some(2000.0),
                continent: s("EU"),
                budget_per_hour: Some(10.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "serve Llama 3 70B at 2k tokens/s in the EU under $8/h",
            spec: WorkloadSpec {
                model: s("llama-3-70b"),
                model_params_b: Some(70.6),
                tokens_per_second: Some(2000.0),
                continent: s("EU"),
                budget_per_hour: Some(8.0),
                ..spec(Inference)
            },
            warn: &[],
        },
        Row {
            text: "cheapest way to fine-tune a 7B model for 10 hours",
            spec: WorkloadSpec {
                model_params_b: Some(7.0),
                duration_hours: Some(10.0),
                ..spec(FineTune)
            },
            warn: &[],
        },
        Row {
            text: "Generate 500 images with SDXL in 2 hours in eu-west, high quality",
            spec: WorkloadSpec {
                images: Some(500),
                image_model: s("sdxl"),
                duration_hours: Some(2.0),
                region: s("eu-west"),
                continent: s("EU"),
                ..spec(ImageGeneration)
            },
            warn: &["\"high quality\""],
        },
        Row {
            text: "fine-tune llama on 1000 samples for 3 days",
            spec: WorkloadSpec {
                samples: Some(1000),
                duration_hours: Some(72.0),
                ..spec(FineTune)
            },
            warn: &["\"llama\" names a model family"],
        },
        Row {
            text: "train a 1B model on 20B tokens with 8x H100, spot ok",
            spec: WorkloadSpec {
                model_params_b: Some(1.0),
                total_tokens: Some(2e10),
                gpu: s("H100"),
                gpu_count: Some(8),
                spot: Some(true),
                ..spec(Training)
            },
            warn: &[],
        },
        Row {
            text: "run mixtral 8x7b in int4 for 100 concurrent users with 32k context",
            spec: WorkloadSpec {
                model: s("mixtral-8x7b"),
                model_params_b: size("mixtral-8x7b"),
                precision: s("int4"),
                concurrency: Some(100),
                context_tokens: Some(32_768),
                ..spec(Inference)
            },
            warn: &[],
        },
    ]);
}

#[test]
fn unreadable_texts_are_errors_naming_what_is_expected() {
    let long = "serve llama 3 70b ".repeat(200);
    let cases: [(&str, WorkloadParseError); 8] = [
        ("", WorkloadParseError::Empty),
        ("   ", WorkloadParseError::Empty),
        ("hello", WorkloadParseError::NothingUnderstood),
        ("asdf qwerty", WorkloadParseError::NothingUnderstood),
        ("hello there", WorkloadParseError::NothingUnderstood),
        ("the a of, 42", WorkloadParseError::NothingUnderstood),
        ("€8/h", WorkloadParseError::NothingUnderstood),
        (
            long.as_str(),
            WorkloadParseError::TooLong {
                chars: long.trim().chars().count(),
                max: MAX_CHARS,
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text), Err(expected), "{text:?}");
    }
    let message = WorkloadParseError::NothingUnderstood.to_string();
    for expected in ["task", "model", "GPU", "budget", "tokens/s"] {
        assert!(message.contains(expected), "{message}");
    }
    assert!(WorkloadParseError::Empty.to_string().contains("empty"));
}

#[test]
fn recognised_lines_say_what_was_read() {
    let out = parse("serve Llama 3 70B at 2k tokens/s in the EU under $8/h").unwrap();
    let lines = out.recognised.join("\n");
    for expected in [
        "model: llama-3-70b",
        "throughput: 2000 tokens/s (\"2k tokens/s\")",
        "continent: EU",
        "budget per hour: $8 (\"$8/h\")",
        "task: inference (\"serve\")",
    ] {
        assert!(lines.contains(expected), "{expected:?} not in\n{lines}");
    }
}

#[test]
fn spec_is_json_with_snake_case_task_and_defaults() {
    let out = parse("fine-tune a 7B model for 10 hours").unwrap();
    let json = serde_json::to_value(&out.spec).unwrap();
    assert_eq!(json["task"], "fine_tune");
    assert_eq!(json["model_params_b"], 7.0);
    let back: WorkloadSpec = serde_json::from_value(json).unwrap();
    assert_eq!(back, out.spec);
    let minimal: WorkloadSpec = serde_json::from_str(r#"{"gpu": "H100"}"#).unwrap();
    assert_eq!(minimal.task, Task::Inference);
    assert_eq!(minimal.gpu.as_deref(), Some("H100"));
    let image: WorkloadSpec = serde_json::from_str(r#"{"task": "image_generation"}"#).unwrap();
    assert_eq!(image.task, Task::ImageGeneration);
}

#[test]
fn odd_inputs_never_panic() {
    let odd = [
        "$",
        "/",
        "x",
        "8x",
        "x8",
        "1,",
        ".5",
        "$$$",
        "€",
        "—",
        ",,,",
        "8 x",
        "H100 x",
        "99999999999999999999999 GPUs",
        "1e10 tokens",
        "0 images",
        "$0/h",
        "-5 hours",
        "serve ✨ llama 3 70b ✨ à 2k tokens/s",
        "8×H100",
        "八 GPUs",
        "llama llama llama",
        "context of",
        "batch size of",
        "half",
        "half an",
        "a",
        "an hour an hour",
        "4294967296 concurrent users",
        "1.2.3.4 hours",
        "us-east-1-2-3",
        "eu-",
        "-west",
    ];
    for text in odd {
        let _ = parse(text);
    }
    let big = parse("serve on 99999999999999999999999 GPUs").unwrap();
    assert_eq!(big.spec.gpu_count, None);
    let overflow = parse("serve 4294967296 concurrent users").unwrap();
    assert_eq!(overflow.spec.concurrency, None);
    assert_eq!(parse("8×H100").unwrap().spec.gpu_count, Some(8));
}
