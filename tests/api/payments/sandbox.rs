//! The whole money flow offline: sandbox checkout → signed webhook → one wallet credit,
//! declined and 3-D Secure cards, and refunds by finance staff.

use gpubroker::auth::Role;
use gpubroker::domain::money::MicroUsd;
use gpubroker::ledger::IdempotencyKey;
use serde_json::json;

use super::{assert_ledger_clean, available, eventually, pay, start_top_up};
use crate::common::{account, send, spawn_app, Backend};

crate::both_backends!(
    a_sandbox_top_up_credits_the_wallet_once,
    declined_and_3d_secure_cards_behave_like_stripe_test_cards,
    finance_refunds_part_of_a_payment_never_more_than_captured,
);

async fn a_sandbox_top_up_credits_the_wallet_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, user) = account(&app, "payer@example.com", Role::User).await;
    let token = user.access_token.as_str();
    let checkout = start_top_up(&app, token, 25_000_000).await;
    assert_eq!(checkout["status"], "open");
    assert_eq!(checkout["gateway"], "sandbox");
    let url = checkout["checkout_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/sandbox/checkout/cs_sandbox_", app.base)),
        "{url}"
    );
    // Nothing is credited by starting a checkout.
    assert_eq!(available(&app, token).await, 0);

    let page = app.client.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("25.00") && html.contains("Wallet top-up"),
        "{html}"
    );

    let mut events = app.state.events.subscribe();
    let (status, location, page) = pay(
        &app,
        &url,
        &[("action", "pay"), ("card_number", "4242 4242 4242 4242")],
    )
    .await;
    assert_eq!(status, 303, "{page}");
    // The user's live connections are told.
    let notified = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let batch = events.recv().await.unwrap();
            for event in batch.events.iter() {
                if let gpubroker::events::Event::Notification(n) = event {
                    if n.kind == "payment.succeeded" {
                        return n.clone();
                    }
                }
            }
        }
    })
    .await
    .expect("a payment.succeeded notification");
    assert_eq!(notified.payload["amount_micro_usd"], 25_000_000);
    let id = checkout["id"].as_str().unwrap();
    let location = location.unwrap();
    assert!(
        location.contains(&format!("checkout={id}")) && location.contains("result=success"),
        "{location}"
    );
    assert_eq!(available(&app, token).await, 25_000_000);
    let (_, after) = send(
        &app,
        "GET",
        &format!("/api/v2/billing/top-ups/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(after["status"], "completed");
    assert!(after["completed_at"].is_string());

    // The card is remembered by brand and last four digits only.
    let (_, methods) = send(
        &app,
        "GET",
        "/api/v2/billing/payment-methods",
        Some(token),
        None,
    )
    .await;
    let methods = methods["payment_methods"].as_array().unwrap().clone();
    assert_eq!(methods.len(), 1, "{methods:?}");
    assert_eq!(methods[0]["last4"], "4242");
    assert_eq!(methods[0]["brand"], "visa");
    assert!(!methods[0].to_string().contains("4242424242424242"));

    // Paying the same checkout again changes nothing.
    let (status, _, page) = pay(
        &app,
        &url,
        &[("action", "pay"), ("card_number", "4242424242424242")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("already paid"), "{page}");
    assert_eq!(available(&app, token).await, 25_000_000);

    let (_, transactions) = send(
        &app,
        "GET",
        "/api/v2/billing/transactions",
        Some(token),
        None,
    )
    .await;
    let items = transactions["transactions"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["kind"], "top_up");
    assert_eq!(items[0]["metadata"]["checkout_id"], id);
    assert_ledger_clean(&app).await;
}

async fn declined_and_3d_secure_cards_behave_like_stripe_test_cards(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, user) = account(&app, "cards@example.com", Role::User).await;
    let token = user.access_token.as_str();
    let checkout = start_top_up(&app, token, 10_000_000).await;
    let url = checkout["checkout_url"].as_str().unwrap().to_owned();

    let (status, _, page) = pay(
        &app,
        &url,
        &[("action", "pay"), ("card_number", "4000 0000 0000 0002")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("declined"), "{page}");
    let (status, _, page) = pay(&app, &url, &[("action", "pay"), ("card_number", "1234")]).await;
    assert_eq!(status, 200);
    assert!(page.contains("not a valid card number"), "{page}");
    assert_eq!(available(&app, token).await, 0);

    let (status, _, page) = pay(
        &app,
        &url,
        &[("action", "pay"), ("card_number", "4000 0027 6000 3184")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("3-D Secure") && page.contains("3184"),
        "{page}"
    );
    assert_eq!(
        available(&app, token).await,
        0,
        "nothing is charged before authentication"
    );
    let (status, _, page) = pay(
        &app,
        &url,
        &[
            ("action", "fail_authentication"),
            ("brand", "visa"),
            ("last4", "3184"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("Authentication failed"), "{page}");
    assert_eq!(available(&app, token).await, 0);
    let (status, _, _) = pay(
        &app,
        &url,
        &[
            ("action", "authenticate"),
            ("brand", "visa"),
            ("last4", "3184"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(available(&app, token).await, 10_000_000);

    // Unknown sessions are 404 pages; bad amounts never reach the gateway.
    let missing = app
        .client
        .get(format!("{}/sandbox/checkout/cs_sandbox_nope", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    for amount in [4_990_000_i64, 10_000_010_000, 25_000_001] {
        let (status, body) = send(
            &app,
            "POST",
            "/api/v2/billing/top-ups",
            Some(token),
            Some(json!({ "amount_micro_usd": amount })),
        )
        .await;
        assert_eq!(status, 422, "{amount}: {body}");
    }
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/billing/top-ups",
        Some(token),
        Some(json!({ "amount_micro_usd": 5_000_000, "return_path": "https://evil.example/" })),
    )
    .await;
    assert_eq!(status, 422, "the return path must stay on this site");
    assert_ledger_clean(&app).await;
}

async fn finance_refunds_part_of_a_payment_never_more_than_captured(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (user_id, user) = account(&app, "refundee@example.com", Role::User).await;
    let (finance_id, finance) = account(&app, "finance@example.com", Role::Finance).await;
    let (_, support) = account(&app, "support@example.com", Role::Support).await;
    let token = user.access_token.as_str();
    let checkout = start_top_up(&app, token, 25_000_000).await;
    let url = checkout["checkout_url"].as_str().unwrap().to_owned();
    let (status, _, _) = pay(
        &app,
        &url,
        &[("action", "pay"), ("card_number", "4242424242424242")],
    )
    .await;
    assert_eq!(status, 303);

    let (status, page) = send(
        &app,
        "GET",
        "/api/v2/admin/payments",
        Some(&support.access_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let payment = page["payments"][0].clone();
    assert_eq!(payment["user_id"], user_id.as_str());
    assert_eq!(payment["amount"], 25_000_000);
    let payment_id = payment["id"].as_str().unwrap().to_owned();

    let refund = |amount: Option<i64>| json!({"payment_id": payment_id, "amount_micro_usd": amount, "reason": "customer asked"});
    // Users and support cannot refund.
    for who in [token, support.access_token.as_str()] {
        let (status, _) = send(
            &app,
            "POST",
            "/api/v2/admin/refunds",
            Some(who),
            Some(refund(Some(1_000_000))),
        )
        .await;
        assert_eq!(status, 403);
    }
    let (status, first) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&finance.access_token),
        Some(refund(Some(10_000_000))),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["requested_by"], finance_id.as_str());
    assert!(first["gateway_ref"]
        .as_str()
        .unwrap()
        .starts_with("re_sandbox_"));
    assert_eq!(available(&app, token).await, 15_000_000);

    // More than what is left is refused and changes nothing.
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&finance.access_token),
        Some(refund(Some(20_000_000))),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds"),
        "{body}"
    );
    for bad in [Some(0), Some(-5), Some(1)] {
        let (status, body) = send(
            &app,
            "POST",
            "/api/v2/admin/refunds",
            Some(&finance.access_token),
            Some(refund(bad)),
        )
        .await;
        assert_eq!(status, 422, "{bad:?}: {body}");
    }
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&finance.access_token),
        Some(json!({"payment_id": "pay_missing", "reason": "x"})),
    )
    .await;
    assert_eq!(status, 404);

    // The user spends most of the rest: a refund cannot take the wallet below zero.
    app.state
        .ledger
        .charge(
            &IdempotencyKey::new("system", "spend").unwrap(),
            &user_id,
            MicroUsd(12_000_000),
            json!({"pod_id": "pod_1"}),
        )
        .await
        .unwrap();
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&finance.access_token),
        Some(refund(Some(5_000_000))),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("below zero"),
        "{body}"
    );
    assert_eq!(available(&app, token).await, 3_000_000);

    // The rest of the refundable amount, by default everything left, is what remains.
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&finance.access_token),
        Some(refund(Some(3_000_000))),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(available(&app, token).await, 0);
    let (_, page) = send(
        &app,
        "GET",
        &format!("/api/v2/admin/refunds?payment_id={payment_id}"),
        Some(&finance.access_token),
        None,
    )
    .await;
    let refunds = page["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 3);
    let failed = refunds.iter().filter(|r| r["status"] == "failed").count();
    assert_eq!(
        failed, 1,
        "the refused refund is recorded as failed: {refunds:?}"
    );
    let (_, page) = send(
        &app,
        "GET",
        "/api/v2/admin/payments",
        Some(&finance.access_token),
        None,
    )
    .await;
    assert_eq!(page["payments"][0]["refunded"], 13_000_000);

    // The sandbox confirms each refund by webhook; the confirmations change no money.
    eventually("refund confirmations", || async {
        let (_, events) = send(
            &app,
            "GET",
            "/api/v2/admin/refunds",
            Some(&finance.access_token),
            None,
        )
        .await;
        events["refunds"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "pending")
    })
    .await;
    assert_eq!(available(&app, token).await, 0);

    // Each refund is in the audit log with the finance user as actor.
    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    let refunds_audited = entries
        .iter()
        .filter(|e| {
            e.actor == finance_id && e.action == "ledger.post" && e.detail["kind"] == "refund"
        })
        .count();
    assert_eq!(refunds_audited, 2, "{entries:?}");
    assert_ledger_clean(&app).await;
}
