//! Plans and subscriptions through the sandbox: active only once paid, cancellation at
//! period end or now with proration credited to the wallet.

use gpubroker::auth::Role;
use serde_json::json;

use super::{assert_ledger_clean, available, eventually, pay};
use crate::common::{account, send, spawn_app, Backend};

crate::both_backends!(a_subscription_moves_only_on_payment_and_prorates_on_cancel);

async fn a_subscription_moves_only_on_payment_and_prorates_on_cancel(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, plans) = send(&app, "GET", "/api/v2/billing/plans", None, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = plans["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["free", "pro", "enterprise"]);
    assert_eq!(plans["gateway"], "sandbox");

    let (user_id, user) = account(&app, "subscriber@example.com", Role::User).await;
    let token = user.access_token.as_str();
    let (status, _) = send(
        &app,
        "GET",
        "/api/v2/billing/subscription",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        app.state.payments.plan_of(&user_id).await.unwrap().id,
        "free"
    );
    for (plan, interval) in [("free", "monthly"), ("pro", "weekly"), ("gold", "monthly")] {
        let (status, body) = send(
            &app,
            "POST",
            "/api/v2/billing/subscription",
            Some(token),
            Some(json!({"plan_id": plan, "billing_interval": interval})),
        )
        .await;
        assert_eq!(status, 422, "{plan}/{interval}: {body}");
    }

    let (status, checkout) = send(
        &app,
        "POST",
        "/api/v2/billing/subscription",
        Some(token),
        Some(json!({"plan_id": "pro", "billing_interval": "monthly"})),
    )
    .await;
    assert_eq!(status, 201, "{checkout}");
    assert_eq!(checkout["amount_micro_usd"], 29_000_000);
    // Not active before payment.
    let (status, _) = send(
        &app,
        "GET",
        "/api/v2/billing/subscription",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 404);

    let url = checkout["checkout_url"].as_str().unwrap();
    let (status, _, page) = pay(
        &app,
        url,
        &[("action", "pay"), ("card_number", "5555 5555 5555 4444")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    let (status, sub) = send(
        &app,
        "GET",
        "/api/v2/billing/subscription",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["plan_id"], "pro");
    assert_eq!(
        app.state.payments.plan_of(&user_id).await.unwrap().id,
        "pro"
    );
    let (_, invoices) = send(&app, "GET", "/api/v2/billing/invoices", Some(token), None).await;
    let invoices = invoices["invoices"].as_array().unwrap().clone();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["status"], "paid");
    assert_eq!(invoices[0]["amount"], 29_000_000);
    // The subscription is paid to the gateway, not from the wallet.
    assert_eq!(available(&app, token).await, 0);

    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/billing/subscription",
        Some(token),
        Some(json!({"plan_id": "enterprise", "billing_interval": "annual"})),
    )
    .await;
    assert_eq!(status, 409, "one subscription at a time: {body}");

    let (status, sub) = send(
        &app,
        "DELETE",
        "/api/v2/billing/subscription",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["cancel_at_period_end"], true);
    assert_eq!(
        sub["status"], "active",
        "runs to the end of the paid period"
    );

    let (status, sub) = send(
        &app,
        "DELETE",
        "/api/v2/billing/subscription?immediately=true",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["status"], "canceled");
    let credit = sub["proration_credit_micro_usd"].as_i64().unwrap();
    // Almost the whole month was unused: at least $28.90 of $29, whole cents.
    assert!((28_900_000..=29_000_000).contains(&credit), "{credit}");
    assert_eq!(credit % 10_000, 0);
    assert_eq!(available(&app, token).await, credit);
    // Repeating the cancellation credits nothing more.
    let (status, _) = send(
        &app,
        "DELETE",
        "/api/v2/billing/subscription?immediately=true",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(available(&app, token).await, credit);
    assert_eq!(
        app.state.payments.plan_of(&user_id).await.unwrap().id,
        "free"
    );
    // The sandbox reports the deletion by webhook; it changes nothing further.
    eventually("the deletion event", || async {
        app.state
            .store
            .payment_events_waiting("sandbox", 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    assert_eq!(available(&app, token).await, credit);
    assert_ledger_clean(&app).await;
}
