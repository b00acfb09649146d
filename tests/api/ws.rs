//! The WebSocket gateway (`/ws`) through a spawned server: snapshots, filtered price
//! events, errors that keep the connection open, caps, Origin allowlist, slow consumers,
//! per-user notifications and close codes.

use gpubroker::domain::money::MicroUsd;
use gpubroker::events::{Event, UserNotification};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{spawn_app, Backend};
use crate::ws_support::{
    close_code, connect, ingest, lambda, recv, recv_type, send, try_connect, until_pong,
};

both_backends!(
    ws_snapshot_matches_the_query_and_price_changes_reach_matching_subscriptions_only,
    ws_bad_query_is_an_error_and_the_connection_stays_usable,
    ws_notifications_reach_only_their_user,
);

const TARGET: &str = "gpu_8x_h100_sxm5";

async fn ws_snapshot_matches_the_query_and_price_changes_reach_matching_subscriptions_only(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    ingest(&app, "skypilot:lambda", lambda()).await;
    let report = lambda();
    let target = report
        .offers
        .iter()
        .position(|o| o.instance_type == TARGET)
        .unwrap();
    let old = report.offers[target].price.unwrap();
    let id =
        gpubroker::domain::offer::offer_id("lambda", TARGET, &report.offers[target].region, None);

    let (mut ws, welcome) = connect(&app, "", &[]).await;
    assert_eq!(welcome["user_id"], Value::Null, "anonymous");
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "h100", "query": "gpu=H100 sort=price limit=5"}),
    )
    .await;
    let snapshot = recv_type(&mut ws, "snapshot").await;
    assert_eq!(snapshot["id"], "h100");
    let rest: Value = app
        .get("/api/v2/offers?q=gpu%3DH100%20sort%3Dprice%20limit%3D5")
        .await
        .json()
        .await
        .unwrap();
    let ids = |v: &Value| -> Vec<String> {
        v["offers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&snapshot).len(), 5, "capped by the query's limit");
    assert_eq!(
        ids(&snapshot),
        ids(&rest),
        "the same offers as the search API"
    );
    assert_eq!(snapshot["total"], rest["total"]);
    assert!(snapshot["offers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["gpu"].as_str().unwrap().starts_with("H100")));

    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "a10", "query": "gpu=A10"}),
    )
    .await;
    assert!(
        recv_type(&mut ws, "snapshot").await["total"]
            .as_u64()
            .unwrap()
            > 0
    );
    let threshold = old.as_usd_f64() + 0.5;
    send(&mut ws, &json!({"type": "subscribe", "id": "cheap", "query": format!("instance_type={TARGET} price<{threshold}")})).await;
    let cheap = recv_type(&mut ws, "snapshot").await;
    assert!(ids(&cheap).contains(&id), "{cheap}");

    send(&mut ws, &json!({"type": "subscribe", "id": "pricey", "query": format!("instance_type={TARGET} price>{threshold}")})).await;
    let pricey = recv_type(&mut ws, "snapshot").await;
    assert!(!ids(&pricey).contains(&id), "{pricey}");

    let mut moved = lambda();
    moved.offers[target].price = Some(MicroUsd(old.0 + 1_000_000));
    ingest(&app, "skypilot:lambda", moved).await;

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = recv_type(&mut ws, "event").await;
        seen.push(event);
    }
    seen.extend(until_pong(&mut ws).await);
    let events: Vec<&Value> = seen.iter().filter(|m| m["type"] == "event").collect();
    assert_eq!(events.len(), 3, "one per matching subscription: {seen:?}");
    let h100 = events
        .iter()
        .find(|e| e["id"] == "h100")
        .expect("h100 event");
    assert_eq!(h100["kind"], "offer.price_changed");
    assert_eq!(h100["transition"], "updated");
    assert_eq!(h100["offer"]["id"], id.as_str());
    assert_eq!(
        h100["offer"]["price_per_hour"],
        json!(old.as_usd_f64() + 1.0)
    );
    assert_eq!(h100["previous"]["price_per_hour"], json!(old.as_usd_f64()));
    let left = events
        .iter()
        .find(|e| e["id"] == "cheap")
        .expect("cheap event");
    assert_eq!(
        left["transition"], "left",
        "the new price is above the filter"
    );
    assert!(
        events.iter().all(|e| e["id"] != "a10"),
        "no event for a subscription the offer never matched"
    );
    app.stop().await.unwrap();
}

async fn ws_bad_query_is_an_error_and_the_connection_stays_usable(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (mut ws, _) = connect(&app, "", &[]).await;
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "x", "query": "gpu=H100 pricee<3"}),
    )
    .await;
    let error = recv(&mut ws).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "x");
    assert_eq!(error["code"], "bad_query");
    let expected = gpubroker::domain::query::Query::parse("gpu=H100 pricee<3")
        .unwrap_err()
        .to_string();
    assert_eq!(error["message"], expected.as_str(), "the parser's message");

    ws_send_text(&mut ws, "not json").await;
    assert_eq!(recv(&mut ws).await["code"], "bad_message");
    send(&mut ws, &json!({"type": "unsubscribe", "id": "nope"})).await;
    assert_eq!(recv(&mut ws).await["code"], "unknown_subscription");

    assert!(until_pong(&mut ws).await.is_empty(), "still answering");
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "x", "query": "gpu=H100"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "snapshot");
    send(&mut ws, &json!({"type": "unsubscribe", "id": "x"})).await;
    assert_eq!(recv(&mut ws).await["type"], "unsubscribed");
    app.stop().await.unwrap();
}

pub async fn ws_send_text(ws: &mut crate::ws_support::Ws, text: &str) {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::text(text))
        .await
        .unwrap();
}

async fn ws_notifications_reach_only_their_user(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let a = crate::auth::register_and_login(&app, "a@example.com").await;
    let b = crate::auth::register_and_login(&app, "b@example.com").await;
    let token_a = a["access_token"].as_str().unwrap();
    let token_b = b["access_token"].as_str().unwrap();
    let bearer_a = format!("Bearer {token_a}");

    let (mut by_header, welcome_a) = connect(&app, "", &[("authorization", &bearer_a)]).await;
    let user_a = welcome_a["user_id"].as_str().unwrap().to_owned();
    let (mut by_query, welcome_b) = connect(&app, &format!("?token={token_b}"), &[]).await;
    let user_b = welcome_b["user_id"].as_str().unwrap().to_owned();
    assert_ne!(user_a, user_b);
    let (mut by_message, _) = connect(&app, "", &[]).await;
    send(&mut by_message, &json!({"type": "auth", "token": token_a})).await;
    let signed_in = recv(&mut by_message).await;
    assert_eq!(signed_in["type"], "authenticated");
    assert_eq!(signed_in["user_id"], user_a.as_str());
    let (mut anonymous, _) = connect(&app, "", &[]).await;

    let note = |user: &str, n: u32| {
        Event::Notification(UserNotification {
            user_id: user.to_owned(),
            kind: "budget.alert".into(),
            payload: json!({"n": n}),
        })
    };
    app.state.events.publish(vec![note(&user_a, 1)]);
    app.state.events.publish(vec![note(&user_b, 2)]);
    for ws in [&mut by_header, &mut by_message] {
        let got = recv_type(ws, "notification").await;
        assert_eq!(
            (got["kind"].clone(), got["payload"]["n"].clone()),
            (json!("budget.alert"), json!(1))
        );
    }
    let got = recv_type(&mut by_query, "notification").await;
    assert_eq!(
        got["payload"]["n"], 2,
        "B's first notification is B's own, not A's"
    );
    app.state.events.publish(vec![note(&user_b, 3)]);
    let got = recv_type(&mut by_query, "notification").await;
    assert_eq!(got["payload"]["n"], 3);
    assert!(
        until_pong(&mut anonymous)
            .await
            .iter()
            .all(|m| m["type"] != "notification"),
        "anonymous clients get no notifications"
    );

    // A bad credential is refused: 401 at the upgrade, or an error and close 1008.
    assert_eq!(
        try_connect(&app, "", &[("authorization", "Bearer not-a-token")])
            .await
            .err(),
        Some(401)
    );
    assert_eq!(try_connect(&app, "?token=nope", &[]).await.err(), Some(401));
    let (mut bad, _) = connect(&app, "", &[]).await;
    send(&mut bad, &json!({"type": "auth", "token": "nope"})).await;
    assert_eq!(recv(&mut bad).await["code"], "unauthorized");
    assert_eq!(close_code(&mut bad).await, 1008);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_provider_status_reaches_subscriptions_of_that_provider() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (mut ws, _) = connect(&app, "", &[]).await;
    let subscriptions = [
        ("lambda", "provider=lambda instance_type=gpu_8x_h100_sxm5"),
        ("vast", "provider=vastai"),
    ];
    for (id, query) in subscriptions {
        send(
            &mut ws,
            &json!({"type": "subscribe", "id": id, "query": query}),
        )
        .await;
        assert_eq!(recv(&mut ws).await["total"], 0);
    }
    // The first ingest of a source adds its offers and makes it known (fresh).
    ingest(&app, "skypilot:lambda", lambda()).await;
    let status = loop {
        let event = recv_type(&mut ws, "event").await;
        if event["kind"] == "provider.status" {
            break event;
        }
        assert_eq!(event["kind"], "offer.added");
        assert_eq!(event["id"], "lambda");
        assert_eq!(event["offer"]["instance_type"], TARGET);
    };
    assert_eq!(status["id"], "lambda");
    assert_eq!(status["provider"]["source"], "skypilot:lambda");
    assert_eq!(status["provider"]["freshness"], "fresh");
    assert_eq!(status["previous"], Value::Null);
    let rest = until_pong(&mut ws).await;
    assert!(
        rest.iter().all(|m| m["id"] != "vast"),
        "nothing for another provider's subscription: {rest:?}"
    );
    app.stop().await.unwrap();
}
