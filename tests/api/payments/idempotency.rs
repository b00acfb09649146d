//! The `Idempotency-Key` contract (RELIABILITY security test 3) on money-moving POSTs.

use gpubroker::auth::{sha256_hex, Role};
use gpubroker::http::payments::TopUpRequest;
use gpubroker::store::idempotency::IdempotencyClaim;
use serde_json::{json, Value};

use crate::common::{account, spawn_app, Backend, TestApp};

crate::both_backends!(idempotency_key_contract);

async fn post(
    app: &TestApp,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, String) {
    let mut request = app
        .client
        .post(format!("{}/api/v2/billing/top-ups", app.base))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, replayed, response.text().await.unwrap())
}

async fn idempotency_key_contract(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (a_id, a) = account(&app, "idem-a@example.com", Role::User).await;
    let (_, b) = account(&app, "idem-b@example.com", Role::User).await;
    let body = json!({"amount_micro_usd": 5_000_000});

    // A replay returns the identical response and opens no second checkout.
    let (status, replayed, first) = post(&app, &a.access_token, Some("key-1"), &body).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(replayed, None);
    let (status, replayed, again) = post(&app, &a.access_token, Some("key-1"), &body).await;
    assert_eq!(status, 201);
    assert_eq!(replayed.as_deref(), Some("true"));
    assert_eq!(again, first, "byte-identical replay");

    // The same key with another body is refused and changes nothing.
    let (status, _, refused) = post(
        &app,
        &a.access_token,
        Some("key-1"),
        &json!({"amount_micro_usd": 6_000_000}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");

    // Keys are scoped per user.
    let (status, _, other) = post(&app, &b.access_token, Some("key-1"), &body).await;
    assert_eq!(status, 201);
    let id = |text: &str| serde_json::from_str::<Value>(text).unwrap()["id"].clone();
    assert_ne!(id(&other), id(&first));

    // Too long → 400; 255 characters are fine.
    let (status, _, _) = post(&app, &a.access_token, Some(&"k".repeat(256)), &body).await;
    assert_eq!(status, 400);
    let (status, _, _) = post(&app, &a.access_token, Some(&"k".repeat(255)), &body).await;
    assert_eq!(status, 201);

    // A duplicate of a request still in progress → 409.
    let request = TopUpRequest {
        amount_micro_usd: 5_000_000,
        return_path: None,
    };
    let fingerprint = sha256_hex(
        format!(
            "POST /api/v2/billing/top-ups {}",
            serde_json::to_string(&request).unwrap()
        )
        .as_bytes(),
    );
    let claim = app
        .state
        .store
        .idempotency_claim(&a_id, "key-busy", &fingerprint, 120)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);
    let (status, _, busy) = post(&app, &a.access_token, Some("key-busy"), &body).await;
    assert_eq!(status, 409, "{busy}");
    // A claim abandoned by a crashed process is taken over once stale.
    let claim = app
        .state
        .store
        .idempotency_claim(&a_id, "key-busy", &fingerprint, 0)
        .await
        .unwrap();
    assert_eq!(claim, IdempotencyClaim::Claimed);

    // Without a key every request is new.
    let (_, _, one) = post(&app, &a.access_token, None, &body).await;
    let (_, _, two) = post(&app, &a.access_token, None, &body).await;
    assert_ne!(id(&one), id(&two));
}
