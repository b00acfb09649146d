//! Payments end to end: the sandbox checkout, webhooks (signatures, reordering and
//! duplication), refunds, subscriptions, `Idempotency-Key`, and Stripe against a local
//! fake server.

use serde_json::{json, Value};

use crate::common::{send, TestApp};

mod idempotency;
mod sandbox;
mod stripe;
mod subscriptions;
mod webhooks;

/// Posts `event` to the webhook of `gateway`, signed with `secret` at `timestamp`.
pub async fn post_event_at(
    app: &TestApp,
    gateway: &str,
    secret: &str,
    event: &Value,
    timestamp: i64,
) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let signature = gpubroker::payments::signature::sign(secret, timestamp, &body);
    let response = app
        .client
        .post(format!("{}/api/v2/billing/webhooks/{gateway}", app.base))
        .header("Stripe-Signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Posts `event` signed now with the configured gateway's secret.
pub async fn post_event(app: &TestApp, event: &Value) -> (u16, Value) {
    let gateway = app.state.payments.gateway_name();
    let secret = app.state.payments.webhook_secret().to_owned();
    post_event_at(app, gateway, &secret, event, chrono::Utc::now().timestamp()).await
}

/// A Stripe-shaped event.
pub fn event(id: &str, kind: &str, object: Value) -> Value {
    let mut event = json!({"id": id, "object": "event", "api_version": "2024-06-20", "type": kind,
           "created": 1_764_000_000, "livemode": false, "pending_webhooks": 1,
           "request": {"id": null, "idempotency_key": null}, "data": {}});
    event["data"]["object"] = object;
    event
}

/// Starts a top-up of `amount` micro-USD; returns the checkout JSON.
pub async fn start_top_up(app: &TestApp, token: &str, amount: i64) -> Value {
    let (status, body) = send(
        app,
        "POST",
        "/api/v2/billing/top-ups",
        Some(token),
        Some(json!({ "amount_micro_usd": amount })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The available balance of the holder of `token`.
pub async fn available(app: &TestApp, token: &str) -> i64 {
    let (status, wallet) = send(app, "GET", "/api/v2/billing/wallet", Some(token), None).await;
    assert_eq!(status, 200, "{wallet}");
    wallet["available_micro_usd"].as_i64().unwrap()
}

/// Asserts the ledger's invariants hold on the app's database.
pub async fn assert_ledger_clean(app: &TestApp) {
    let report = app.state.store.ledger_verify().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

/// Submits the sandbox card form of `checkout_url` (a page of `app`); returns the status,
/// the Location header and the page.
pub async fn pay(
    app: &TestApp,
    checkout_url: &str,
    form: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    assert!(checkout_url.starts_with(&app.base), "{checkout_url}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.post(checkout_url).form(form).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

/// Waits (up to 5 s) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
