//! `/health/`, `/ready`, `/metrics` and request ids.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gpubroker::app::Phase;
use gpubroker::http::ops::{CheckStatus, HealthResponse, ReadyResponse};
use tower::ServiceExt;

use crate::both_backends;
use crate::common::{spawn_app, test_state, Backend};

both_backends!(
    health_is_healthy_with_every_check_and_version,
    health_names_the_failing_database
);

async fn health_is_healthy_with_every_check_and_version(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app.get("/health/").await;
    assert_eq!(response.status(), 200);
    let mut body: serde_json::Value = response.json().await.unwrap();
    let fields = body.as_object_mut().unwrap();
    assert_eq!(
        fields.remove("replica").unwrap(),
        app.state.replica_id.as_str()
    );
    assert!(fields.remove("leases").unwrap().is_object(), "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "status": "healthy",
            "checks": {"database": "healthy", "config": "healthy"},
            "version": env!("CARGO_PKG_VERSION"),
        })
    );
    assert_eq!(
        app.get("/health").await.status(),
        200,
        "the slash-less alias answers too"
    );
    // A single node always wins its leases (SQLite: trivially; PostgreSQL: nobody else).
    let mut leases = serde_json::Value::Null;
    for _ in 0..100 {
        let body: serde_json::Value = app.get("/health/").await.json().await.unwrap();
        leases = body["leases"].clone();
        if leases["maintenance"].is_i64() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(leases["maintenance"], 1, "{leases}");
    app.stop().await.unwrap();
}

async fn health_names_the_failing_database(backend: Backend) {
    let Some((state, _db)) = test_state(backend).await else {
        return;
    };
    state.store.close().await;
    let router = gpubroker::http::router(state);
    let response = router
        .oneshot(Request::get("/health/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: HealthResponse = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body.status, CheckStatus::Unhealthy);
    assert_eq!(body.checks["database"], CheckStatus::Unhealthy);
    assert_eq!(body.checks["config"], CheckStatus::Healthy);
    assert!(body.details.contains_key("database"));
}

#[tokio::test]
async fn ready_is_503_while_starting_and_draining() {
    let (state, _db) = test_state(Backend::Sqlite).await.unwrap();
    let router = gpubroker::http::router(state.clone());
    let ready = |router: axum::Router| async move {
        let response = router
            .oneshot(Request::get("/ready").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: ReadyResponse = serde_json::from_slice(&bytes).unwrap();
        (status, body.status)
    };
    assert_eq!(
        ready(router.clone()).await,
        (StatusCode::SERVICE_UNAVAILABLE, "starting".into())
    );
    state.set_phase(Phase::Ready);
    assert_eq!(
        ready(router.clone()).await,
        (StatusCode::OK, "ready".into())
    );
    state.set_phase(Phase::Draining);
    assert_eq!(
        ready(router.clone()).await,
        (StatusCode::SERVICE_UNAVAILABLE, "draining".into())
    );
    state.set_phase(Phase::Ready);
    assert_eq!(state.phase(), Phase::Draining, "draining is final");
}

#[tokio::test]
async fn metrics_count_requests_by_matched_route_with_pool_gauges_and_build_info() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    assert_eq!(app.get("/api/v2/").await.status(), 200);
    assert_eq!(app.get("/no/such/page").await.status(), 404);
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for needle in [
        r#"http_requests_total{method="GET",route="/api/v2/",status="200"}"#,
        r#"http_requests_total{method="GET",route="unmatched",status="404"}"#,
        r#"http_request_duration_seconds_bucket{method="GET",route="/api/v2/",status="200",le="0.005"}"#,
        r#"db_pool_connections{state="idle",backend="sqlite"}"#,
        r#"db_pool_max_connections{backend="sqlite"} 5"#,
        "gpubroker_build_info{version=",
        "gpubroker_ready 1",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    assert!(
        !text.contains("/no/such/page"),
        "raw paths must not become labels"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn request_id_is_generated_echoed_and_sanitised() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let generated = app.get("/health/").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "generated id is a uuid: {id}"
    );

    let url = format!("{}/health/", app.base);
    let echoed = app
        .client
        .get(&url)
        .header("x-request-id", "client-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "client-abc.123");

    let hostile = app
        .client
        .get(&url)
        .header("x-request-id", "bad id;drop")
        .send()
        .await
        .unwrap();
    let replaced = hostile.headers()["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(replaced).is_ok(),
        "unsafe ids are replaced: {replaced}"
    );
    app.stop().await.unwrap();
}
