//! Catalog ingestion and the search API, on both backends.

use gpubroker::catalog::live::ingest_report;
use gpubroker::http::offer_view::OfferView;
use gpubroker::http::offers::{FacetsResponse, OfferHistoryResponse, OfferSearchResponse};
use gpubroker::providers::{skypilot, vastai, ParseReport};

use crate::both_backends;
use crate::common::{spawn_app, Backend, TestApp};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

both_backends!(
    ingest_writes_only_changes_and_keeps_history,
    search_api_pages_filters_and_warns
);

fn lambda() -> ParseReport {
    let text =
        std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv")).unwrap();
    skypilot::parse(&text, "lambda").unwrap()
}

fn vast() -> ParseReport {
    let text = std::fs::read_to_string(format!("{CATALOGS}/vast-python/search.json")).unwrap();
    vastai::parse(&text).unwrap()
}

async fn ingest(
    app: &TestApp,
    source: &str,
    report: ParseReport,
) -> gpubroker::catalog::live::IngestSummary {
    let summary = ingest_report(
        &app.state.store,
        Some(&app.state.catalog),
        source,
        report,
        12,
    )
    .await
    .unwrap();
    app.state
        .catalog
        .refresh_freshness(&app.state.store, &app.state.stale_windows())
        .await
        .unwrap();
    summary
}

async fn ingest_writes_only_changes_and_keeps_history(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = ingest(&app, "skypilot:lambda", lambda()).await;
    assert_eq!((first.added, first.changed, first.closed), (374, 0, 0));
    assert!(first.unknown_gpus.is_empty(), "{:?}", first.unknown_gpus);
    assert_eq!(first.cpu_only, 34);

    let again = ingest(&app, "skypilot:lambda", lambda()).await;
    assert_eq!(
        (again.added, again.changed, again.closed, again.unchanged),
        (0, 0, 0, 374),
        "identical fetch writes nothing"
    );

    let mut moved = lambda();
    let target = moved
        .offers
        .iter()
        .position(|o| o.instance_type == "gpu_8x_h100_sxm5")
        .unwrap();
    let old_price = moved.offers[target].price.unwrap();
    moved.offers[target].price = Some(gpubroker::domain::money::MicroUsd(old_price.0 + 1_000_000));
    let gone = moved.offers.pop().unwrap();
    let third = ingest(&app, "skypilot:lambda", moved).await;
    assert_eq!((third.added, third.repriced, third.closed), (0, 1, 1));

    let snapshot = app.state.catalog.snapshot();
    assert_eq!(snapshot.len(), 373);
    let id = gpubroker::domain::offer::offer_id(
        "lambda",
        "gpu_8x_h100_sxm5",
        &lambda().offers[target].region,
        None,
    );
    let history: OfferHistoryResponse = app
        .get(&format!("/api/v2/offers/{id}/history"))
        .await
        .json()
        .await
        .unwrap();
    let prices: Vec<f64> = history
        .points
        .iter()
        .map(|p| p.price_per_hour.unwrap())
        .collect();
    assert_eq!(
        prices,
        [old_price.as_usd_f64(), old_price.as_usd_f64() + 1.0]
    );
    let gone_id =
        gpubroker::domain::offer::offer_id("lambda", &gone.instance_type, &gone.region, None);
    assert_eq!(
        app.get(&format!("/api/v2/offers/{gone_id}")).await.status(),
        404,
        "vanished offers are closed"
    );

    // A restart reloads the same catalog from the database.
    let reloaded = gpubroker::catalog::live::Catalog::default();
    reloaded.reload(&app.state.store).await.unwrap();
    assert_eq!(reloaded.snapshot().len(), 373);
    app.stop().await.unwrap();
}

async fn search_api_pages_filters_and_warns(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    ingest(&app, "skypilot:lambda", lambda()).await;
    ingest(&app, "vastai", vast()).await;
    app.state
        .store
        .record_source_failure(
            "vastai",
            "HTTP 503: upstream down",
            gpubroker::store::now(),
            20_000,
        )
        .await
        .unwrap();
    app.state
        .store
        .record_source_failure(
            "runpod",
            "HTTP 401: unauthorized",
            gpubroker::store::now(),
            50,
        )
        .await
        .unwrap();
    app.state
        .catalog
        .refresh_freshness(&app.state.store, &app.state.stale_windows())
        .await
        .unwrap();

    let page: OfferSearchResponse = app
        .get("/api/v2/offers?q=gpu%3DH100%20sort%3Dprice&limit=5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page.offers.len(), 5);
    assert!(page.total > 5);
    assert!(page
        .offers
        .iter()
        .all(|o| o.gpu.as_deref().unwrap().starts_with("H100")));
    let prices: Vec<f64> = page
        .offers
        .iter()
        .map(|o| o.price_per_hour.unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    let warned: Vec<(&str, &str)> = page
        .warnings
        .iter()
        .map(|w| (w.source.as_str(), w.freshness.as_str()))
        .collect();
    assert_eq!(warned, [("runpod", "stale"), ("vastai", "failing")]);
    assert!(page.warnings[1].message.contains("503"));

    // Following the cursor walks every result exactly once.
    let mut seen = std::collections::HashSet::new();
    let mut url = "/api/v2/offers?gpu=H100&sort=price&limit=7".to_owned();
    loop {
        let page: OfferSearchResponse = app.get(&url).await.json().await.unwrap();
        for offer in &page.offers {
            assert!(seen.insert(offer.id.clone()), "{} twice", offer.id);
        }
        match page.next_cursor {
            Some(cursor) => {
                url = format!("/api/v2/offers?gpu=H100&sort=price&limit=7&cursor={cursor}");
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), page.total);

    let one: OfferView = app
        .get(&format!("/api/v2/offers/{}", page.offers[0].id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one.id, page.offers[0].id);
    assert!(one.last_seen.is_some() && !one.stale);

    let facets: FacetsResponse = app
        .get("/api/v2/offers/facets?q=provider%3Dvastai")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(facets.total, 1396);
    assert_eq!(facets.providers.len(), 1);
    assert!(facets.gpus[0].count >= facets.gpus[1].count);
    assert!(facets.price_per_gpu_hour.min <= facets.price_per_gpu_hour.median);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_queries_and_parameters_are_400_with_position_and_suggestion() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for (url, code, needle) in [
        (
            "/api/v2/offers?q=prce%3C3",
            "invalid_query",
            "did you mean 'price'",
        ),
        (
            "/api/v2/offers?q=gpu%3DH100%20price~3",
            "invalid_query",
            "position 15",
        ),
        (
            "/api/v2/offers?colour=red",
            "bad_request",
            "unknown parameter",
        ),
        ("/api/v2/offers?limit=0", "bad_request", "limit"),
        (
            "/api/v2/offers?cursor=bogus",
            "bad_request",
            "invalid cursor",
        ),
        (
            "/api/v2/offers?max_price=cheap",
            "invalid_query",
            "price expects a number",
        ),
    ] {
        let response = app.get(url).await;
        assert_eq!(response.status(), 400, "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{url}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(needle),
            "{url}: {body}"
        );
    }
    assert_eq!(
        app.get("/api/v2/offers/nope-0000000000000000")
            .await
            .status(),
        404
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn gpu_registry_and_providers_endpoints() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    ingest(&app, "skypilot:lambda", lambda()).await;
    let gpus: serde_json::Value = app.get("/api/v2/gpus").await.json().await.unwrap();
    let list = gpus["gpus"].as_array().unwrap();
    assert!(list.len() > 50);
    let sxm = list
        .iter()
        .find(|g| g["spec"]["model"] == "H100-SXM")
        .unwrap();
    assert!(sxm["offers"].as_u64().unwrap() > 0);
    let one: serde_json::Value = app.get("/api/v2/gpus/h100-sxm").await.json().await.unwrap();
    assert_eq!(one["spec"]["vram_gb"], 80);
    let generic: serde_json::Value = app.get("/api/v2/gpus/H100").await.json().await.unwrap();
    assert_eq!(
        generic["spec"]["variant_known"], false,
        "plain H100 is the generic entry"
    );
    let missing = app.get("/api/v2/gpus/A100").await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("A100-80GB"),
        "{body}"
    );
    let providers: serde_json::Value = app.get("/api/v2/providers").await.json().await.unwrap();
    let lambda = &providers["providers"][0];
    assert_eq!(lambda["source"], "skypilot:lambda");
    assert_eq!(lambda["status"]["freshness"], "fresh");
    assert_eq!(lambda["status"]["live_offers"], 374);
    app.stop().await.unwrap();
}

/// A provider that times out is named in `warnings`; the other sources still answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_times_out_is_reported_while_others_answer() {
    use std::sync::Arc;
    use std::time::Duration;

    use gpubroker::providers::resilience::CircuitBreaker;
    use gpubroker::providers::source::{PriceSource, SourcePolicy};
    use gpubroker::providers::{skypilot::SkypilotSource, vastai::VastSource};
    use gpubroker::workers::ingest::ingest_once;

    // A Vast.ai API that never answers in time.
    let slow = axum::Router::new().route(
        "/api/v0/bundles/",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "{\"offers\": []}"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, slow).await });

    let policy = SourcePolicy {
        timeout: Duration::from_millis(300),
        retries: 1,
        backoff: Duration::from_millis(10),
        ..SourcePolicy::http()
    };
    let vast: Arc<dyn PriceSource> = Arc::new(VastSource::new(Some(fake), None, policy));
    let csv = format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv");
    let lambda: Arc<dyn PriceSource> = Arc::new(SkypilotSource::new(
        "lambda".into(),
        csv,
        SourcePolicy::catalog(),
    ));

    let db = crate::common::TestDb::new(Backend::Sqlite).await.unwrap();
    let settings = db.settings();
    let (key, _) = settings.master_key.load().unwrap();
    let store = db.migrated_store().await;
    let state = gpubroker::app::AppState::with_sources(
        settings,
        store,
        key,
        vec![vast.clone(), lambda.clone()],
    );
    let started = std::time::Instant::now();
    let (a, b) = (
        CircuitBreaker::new(vast.policy()),
        CircuitBreaker::new(lambda.policy()),
    );
    tokio::join!(
        ingest_once(&state, vast.as_ref(), &a),
        ingest_once(&state, lambda.as_ref(), &b)
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout fired: {:?}",
        started.elapsed()
    );

    let router = gpubroker::http::router(state.clone());
    let response = tower::ServiceExt::oneshot(
        router,
        axum::http::Request::get("/api/v2/offers?q=sort%3Dprice&limit=3")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let page: OfferSearchResponse = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(page.total, 374, "lambda's offers are all there");
    assert_eq!(page.warnings.len(), 1, "{:?}", page.warnings);
    assert_eq!(page.warnings[0].source, "vastai");
    assert_eq!(page.warnings[0].freshness, "stale");
    assert!(
        page.warnings[0].message.contains("timed out"),
        "{}",
        page.warnings[0].message
    );
    let health = state.store.source_health().await.unwrap();
    let vast_health = health.iter().find(|h| h.source == "vastai").unwrap();
    assert_eq!((vast_health.failures, vast_health.successes), (1, 0));
}
