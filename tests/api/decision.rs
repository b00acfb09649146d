//! Decision engine over HTTP: TOPSIS search and the math endpoints.

use gpubroker::http::math::TopsisResponse;
use gpubroker::http::offers::OfferSearchResponse;
use gpubroker::http::recommend::RecommendationResponse;
use gpubroker::providers::{skypilot, vastai};
use serde_json::{json, Value};

use crate::common::{spawn_app, Backend, TestApp};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

async fn app_with_real_offers() -> TestApp {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let lambda =
        std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv")).unwrap();
    let vast = std::fs::read_to_string(format!("{CATALOGS}/vast-python/search.json")).unwrap();
    for (source, report) in [
        (
            "skypilot:lambda",
            skypilot::parse(&lambda, "lambda").unwrap(),
        ),
        ("vastai", vastai::parse(&vast).unwrap()),
    ] {
        gpubroker::catalog::live::ingest_report(
            &app.state.store,
            Some(&app.state.catalog),
            source,
            report,
            12,
        )
        .await
        .unwrap();
    }
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_sort_topsis_ranks_with_explained_criteria() {
    let app = app_with_real_offers().await;
    let q = "vram>=24 sort=topsis weights=price:0.4,tflops:0.3,vram:0.2,reliability:0.1";
    let resp = app
        .client
        .get(format!("{}/api/v2/offers", app.base))
        .query(&[("q", q), ("limit", "20")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let page: OfferSearchResponse = resp.json().await.unwrap();
    assert_eq!(page.offers.len(), 20);
    let scores: Vec<f64> = page.offers.iter().map(|o| o.score.unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let ranking = page.ranking.unwrap();
    assert_eq!(ranking.method, "topsis");
    let names: Vec<&str> = ranking.criteria.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["price", "tflops", "vram", "reliability"]);
    // Lambda publishes no reliability score: its offers get the mean, and that is said.
    assert!(ranking.criteria[3].missing > 0);
    assert_eq!(ranking.criteria[0].missing, 0);
    assert!(page
        .query
        .starts_with("vram>=24 sort=topsis weights=price:0.4"));

    // The next page continues the same ordering.
    let next = app
        .client
        .get(format!("{}/api/v2/offers", app.base))
        .query(&[("q", q), ("limit", "20")])
        .query(&[("cursor", page.next_cursor.unwrap())])
        .send()
        .await
        .unwrap()
        .json::<OfferSearchResponse>()
        .await
        .unwrap();
    assert!(next.offers[0].score.unwrap() <= scores[19]);

    // Plain parameters work too; a bad weight is a 400 naming the position.
    let resp = app
        .get("/api/v2/offers?sort=topsis&weights=price:1,vram:1&limit=3")
        .await;
    assert_eq!(resp.status(), 200);
    let resp = app
        .get("/api/v2/offers?q=sort%3Dtopsis%20weights%3Dprice%3Ax")
        .await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_query");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at position 26"),
        "{body}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_topsis_reproduces_the_reference_and_rejects_bad_input() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let body = json!({
        "decision_matrix": [[2.49, 80, 100], [1.89, 80, 100], [0.35, 24, 70]],
        "weights": [0.4, 0.35, 0.25],
        "criteria_types": ["cost", "benefit", "benefit"]
    });
    let resp = app.post_json("/api/v2/math/topsis", &body).await;
    assert_eq!(resp.status(), 200);
    let out: TopsisResponse = resp.json().await.unwrap();
    assert_eq!(out.rankings, vec![2, 1, 0]);
    for (got, want) in out.scores.iter().zip([0.3928, 0.4948, 0.6072]) {
        assert!((got - want).abs() < 5e-5, "{got} vs {want}");
    }

    for (body, status, needle) in [
        (
            json!({"decision_matrix": [[1, 2], [3]], "weights": [1, 1], "criteria_types": ["cost", "cost"]}),
            422,
            "row 1 has 1 values",
        ),
        (
            json!({"decision_matrix": [[1, 2]], "weights": [1], "criteria_types": ["cost", "cost"]}),
            422,
            "1 weights",
        ),
        (
            json!({"decision_matrix": [[1, 2]], "weights": [-1, 1], "criteria_types": ["cost", "cost"]}),
            422,
            "weight 0 is -1",
        ),
        (
            json!({"decision_matrix": [[1]], "weights": [1], "criteria_types": ["better"]}),
            422,
            "unknown variant",
        ),
        (
            json!({"decision_matrix": [], "weights": [1], "criteria_types": ["cost"]}),
            422,
            "at least one row",
        ),
    ] {
        let resp = app.post_json("/api/v2/math/topsis", &body).await;
        assert_eq!(resp.status(), status, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["code"], "validation_failed");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body} → {err}"
        );
    }

    let resp = app
        .client
        .post(format!("{}/api/v2/math/topsis", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = app
        .client
        .post(format!("{}/api/v2/math/topsis", app.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_rank_explain_and_account_for_every_offer() {
    let app = app_with_real_offers().await;
    let text = "serve llama 3 70b at 2000 tokens/s in the EU under $10/h";
    let resp = app
        .post_json("/api/v2/recommendations", &json!({ "text": text }))
        .await;
    assert_eq!(resp.status(), 200);
    let rec: RecommendationResponse = resp.json().await.unwrap();
    assert_eq!(rec.spec.model.as_deref(), Some("llama-3-70b"));
    assert_eq!(rec.requirements.place.as_deref(), Some("EU"));
    assert!(!rec.recommendations.is_empty(), "{:?}", rec.excluded);
    for r in &rec.recommendations {
        assert_eq!(r.offer.continent.as_deref(), Some("EU"), "{}", r.offer.id);
        assert!(r.estimate.hourly_usd <= 10.0);
        assert!(r.estimate.tokens_per_second.unwrap() >= 2000.0);
        let one = r.offer.price_per_hour.unwrap();
        assert!((r.estimate.hourly_usd - one * f64::from(r.estimate.instances)).abs() < 1e-3);
        assert!(r.reasons.len() >= 4, "{:?}", r.reasons);
    }
    let hourly: Vec<f64> = rec
        .recommendations
        .iter()
        .map(|r| r.estimate.hourly_usd)
        .collect();
    assert!(hourly.windows(2).all(|w| w[0] <= w[1]), "{hourly:?}");
    assert_eq!(rec.recommendations[0].rank, 1);
    // Nothing is silently dropped: every live offer is picked-eligible or excluded.
    let excluded: usize = rec.excluded.iter().map(|e| e.offers).sum();
    assert_eq!(rec.suitable + excluded, rec.considered);
    assert!(rec
        .excluded
        .iter()
        .any(|e| e.reason == "outside EU" && e.offers > 100));
    assert!(rec
        .excluded
        .iter()
        .any(|e| e.reason.contains("does not fit") && !e.examples.is_empty()));

    // The same workload as a spec, with a budget nobody meets: no picks, and why.
    let spec = json!({"task": "inference", "model": "llama-3-70b", "budget_per_hour": 0.05});
    let rec: RecommendationResponse = app
        .post_json(
            "/api/v2/recommendations",
            &json!({ "spec": spec, "limit": 3 }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(rec.recommendations.is_empty());
    assert!(rec
        .excluded
        .iter()
        .any(|e| e.reason == "over the $0.05/h budget" && e.offers > 0));

    // Fine-tuning for a fixed time: the bill is price × hours.
    let rec: RecommendationResponse = app
        .post_json(
            "/api/v2/recommendations",
            &json!({"text": "cheapest way to fine-tune a 7B model for 10 hours", "limit": 3}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rec.recommendations.len(), 3);
    for r in &rec.recommendations {
        let total = r.estimate.total_usd.unwrap();
        assert!(
            (total - r.estimate.hourly_usd * 10.0).abs() < 0.01,
            "{total}"
        );
    }
    assert!(rec.recommendations[0].reasons[0].starts_with("lowest estimated total"));

    // A deadline excludes offers that would take longer; a spec with impossible numbers is
    // refused.
    let rec: RecommendationResponse = app
        .post_json(
            "/api/v2/recommendations",
            &json!({"text": "pretrain a 7B model on 100 billion tokens in 24 hours", "limit": 3}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(rec.excluded.iter().any(|e| e
        .reason
        .starts_with("too slow: the job would take longer than the 24 h")));
    for r in &rec.recommendations {
        assert!(r.estimate.hours.unwrap() <= 24.0);
    }
    // Many concurrent users on small GPUs: several instances, and the reason says so.
    let rec: RecommendationResponse = app
        .post_json(
            "/api/v2/recommendations",
            &json!({"spec": {"task": "inference", "model": "llama-3-8b", "concurrency": 2000, "gpu": "A10"}, "limit": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    if let Some(r) = rec.recommendations.first() {
        assert!(r.estimate.instances > 1);
        assert!(r
            .reasons
            .iter()
            .any(|x| x.contains("concurrent requests in memory")));
    } else {
        assert!(
            rec.excluded
                .iter()
                .any(|e| e.reason.starts_with("too small")),
            "{:?}",
            rec.excluded
        );
    }

    for (body, needle) in [
        (
            json!({"spec": {"task": "batch", "model": "llama-3-8b", "total_tokens": -1e9}}),
            "total_tokens must be above 0",
        ),
        (json!({"spec": {"duration_hours": 1e308}}), "duration_hours"),
        (json!({}), "either text"),
        (json!({"text": "x", "spec": {}}), "not both"),
        (json!({"text": "   "}), "empty"),
        (
            json!({"text": "asdf qwerty"}),
            "nothing in the workload description",
        ),
        (json!({"text": "serve llama 3 8b", "limit": 0}), "limit"),
    ] {
        let resp = app.post_json("/api/v2/recommendations", &body).await;
        assert_eq!(resp.status(), 422, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body} → {err}"
        );
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parse_workload_returns_the_spec_or_a_clear_error() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let resp = app
        .post_json(
            "/api/v2/ai/parse-workload",
            &json!({"text": "train a 1B model on 20B tokens with 8x H100, spot ok"}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["spec"]["task"], "training");
    assert_eq!(out["spec"]["gpu_count"], 8);
    assert_eq!(out["spec"]["total_tokens"], 2e10);
    assert_eq!(out["spec"]["spot"], true);
    let resp = app
        .post_json("/api/v2/ai/parse-workload", &json!({"text": ""}))
        .await;
    assert_eq!(resp.status(), 422);
    let resp = app
        .post_json("/api/v2/ai/parse-workload", &json!({"txt": "serve"}))
        .await;
    assert_eq!(resp.status(), 422);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn math_estimates_match_the_documented_worked_example() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    // docs/performance-model.md: Llama 3 70B FP8 on 8×H100 SXM, 1024 in / 256 out,
    // FP8 KV cache, 64 concurrent requests, $20/h → $1.008 per 1M output tokens.
    let body = json!({
        "target": {"gpu": "H100 SXM5", "gpu_count": 8, "model": "Llama 3 70B"},
        "price_per_hour": 20.0,
        "inference": {"precision": "fp8", "kv_precision": "fp8", "batch_size": 64, "prompt_tokens": 1024, "output_tokens": 256}
    });
    let resp = app.post_json("/api/v2/math/cost-per-token", &body).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["gpu"], "H100-SXM");
    assert_eq!(out["model"]["id"], "llama-3-70b");
    assert_eq!(out["estimate"]["fits"], true);
    let per_mtok = out["cost"]["usd_per_million_tokens"].as_f64().unwrap();
    assert!((per_mtok - 1.008).abs() < 0.01, "{per_mtok}");

    // A 70B model at bf16 does not fit one 80 GB GPU: no cost, and the estimate says so.
    let body = json!({"target": {"gpu": "H100-SXM", "params_b": 70}, "price_per_hour": 3.0});
    let out: Value = app
        .post_json("/api/v2/math/cost-per-token", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(out["estimate"]["fits"], false);
    assert!(out["cost"].is_null());

    // Training: 6 × params × tokens at the stated MFU, priced per hour.
    let body = json!({
        "target": {"gpu": "A100-80GB-SXM", "gpu_count": 8, "model": "llama-3-8b"}, "task": "training",
        "training": {"tokens": 1e10, "method": "full"}, "price_per_hour": 16.0
    });
    let resp = app.post_json("/api/v2/math/estimate-workload", &body).await;
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    let t = &out["training"];
    let flops = t["flops"].as_f64().unwrap();
    assert!(
        (flops / (6.0 * 8.03e9 * 1e10) - 1.0).abs() < 0.01,
        "{flops}"
    );
    let hours = t["hours"].as_f64().unwrap();
    let cost = t["cost_usd"].as_f64().unwrap();
    assert!((cost - hours * 16.0).abs() < 1e-6 * cost);

    for (path, body, needle) in [
        (
            "/api/v2/math/cost-per-token",
            json!({"target": {"gpu": "RTX 9999", "model": "llama-3-8b"}, "price_per_hour": 1}),
            "unknown GPU",
        ),
        (
            "/api/v2/math/cost-per-token",
            json!({"target": {"gpu": "H100", "model": "gpt-5"}, "price_per_hour": 1}),
            "unknown model",
        ),
        (
            "/api/v2/math/cost-per-token",
            json!({"target": {"gpu": "H100", "params_b": 7}, "price_per_hour": 0}),
            "price_per_hour",
        ),
        (
            "/api/v2/math/cost-per-token",
            json!({"target": {"gpu": "H100"}, "price_per_hour": 1}),
            "either model",
        ),
        (
            "/api/v2/math/cost-per-token",
            json!({"target": {"gpu": "H100", "gpu_cnt": 8, "params_b": 7}, "price_per_hour": 1}),
            "unknown field `gpu_cnt`",
        ),
        (
            "/api/v2/math/cost-per-token",
            json!({"target": {"gpu": "H100", "params_b": 7}, "price_per_hour": 1, "inference": {"batch": 8}}),
            "unknown field `batch`",
        ),
        (
            "/api/v2/math/estimate-workload",
            json!({"target": {"gpu": "H100", "params_b": 7}, "task": "dance"}),
            "unknown variant",
        ),
        (
            "/api/v2/math/estimate-workload",
            json!({"target": {"gpu": "H100", "params_b": 7}, "task": "training", "training": {"tokens": -1}}),
            "training.tokens",
        ),
        (
            "/api/v2/math/estimate-workload",
            json!({"target": {"gpu": "H100", "params_b": 7}, "task": "training", "training": {"price_per_hour_usd": -5}}),
            "price_per_hour",
        ),
    ] {
        let resp = app.post_json(path, &body).await;
        assert_eq!(resp.status(), 422, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{body} → {err}"
        );
    }
    app.stop().await.unwrap();
}
