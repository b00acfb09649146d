//! The uniform error body for every error status.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use gpubroker::app::AppState;
use gpubroker::error::{ApiError, ErrorBody};
use gpubroker::http::policy::{route, Access, RoutePolicy};
use gpubroker::http::BODY_LIMIT_BYTES;
use serde::Deserialize;
use tower::ServiceExt;

use crate::common::{test_state, Backend};

#[derive(Deserialize)]
struct Order {
    #[allow(dead_code)]
    gpus: u32,
}

async fn router() -> (Router, crate::common::TestDb) {
    let (state, db) = test_state(Backend::Sqlite).await.unwrap();
    let (routes, _) = gpubroker::http::api_routes().split_for_parts();
    let routes: Router<AppState> = routes
        .route(
            "/test/echo",
            post(|Json(order): Json<Order>| async move { Json(order.gpus) }),
        )
        .route("/test/panic", get(panicking_handler))
        .route(
            "/test/internal",
            get(|| async {
                ApiError::internal(anyhow::anyhow!("connection to db:hunter2 failed"))
            }),
        );
    const TEST_ROUTES: &[RoutePolicy] = &[
        route("POST", "/test/echo", Access::Public),
        route("GET", "/test/panic", Access::Public),
        route("GET", "/test/internal", Access::Public),
    ];
    (
        gpubroker::http::with_layers_declaring(routes, state, TEST_ROUTES),
        db,
    )
}

async fn panicking_handler() -> &'static str {
    panic!("secret panic detail")
}

/// Sends `request` and returns status, the `x-request-id` header and the parsed error body.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, String, ErrorBody) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "status {status}"
    );
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: ErrorBody = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{status}: not an error body ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, id, body)
}

fn post_json(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

#[tokio::test]
async fn every_error_status_has_the_uniform_body_with_the_request_id() {
    let (router, _db) = router().await;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            Request::get("/nowhere").body(Body::empty()).unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Request::delete("/health/").body(Body::empty()).unwrap(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            post_json("/test/echo", "text/plain", "{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            post_json("/test/echo", "application/json", r#"{"gpus":"many"}"#),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            post_json("/test/echo", "application/json", "{not json"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            post_json(
                "/test/echo",
                "application/json",
                vec![b' '; BODY_LIMIT_BYTES + 1],
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Request::get("/test/panic").body(Body::empty()).unwrap(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
        ),
        (
            Request::get("/test/internal").body(Body::empty()).unwrap(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
        ),
    ];
    for (request, want_status, want_code) in cases {
        let uri = request.uri().to_string();
        let (status, id, body) = send(&router, request).await;
        assert_eq!(status, want_status, "{uri}");
        assert_eq!(body.error.code, want_code, "{uri}");
        assert_eq!(body.error.request_id.as_deref(), Some(id.as_str()), "{uri}");
        assert!(!body.error.message.is_empty(), "{uri}");
        assert!(
            !body.error.message.contains("secret panic detail"),
            "{uri}: panic text leaked"
        );
        assert!(
            !body.error.message.contains("hunter2"),
            "{uri}: internal cause leaked"
        );
    }
}

#[tokio::test]
async fn a_valid_body_under_the_limit_is_accepted() {
    let (router, _db) = router().await;
    let mut body = br#"{"gpus":8,"pad":""#.to_vec();
    body.extend(std::iter::repeat_n(b'x', BODY_LIMIT_BYTES - 100));
    body.extend(br#""}"#);
    let response = router
        .oneshot(post_json("/test/echo", "application/json", body))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(response.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"8");
}

#[tokio::test]
async fn method_not_allowed_keeps_the_allow_header() {
    let (router, _db) = router().await;
    let response = router
        .oneshot(Request::post("/health/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response.headers()["allow"].to_str().unwrap();
    assert!(allow.contains("GET"), "{allow}");
}
