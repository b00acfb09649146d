//! GPU pods: deploy on the demo market, per-second metering, stop and terminate, plan
//! limits, funds, failed launches and exactly-once charging per (pod, interval); RunPod
//! pods against a faulty fake provider.

mod budgets;
mod fake_runpod;
mod lifecycle;
mod money;
mod providers;
mod restart;
mod telemetry;

use std::time::Duration;

use gpubroker::domain::money::MicroUsd;
use gpubroker::domain::offer::Offer;
use gpubroker::ledger::IdempotencyKey;
use gpubroker::providers::demo;
use serde_json::{json, Value};

use crate::common::{send, spawn_app_configured, Backend, TestApp};

/// An app whose pods boot in 200 ms and are metered in 1 s intervals; the worker runs
/// every `tick`.
pub async fn pod_app(backend: Backend, tick: Duration) -> Option<TestApp> {
    let app = spawn_app_configured(backend, None, |s| {
        s.pods.meter_interval = Duration::from_millis(1_000);
        s.pods.tick = tick;
        s.pods.simulated.boot_delay = Duration::from_millis(200);
    })
    .await?;
    let offers: Vec<Offer> = demo::market_at(1_700_000_000)
        .into_iter()
        .map(|raw| Offer::normalize(raw, demo::SOURCE_ID))
        .collect();
    app.state.catalog.replace_source(demo::SOURCE_ID, offers);
    Some(app)
}

/// A demo offer with an on-demand price.
pub fn demo_offer(app: &TestApp) -> Offer {
    let snapshot = app.state.catalog.snapshot();
    demo::market_at(1_700_000_000)
        .into_iter()
        .map(|raw| Offer::normalize(raw, demo::SOURCE_ID))
        .find_map(|o| snapshot.get(&o.id).filter(|o| o.price.is_some()).cloned())
        .expect("a priced demo offer")
}

/// Credits `amount` micro-USD to `user_id`'s wallet.
pub async fn fund(app: &TestApp, user_id: &str, amount: i64) {
    let key = IdempotencyKey::new("test", &format!("fund:{user_id}:{amount}")).unwrap();
    app.state
        .ledger
        .top_up(&key, user_id, MicroUsd(amount), json!({}))
        .await
        .unwrap();
}

/// (posted, held) of `user_id`'s wallet.
pub async fn wallet(app: &TestApp, user_id: &str) -> (i64, i64) {
    let b = app.state.ledger.balance(user_id).await.unwrap();
    (b.posted.0, b.held.0)
}

/// Deploys `offer_id`; returns the status and body.
pub async fn deploy(app: &TestApp, token: &str, offer_id: &str) -> (u16, Value) {
    send(
        app,
        "POST",
        "/api/v2/pods",
        Some(token),
        Some(json!({ "offer_id": offer_id })),
    )
    .await
}

/// Polls the pod until it is in `state` (10 s at most); returns it.
pub async fn wait_state(app: &TestApp, token: &str, id: &str, state: &str) -> Value {
    let path = format!("/api/v2/pods/{id}");
    let mut last = Value::Null;
    for _ in 0..200 {
        let (status, body) = send(app, "GET", &path, Some(token), None).await;
        assert_eq!(status, 200, "{body}");
        if body["state"] == state {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("pod {id} never became {state}: {last}");
}
