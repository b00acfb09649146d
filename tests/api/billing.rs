//! The read-only billing API on both backends: the wallet and transactions of the
//! signed-in user only, with `Cache-Control: no-store`.

use chrono::{Duration, Utc};
use gpubroker::auth::{Email, Password, Role, Scope};
use gpubroker::domain::money::MicroUsd;
use gpubroker::ledger::IdempotencyKey;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{spawn_app, Backend, TestApp};

both_backends!(
    billing_wallet_and_transactions_need_credentials,
    billing_wallet_shows_own_top_ups_and_holds_only,
    billing_transactions_are_own_and_cursor_paged,
);

const PASSWORD: &str = "correct horse battery";

/// Registers a user and returns its id and an access token.
async fn signed_in(app: &TestApp, email: &str) -> (String, String) {
    let email = Email::parse(email).unwrap();
    let password = Password::parse(PASSWORD).unwrap();
    let user = app
        .state
        .auth
        .register(&email, &password, Role::User, None)
        .await
        .unwrap();
    let pair = app
        .state
        .auth
        .login(email.as_str(), PASSWORD)
        .await
        .unwrap();
    (user.id, pair.access_token)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, cache, response.json().await.unwrap_or(Value::Null))
}

async fn top_up(app: &TestApp, user: &str, key: &str, micros: i64) {
    app.state
        .ledger
        .top_up(
            &IdempotencyKey::new(user, key).unwrap(),
            user,
            MicroUsd(micros),
            json!({ "payment": key }),
        )
        .await
        .unwrap();
}

async fn billing_wallet_and_transactions_need_credentials(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for path in ["/api/v2/billing/wallet", "/api/v2/billing/transactions"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 401, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
        let (status, _, _) = get(&app, path, "not-a-token").await;
        assert_eq!(status, 401, "{path}");
    }
    // An API key without the read scope is refused.
    let (id, _) = signed_in(&app, "keys@example.com").await;
    let key = app
        .state
        .auth
        .create_api_key(
            &id,
            &Scope::of_role(Role::User),
            "trade only",
            &[Scope::Trade],
        )
        .await
        .unwrap();
    let (status, _, _) = get(&app, "/api/v2/billing/wallet", &key.key).await;
    assert_eq!(status, 403);
    app.stop().await.unwrap();
}

async fn billing_wallet_shows_own_top_ups_and_holds_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ann, ann_token) = signed_in(&app, "ann@example.com").await;
    let (_bob, bob_token) = signed_in(&app, "bob@example.com").await;
    let (status, cache, wallet) = get(&app, "/api/v2/billing/wallet", &ann_token).await;
    assert_eq!(status, 200);
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(
        wallet,
        json!({"currency": "USD", "posted_micro_usd": 0, "held_micro_usd": 0,
               "available_micro_usd": 0, "holds": []})
    );
    top_up(&app, &ann, "pay-1", 25_000_000).await;
    let hold = app
        .state
        .ledger
        .place_hold(
            &IdempotencyKey::new(&ann, "hold-1").unwrap(),
            &ann,
            MicroUsd(5_000_000),
            Utc::now() + Duration::hours(1),
            json!({}),
        )
        .await
        .unwrap();
    let (_, _, wallet) = get(&app, "/api/v2/billing/wallet", &ann_token).await;
    assert_eq!(wallet["posted_micro_usd"], 25_000_000);
    assert_eq!(wallet["held_micro_usd"], 5_000_000);
    assert_eq!(wallet["available_micro_usd"], 20_000_000);
    assert_eq!(wallet["holds"][0]["id"], hold.id.as_str());
    assert_eq!(wallet["holds"][0]["amount_micro_usd"], 5_000_000);
    // Bob sees his own (empty) wallet, never Ann's.
    let (status, _, wallet) = get(&app, "/api/v2/billing/wallet", &bob_token).await;
    assert_eq!(status, 200);
    assert_eq!(wallet["posted_micro_usd"], 0);
    assert_eq!(wallet["holds"], json!([]));
    app.stop().await.unwrap();
}

async fn billing_transactions_are_own_and_cursor_paged(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ann, ann_token) = signed_in(&app, "ann@example.com").await;
    let (bob, bob_token) = signed_in(&app, "bob@example.com").await;
    for n in 1..=3 {
        top_up(&app, &ann, &format!("pay-{n}"), n * 1_000_000).await;
    }
    top_up(&app, &bob, "bob-pay", 7_000_000).await;
    let path = "/api/v2/billing/transactions?limit=2";
    let (status, cache, page) = get(&app, path, &ann_token).await;
    assert_eq!((status, cache.as_deref()), (200, Some("no-store")));
    let amounts: Vec<i64> = page["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount_micro_usd"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [3_000_000, 2_000_000], "newest first");
    assert_eq!(page["transactions"][0]["direction"], "credit");
    assert_eq!(page["transactions"][0]["kind"], "top_up");
    assert_eq!(
        page["transactions"][0]["metadata"],
        json!({"payment": "pay-3"})
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, _, next) = get(
        &app,
        &format!("/api/v2/billing/transactions?limit=2&cursor={cursor}"),
        &ann_token,
    )
    .await;
    assert_eq!(next["transactions"].as_array().unwrap().len(), 1);
    assert_eq!(next["transactions"][0]["amount_micro_usd"], 1_000_000);
    assert_eq!(next["next_cursor"], Value::Null);
    // A huge limit is capped, a bad cursor is a client error.
    let (status, _, all) = get(
        &app,
        "/api/v2/billing/transactions?limit=100000",
        &ann_token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(all["transactions"].as_array().unwrap().len(), 3);
    let (status, _, body) = get(&app, "/api/v2/billing/transactions?cursor=zzz", &ann_token).await;
    assert_eq!(status, 422, "{body}");
    let (status, _, _) = get(&app, "/api/v2/billing/transactions?limit=-1", &ann_token).await;
    assert_eq!(status, 400);
    // Bob sees only his own top-up.
    let (_, _, bobs) = get(&app, "/api/v2/billing/transactions", &bob_token).await;
    let list = bobs["transactions"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["amount_micro_usd"], 7_000_000);
    app.stop().await.unwrap();
}
