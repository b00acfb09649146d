//! Market KPIs from live offers and price history, on both backends.

use chrono::{Duration, Utc};
use gpubroker::catalog::ingest::diff;
use gpubroker::catalog::kpi::{GpuKpi, Insights, Overview};
use gpubroker::domain::money::MicroUsd;
use gpubroker::domain::offer::Offer;
use gpubroker::http::kpi::ProviderKpiResponse;
use gpubroker::providers::skypilot;
use serde_json::Value;

use crate::both_backends;
use crate::common::{spawn_app, Backend};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

both_backends!(
    kpis_follow_the_price_history,
    a_young_catalog_trends_from_its_first_prices
);

fn lambda_offers() -> Vec<Offer> {
    let text =
        std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv")).unwrap();
    skypilot::parse(&text, "lambda")
        .unwrap()
        .offers
        .into_iter()
        .map(|r| Offer::normalize(r, "skypilot:lambda"))
        .collect()
}

fn is_h100(o: &Offer) -> bool {
    o.gpu_model().is_some_and(|m| m.starts_with("H100"))
}

/// Three ingest cycles: 8 days ago, 2 days ago (H100 +10 %), 1 hour ago (H100 +10 % again,
/// and one A100 offer priced at ten times its market).
async fn kpis_follow_the_price_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let store = &app.state.store;
    let now = Utc::now();
    let base = lambda_offers();
    let bump = |offers: &[Offer], factor: f64| -> Vec<Offer> {
        offers
            .iter()
            .cloned()
            .map(|mut o| {
                if is_h100(&o) {
                    o.price = o
                        .price
                        .map(|p| MicroUsd((p.0 as f64 * factor).round() as i64));
                }
                o
            })
            .collect()
    };
    let second = bump(&base, 1.1);
    let mut third = bump(&second, 1.1);
    let outlier = third
        .iter_mut()
        .filter(|o| o.gpu_model() == Some("A100-80GB-SXM") && o.gpu_count == 8)
        .min_by(|a, b| a.id.cmp(&b.id))
        .unwrap();
    outlier.price = outlier.price.map(|p| MicroUsd(p.0 * 10));
    let outlier_id = outlier.id.clone();
    let mut current: Vec<Offer> = Vec::new();
    for (offers, at) in [
        (base.clone(), now - Duration::days(8)),
        (second, now - Duration::days(2)),
        (third, now - Duration::hours(1)),
    ] {
        let changes = diff(&current, offers.clone());
        store
            .apply_ingest("skypilot:lambda", &changes, at, 5)
            .await
            .unwrap();
        current = offers;
    }
    app.state.catalog.reload(store).await.unwrap();
    app.state
        .catalog
        .refresh_freshness(store, &app.state.stale_windows())
        .await
        .unwrap();

    let overview: Overview = app.get("/api/v2/kpi/overview").await.json().await.unwrap();
    assert_eq!(overview.offers, base.len());
    assert_eq!(overview.providers, 1);
    let h100 = overview
        .models
        .iter()
        .find(|m| m.model == "H100-SXM")
        .unwrap();
    let cheapest = current
        .iter()
        .filter(|o| o.gpu_model() == Some("H100-SXM"))
        .filter_map(|o| o.price_per_gpu())
        .min()
        .unwrap();
    assert_eq!(
        h100.cheapest_price_per_gpu_hour,
        Some(cheapest.as_usd_f64())
    );

    let resp = app.get("/api/v2/kpi/gpu/H100").await;
    assert_eq!(resp.status(), 200);
    let gpu: GpuKpi = resp.json().await.unwrap();
    assert!(gpu.models.iter().all(|m| m.starts_with("H100")));
    assert_eq!(gpu.by_provider.len(), 1);
    let day = gpu.trend_24h.unwrap();
    let week = gpu.trend_7d.unwrap();
    // The medians moved by the bumps (rounding to micro-dollars aside).
    assert!((day.change_pct - 10.0).abs() < 0.01, "{day:?}");
    assert!((week.change_pct - 21.0).abs() < 0.01, "{week:?}");
    let p = gpu.price_per_gpu_hour.unwrap();
    assert!(p.min <= p.p25 && p.p25 <= p.p50 && p.p50 <= p.p75 && p.p75 <= p.max);
    assert!(gpu.usd_per_tflop_hour.unwrap().p50 > 0.0);
    let tokens = gpu.token_cost.unwrap();
    assert_eq!(tokens.model, "llama-3.1-8b");
    let c = tokens.usd_per_million_tokens;
    assert!(c.min > 0.0 && c.min <= c.p50 && c.p50 <= c.max, "{c:?}");

    let resp = app.get("/api/v2/kpi/gpu/RTX-9999").await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");

    let resp = app.get("/api/v2/kpi/provider/LAMBDA").await;
    assert_eq!(resp.status(), 200);
    let provider: ProviderKpiResponse = resp.json().await.unwrap();
    assert_eq!(provider.kpi.provider, "lambda");
    assert_eq!(provider.kpi.offers, base.len());
    assert_eq!(provider.kpi.stale_offers, 0);
    // Alone in its market, the provider is the market.
    assert_eq!(provider.kpi.median_price_vs_market, Some(1.0));
    // Two bumps of H100 offers within the week, plus the outlier.
    let h100_offers = current.iter().filter(|o| is_h100(o)).count();
    assert_eq!(provider.kpi.volatility_7d.changes, 2 * h100_offers + 1);
    assert!((provider.kpi.volatility_7d.max_abs_change_pct - 900.0).abs() < 0.01);
    assert_eq!(provider.sources.len(), 1);
    assert_eq!(provider.sources[0].source, "skypilot:lambda");
    assert_eq!(app.get("/api/v2/kpi/provider/nobody").await.status(), 404);

    let insights: Insights = app.get("/api/v2/kpi/insights").await.json().await.unwrap();
    let top = &insights.largest_moves_24h[0];
    assert_eq!(top.offer.id, outlier_id);
    assert!((top.change_pct - 900.0).abs() < 0.01);
    assert!(insights.largest_moves_24h[1..]
        .iter()
        .all(|m| (m.change_pct - 10.0).abs() < 0.01));
    assert!(insights
        .anomalies
        .iter()
        .any(|a| a.offer.id == outlier_id && a.z_score > 3.0));
    let values: Vec<f64> = insights
        .best_value
        .iter()
        .map(|v| v.usd_per_tflop_hour)
        .collect();
    assert!(!values.is_empty() && values.windows(2).all(|w| w[0] <= w[1]));
    // Every model debuted 8 days ago: none is new this week.
    assert!(insights.new_models.is_empty(), "{:?}", insights.new_models);
    app.stop().await.unwrap();
}

/// Two ingests ten minutes apart: the trends start at the first recorded prices.
async fn a_young_catalog_trends_from_its_first_prices(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let store = &app.state.store;
    let now = Utc::now();
    let base = lambda_offers();
    let bumped: Vec<Offer> = base
        .iter()
        .cloned()
        .map(|mut o| {
            if is_h100(&o) {
                o.price = o.price.map(|p| MicroUsd(p.0 * 2));
            }
            o
        })
        .collect();
    let first_at = now - Duration::minutes(10);
    store
        .apply_ingest("skypilot:lambda", &diff(&[], base.clone()), first_at, 5)
        .await
        .unwrap();
    store
        .apply_ingest(
            "skypilot:lambda",
            &diff(&base, bumped),
            now - Duration::minutes(1),
            5,
        )
        .await
        .unwrap();
    app.state.catalog.reload(store).await.unwrap();
    let gpu: GpuKpi = app.get("/api/v2/kpi/gpu/H100").await.json().await.unwrap();
    let day = gpu.trend_24h.unwrap();
    assert!(
        (day.since - first_at).num_milliseconds().abs() < 1,
        "{day:?}"
    );
    assert!((day.change_pct - 100.0).abs() < 0.01, "{day:?}");
    assert_eq!(gpu.trend_7d.unwrap().since, day.since);
    app.stop().await.unwrap();
}
