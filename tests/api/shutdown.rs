//! Graceful shutdown: readiness turns 503 at once, in-flight requests finish.

use gpubroker::http::policy::{route, Access, RoutePolicy};
use std::time::Duration;

use axum::routing::get;
use gpubroker::app::{AppState, Phase};

use crate::common::{spawn_app_with, Backend};

fn router_with_slow_route(state: AppState) -> axum::Router {
    let (routes, _) = gpubroker::http::api_routes().split_for_parts();
    let routes = routes.route(
        "/test/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "finished"
        }),
    );
    const TEST_ROUTES: &[RoutePolicy] = &[route("GET", "/test/slow", Access::Public)];
    gpubroker::http::with_layers_declaring(routes, state, TEST_ROUTES)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_and_readiness_turns_off_at_once() {
    let app = spawn_app_with(Backend::Sqlite, Some(router_with_slow_route))
        .await
        .unwrap();
    let url = format!("{}/test/slow", app.base);
    let client = app.client.clone();
    let slow = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let state = app.state.clone();
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        state.phase(),
        Phase::Draining,
        "readiness is off as soon as shutdown starts"
    );
    let response = slow.await.unwrap().expect("in-flight request completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "finished");
    stopping.await.unwrap().expect("serve returns cleanly");
    assert!(
        state.shutdown.is_cancelled(),
        "background tasks were told to stop"
    );
}
