//! The assistant's tools: each reads the live catalog (never invents an offer) and returns
//! JSON for the model, a one-line summary, the offers it cited and, for the rule-based
//! planner, a readable paragraph.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::llm::ToolSpec;
use crate::app::AppState;
use crate::catalog::kpi::median;
use crate::domain::gpu::{self, GpuHints, GpuSpec};
use crate::domain::query::Query;
use crate::http::offer_view::OfferView;
use crate::http::offers::search_response;
use crate::http::recommend::{recommend_for, RecommendationRequest};

/// Offers a tool returns at most.
const MAX_TOOL_OFFERS: u32 = 10;

/// What a tool produced.
#[derive(Debug, Default)]
pub struct ToolOutput {
    /// JSON handed back to the model.
    pub result: Value,
    /// One line for the response's tool log.
    pub summary: String,
    /// Offers the result cites.
    pub offers: Vec<OfferView>,
    /// A readable paragraph, for the rule-based answer.
    pub text: String,
}

impl ToolOutput {
    fn error(message: String) -> ToolOutput {
        ToolOutput {
            result: json!({ "error": message }),
            summary: format!("failed: {message}"),
            text: message,
            offers: Vec::new(),
        }
    }
}

/// The tools offered to a language model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "search_offers",
            description: "Search live GPU offers with the catalog query language, e.g. \
                'gpu=H100 count>=8 continent=EU sort=price', 'vram>=48 sort=price_per_gpu', \
                'gpu~A100 sort=topsis'. Prices are USD per hour.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "catalog query"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_TOOL_OFFERS}
                },
                "required": ["query"]
            }),
        },
        ToolSpec {
            name: "recommend",
            description: "Recommend offers for a workload described in plain language \
                (task, model, throughput, duration, budget, region, spot), with estimated \
                cost per offer and reasons.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "workload": {"type": "string"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_TOOL_OFFERS}
                },
                "required": ["workload"]
            }),
        },
        ToolSpec {
            name: "compare_gpus",
            description: "Compare GPU models: specs, the cheapest live offer and the median \
                price per GPU-hour of each.",
            parameters: json!({
                "type": "object",
                "properties": {"models": {"type": "array", "items": {"type": "string"}, "minItems": 2}},
                "required": ["models"]
            }),
        },
        ToolSpec {
            name: "explain_gpu",
            description: "Specs of one GPU model from the registry: memory, bandwidth, \
                BF16/FP8 TFLOPS, power, form factor.",
            parameters: json!({
                "type": "object",
                "properties": {"model": {"type": "string"}},
                "required": ["model"]
            }),
        },
    ]
}

/// Runs tool `name` with JSON `arguments`; unknown tools and bad arguments are errors the
/// model can read.
pub fn run(state: &AppState, name: &str, arguments: &Value) -> ToolOutput {
    match name {
        "search_offers" => parse_args(arguments).map_or_else(ToolOutput::error, |a: SearchArgs| {
            search(state, &a.query, a.limit.unwrap_or(5))
        }),
        "recommend" => parse_args(arguments).map_or_else(ToolOutput::error, |a: RecommendArgs| {
            recommend(state, &a.workload, a.limit.unwrap_or(3))
        }),
        "compare_gpus" => parse_args(arguments).map_or_else(ToolOutput::error, |a: CompareArgs| {
            compare(state, &a.models)
        }),
        "explain_gpu" => {
            parse_args(arguments).map_or_else(ToolOutput::error, |a: ExplainArgs| explain(&a.model))
        }
        other => ToolOutput::error(format!("unknown tool {other:?}")),
    }
}

fn parse_args<T: for<'de> Deserialize<'de>>(arguments: &Value) -> Result<T, String> {
    serde_json::from_value(arguments.clone()).map_err(|e| format!("bad arguments: {e}"))
}

#[derive(Deserialize)]
struct SearchArgs {
    query: String,
    limit: Option<u32>,
}

#[derive(Deserialize)]
struct RecommendArgs {
    workload: String,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct CompareArgs {
    models: Vec<String>,
}

#[derive(Deserialize)]
struct ExplainArgs {
    model: String,
}

fn usd(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |p| format!("${p:.2}"))
}

fn compact(o: &OfferView) -> Value {
    json!({
        "id": o.id, "provider": o.provider, "gpu": o.gpu.as_deref().unwrap_or(&o.gpu_raw),
        "gpu_count": o.gpu_count, "gpu_memory_gb": o.gpu_memory_gb, "region": o.region,
        "price_per_hour": o.price_per_hour, "price_per_gpu_hour": o.price_per_gpu_hour,
        "spot_price_per_hour": o.spot_price_per_hour, "availability": o.availability,
        "demo": o.demo,
    })
}

fn offer_line(o: &OfferView) -> String {
    format!(
        "{}× {} at {} in {}: {}/h{} (offer {}{})",
        o.gpu_count,
        o.gpu.as_deref().unwrap_or(&o.gpu_raw),
        o.provider,
        o.region,
        usd(o.price_per_hour),
        o.spot_price_per_hour
            .map(|s| format!(", spot ${s:.2}/h"))
            .unwrap_or_default(),
        o.id,
        if o.demo { ", demo market" } else { "" }
    )
}

/// `search_offers`.
pub fn search(state: &AppState, text: &str, limit: u32) -> ToolOutput {
    let query = match Query::parse(text) {
        Ok(q) => q,
        Err(e) => return ToolOutput::error(format!("invalid query {text:?}: {e}")),
    };
    let page = search_response(
        &state.catalog,
        &query,
        0,
        limit.clamp(1, MAX_TOOL_OFFERS) as usize,
    );
    let mut text_out = if page.offers.is_empty() {
        format!("No live offer matches `{}`.", page.query)
    } else {
        let lines: Vec<String> = page
            .offers
            .iter()
            .map(|o| format!("- {}", offer_line(o)))
            .collect();
        format!(
            "{} of {} offers matching `{}`:\n{}",
            page.offers.len(),
            page.total,
            page.query,
            lines.join("\n")
        )
    };
    for w in &page.warnings {
        text_out.push_str(&format!("\nNote: {}", w.message));
    }
    ToolOutput {
        result: json!({
            "query": page.query, "total": page.total,
            "offers": page.offers.iter().map(compact).collect::<Vec<_>>(),
            "warnings": page.warnings.iter().map(|w| &w.message).collect::<Vec<_>>(),
        }),
        summary: format!("`{}`: {} matches", page.query, page.total),
        offers: page.offers,
        text: text_out,
    }
}

/// `recommend`.
pub fn recommend(state: &AppState, workload: &str, limit: usize) -> ToolOutput {
    let req = RecommendationRequest {
        text: Some(workload.to_owned()),
        spec: None,
        limit: Some(limit.clamp(1, MAX_TOOL_OFFERS as usize)),
    };
    let rec = match recommend_for(state, req) {
        Ok(r) => r,
        Err(e) => return ToolOutput::error(e.to_string()),
    };
    let picks: Vec<Value> = rec
        .recommendations
        .iter()
        .map(|r| {
            json!({
                "rank": r.rank, "offer": compact(&r.offer), "estimate": r.estimate,
                "reasons": r.reasons,
            })
        })
        .collect();
    let mut text = String::new();
    if !rec.recognised.is_empty() {
        text.push_str(&format!("Understood: {}.\n", rec.recognised.join("; ")));
    }
    if rec.recommendations.is_empty() {
        text.push_str("No live offer meets every requirement.");
    } else {
        text.push_str(&format!(
            "Best {} of {} suitable offers:\n",
            rec.recommendations.len(),
            rec.suitable
        ));
        for r in &rec.recommendations {
            let bill = match (r.estimate.total_usd, r.estimate.hours) {
                (Some(t), Some(h)) => format!(", about ${t:.2} for {h:.1} h"),
                _ => String::new(),
            };
            let per_mtok = r
                .estimate
                .usd_per_million_tokens
                .map(|c| format!(", ${c:.2} per 1M tokens"))
                .unwrap_or_default();
            let instances = match r.estimate.instances {
                1 => String::new(),
                n => format!("{n} instances of "),
            };
            text.push_str(&format!(
                "{}. {instances}{} — ${:.2}/h{}{bill}{per_mtok}. {}\n",
                r.rank,
                offer_line(&r.offer),
                r.estimate.hourly_usd,
                if r.estimate.price_kind == "spot" {
                    " spot"
                } else {
                    ""
                },
                r.reasons
                    .iter()
                    .skip(1)
                    .take(2)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    if let Some(top) = rec.excluded.first() {
        text.push_str(&format!(
            "Most often excluded: {} offers, {}.",
            top.offers, top.reason
        ));
    }
    if !rec.requirements.assumptions.is_empty() {
        text.push_str(&format!(
            "\nAssumed: {}.",
            rec.requirements.assumptions.join("; ")
        ));
    }
    ToolOutput {
        result: json!({
            "requirements": rec.requirements, "recommendations": picks,
            "excluded": rec.excluded, "suitable": rec.suitable,
        }),
        summary: format!(
            "{} picks of {} suitable offers",
            rec.recommendations.len(),
            rec.suitable
        ),
        offers: rec.recommendations.into_iter().map(|r| r.offer).collect(),
        text: text.trim_end().to_owned(),
    }
}

fn find_gpu(name: &str) -> Option<&'static GpuSpec> {
    gpu::lookup(name).or_else(|| gpu::resolve(name, GpuHints::default()).spec())
}

fn spec_json(g: &GpuSpec) -> Value {
    json!({
        "model": g.model, "architecture": g.architecture, "vram_gb": g.vram_gb,
        "memory_bandwidth_gbs": g.memory_bandwidth_gbs, "bf16_tflops": g.bf16_tflops,
        "fp8_tflops": g.fp8_tflops, "tdp_watts": g.tdp_watts, "form_factor": g.form_factor,
        "source": g.source,
    })
}

/// `compare_gpus`.
pub fn compare(state: &AppState, models: &[String]) -> ToolOutput {
    if models.len() < 2 {
        return ToolOutput::error("compare_gpus needs at least two models".into());
    }
    let snapshot = state.catalog.snapshot();
    let mut rows = Vec::new();
    let mut cited = Vec::new();
    let mut lines = Vec::new();
    let seen = crate::http::offer_view::last_success(&state.catalog.statuses());
    for name in models.iter().take(6) {
        let Some(g) = find_gpu(name) else {
            lines.push(format!("- {name}: not in the GPU registry"));
            rows.push(json!({"model": name, "error": "unknown GPU"}));
            continue;
        };
        let family = if g.variant_known {
            g.model
        } else {
            name.as_str()
        };
        let offers: Vec<_> = snapshot
            .offers()
            .iter()
            .filter(|o| !snapshot.is_stale(o))
            .filter(|o| {
                o.gpu
                    .is_some_and(|s| gpu::matches_family(s, family) || s.model == g.model)
            })
            .collect();
        let prices: Vec<f64> = offers
            .iter()
            .filter_map(|o| o.price_per_gpu().map(|p| p.as_usd_f64()))
            .collect();
        let cheapest = offers
            .iter()
            .filter(|o| o.price_per_gpu().is_some())
            .min_by(|a, b| {
                a.price_per_gpu()
                    .cmp(&b.price_per_gpu())
                    .then_with(|| a.id.cmp(&b.id))
            });
        let med = median(&prices);
        let view = cheapest.map(|o| OfferView::new(o, &snapshot, &seen));
        let label = if g.variant_known {
            g.model
        } else {
            name.as_str()
        };
        lines.push(format!(
            "- {label}: {} GB, {} GB/s, {:.0} BF16 TFLOPS{}; {} live offers, median {}/GPU-hour{}",
            g.vram_gb,
            g.memory_bandwidth_gbs,
            g.bf16_tflops,
            g.fp8_tflops
                .map(|f| format!(" ({f:.0} FP8)"))
                .unwrap_or_default(),
            offers.len(),
            usd(med),
            view.as_ref()
                .map(|v| format!("; cheapest {}", offer_line(v)))
                .unwrap_or_default()
        ));
        rows.push(json!({
            "spec": spec_json(g), "live_offers": offers.len(),
            "median_price_per_gpu_hour": med,
            "cheapest": view.as_ref().map(compact),
        }));
        cited.extend(view);
    }
    ToolOutput {
        result: json!({ "gpus": rows }),
        summary: format!("compared {}", models.join(", ")),
        offers: cited,
        text: format!("Side by side:\n{}", lines.join("\n")),
    }
}

/// `explain_gpu`.
pub fn explain(model: &str) -> ToolOutput {
    let Some(g) = find_gpu(model) else {
        return ToolOutput::error(format!("{model:?} is not in the GPU registry"));
    };
    ToolOutput {
        result: spec_json(g),
        summary: format!("specs of {}", g.model),
        offers: Vec::new(),
        text: format!(
            "{} ({}, {:?}): {} GB at {} GB/s, {:.0} dense BF16 TFLOPS{}, {} W. Source: {}.",
            g.model,
            g.architecture,
            g.form_factor,
            g.vram_gb,
            g.memory_bandwidth_gbs,
            g.bf16_tflops,
            g.fp8_tflops
                .map(|f| format!(", {f:.0} FP8"))
                .unwrap_or_default(),
            g.tdp_watts,
            g.source
        ),
    }
}

/// GPU models named in `text` (windows of up to three words), in order, without repeats.
pub fn gpus_mentioned(text: &str) -> Vec<&'static GpuSpec> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '?' | '!' | ';' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut found: BTreeMap<usize, &'static GpuSpec> = BTreeMap::new();
    let mut i = 0;
    while i < words.len() {
        let mut matched = 0;
        for n in (1..=3).rev() {
            if i + n > words.len() {
                continue;
            }
            let joined = words[i..i + n].join(" ");
            let phrase = joined.trim_end_matches('.');
            // A bare number or short word is never a GPU on its own.
            if phrase.len() < 2 || phrase.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            // As written ("L40s" is the L40S), then as a plural ("H100s").
            let spec = gpu::resolve(phrase, GpuHints::default())
                .spec()
                .or_else(|| {
                    phrase
                        .strip_suffix('s')
                        .and_then(|p| gpu::resolve(p, GpuHints::default()).spec())
                });
            if let Some(g) = spec {
                found.insert(i, g);
                matched = n;
                break;
            }
        }
        i += matched.max(1);
    }
    let mut out: Vec<&'static GpuSpec> = Vec::new();
    for g in found.into_values() {
        if !out.iter().any(|o| o.model == g.model) {
            out.push(g);
        }
    }
    out
}
