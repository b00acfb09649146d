//! Webhook signatures (RELIABILITY security test 1) and reordering/duplication (I10).

use gpubroker::auth::Role;
use serde_json::{json, Value};

use super::{assert_ledger_clean, available, event, post_event, post_event_at, start_top_up};
use crate::common::{account, send, spawn_app, Backend, TestApp};

crate::both_backends!(
    bad_signatures_are_refused_with_400_and_store_nothing,
    any_order_and_duplication_of_events_ends_in_the_same_state,
);

fn session_of(checkout: &Value) -> String {
    checkout["checkout_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned()
}

fn paid_session(id: &str, checkout: &Value, cents: i64, customer: &str) -> Value {
    event(
        id,
        "checkout.session.completed",
        json!({"id": session_of(checkout), "object": "checkout.session", "mode": "payment",
               "payment_status": "paid", "status": "complete", "amount_total": cents,
               "currency": "usd", "client_reference_id": checkout["id"],
               "payment_intent": format!("pi_{}", checkout["id"].as_str().unwrap()),
               "customer": customer, "metadata": {"checkout_id": checkout["id"]}}),
    )
}

async fn bad_signatures_are_refused_with_400_and_store_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, user) = account(&app, "sig@example.com", Role::User).await;
    let token = user.access_token.as_str();
    let checkout = start_top_up(&app, token, 10_000_000).await;
    let good = paid_session("evt_sig_1", &checkout, 1000, "cus_sig");
    let secret = app.state.payments.webhook_secret().to_owned();
    let now = chrono::Utc::now().timestamp();
    let body = serde_json::to_vec(&good).unwrap();
    let url = format!("{}/api/v2/billing/webhooks/sandbox", app.base);
    let valid = gpubroker::payments::signature::sign(&secret, now, &body);
    let mut changed = body.clone();
    let at = changed.iter().position(|b| *b == b'1').unwrap();
    changed[at] = b'9';
    let cases: Vec<(&str, Option<String>, Vec<u8>)> = vec![
        ("missing header", None, body.clone()),
        ("malformed header", Some("v1=zz,t=x".into()), body.clone()),
        ("no v1", Some(format!("t={now}")), body.clone()),
        (
            "wrong secret",
            Some(gpubroker::payments::signature::sign(
                "whsec_wrong",
                now,
                &body,
            )),
            body.clone(),
        ),
        ("one changed byte", Some(valid.clone()), changed),
        (
            "timestamp 301 s old",
            Some(gpubroker::payments::signature::sign(
                &secret,
                now - 301,
                &body,
            )),
            body.clone(),
        ),
        (
            "timestamp 301 s ahead",
            Some(gpubroker::payments::signature::sign(
                &secret,
                now + 301,
                &body,
            )),
            body.clone(),
        ),
    ];
    for (what, header, body) in cases {
        let mut request = app.client.post(&url).body(body);
        if let Some(header) = header {
            request = request.header("Stripe-Signature", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{what}");
    }
    // A signed body that is not an event is refused too, and an unknown gateway is 404.
    let junk = br#"{"hello":"world"}"#;
    let response = app
        .client
        .post(&url)
        .header(
            "Stripe-Signature",
            gpubroker::payments::signature::sign(&secret, now, junk),
        )
        .body(junk.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, _) = post_event_at(&app, "stripe", &secret, &good, now).await;
    assert_eq!(status, 404);

    assert!(app
        .state
        .store
        .payment_events_waiting("sandbox", 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(available(&app, token).await, 0);
    // The event id was not consumed by the refused deliveries.
    let (status, ack) = post_event(&app, &good).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["duplicate"], false);
    assert_eq!(available(&app, token).await, 10_000_000);
    let (status, ack) = post_event(&app, &good).await;
    assert_eq!(status, 200);
    assert_eq!(ack["duplicate"], true);
    assert_eq!(available(&app, token).await, 10_000_000);
}

/// A deterministic shuffle (xorshift), so a failing order can be replayed from its seed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// What a user's money and subscription look like.
async fn snapshot(app: &TestApp, user_id: &str, token: &str) -> Value {
    let (_, subscription) = send(
        app,
        "GET",
        "/api/v2/billing/subscription",
        Some(token),
        None,
    )
    .await;
    let (_, invoices) = send(app, "GET", "/api/v2/billing/invoices", Some(token), None).await;
    let (_, methods) = send(
        app,
        "GET",
        "/api/v2/billing/payment-methods",
        Some(token),
        None,
    )
    .await;
    let payments = app
        .state
        .store
        .payments_list(Some(user_id), None, 100)
        .await
        .unwrap();
    let mut invoice_states: Vec<String> = invoices["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}:{}:{}", i["invoice_ref"], i["status"], i["amount"]))
        .collect();
    invoice_states.sort();
    json!({
        "available": available(app, token).await,
        "payments": payments.iter().map(|p| (p.amount, p.refunded)).collect::<Vec<_>>(),
        "subscription": [subscription["status"].clone(), subscription["current_period_end"].clone(), subscription["plan_id"].clone()],
        "invoices": invoice_states,
        "methods": methods["payment_methods"].as_array().unwrap().len(),
    })
}

async fn any_order_and_duplication_of_events_ends_in_the_same_state(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let now = chrono::Utc::now().timestamp();
    let day = 86_400;
    let mut expected: Option<Value> = None;
    for round in 0..10u64 {
        let (user_id, user) = account(&app, &format!("order{round}@example.com"), Role::User).await;
        let token = user.access_token.as_str();
        let top_up = start_top_up(&app, token, 20_000_000).await;
        let (status, sub_checkout) = send(
            &app,
            "POST",
            "/api/v2/billing/subscription",
            Some(token),
            Some(json!({"plan_id": "pro", "billing_interval": "monthly"})),
        )
        .await;
        assert_eq!(status, 201, "{sub_checkout}");
        let customer = format!("cus_order_{round}");
        let subscription = format!("sub_order_{round}");
        let invoice = |id: &str, kind: &str, start: i64| {
            event(
                &format!("evt_{round}_{id}_{kind}"),
                kind,
                json!({"id": format!("in_{round}_{id}"), "object": "invoice",
                       "subscription": subscription, "customer": customer,
                       "amount_paid": 2900, "amount_due": 2900, "currency": "usd",
                       "period_start": start, "period_end": start,
                       "lines": {"data": [{"period": {"start": start, "end": start + 30 * day}}]}}),
            )
        };
        let mut async_paid = paid_session(&format!("evt_{round}_async"), &top_up, 2000, &customer);
        async_paid["type"] = json!("checkout.session.async_payment_succeeded");
        let events = vec![
            event(
                &format!("evt_{round}_pm"),
                "payment_method.attached",
                json!({"id": format!("pm_{round}"), "object": "payment_method", "customer": customer,
                       "card": {"brand": "visa", "last4": "4242", "exp_month": 1, "exp_year": 2031}}),
            ),
            paid_session(&format!("evt_{round}_paid"), &top_up, 2000, &customer),
            async_paid,
            event(
                &format!("evt_{round}_expired"),
                "checkout.session.expired",
                json!({"id": session_of(&top_up), "object": "checkout.session", "client_reference_id": top_up["id"]}),
            ),
            event(
                &format!("evt_{round}_sub"),
                "checkout.session.completed",
                json!({"id": session_of(&sub_checkout), "object": "checkout.session", "mode": "subscription",
                       "payment_status": "paid", "amount_total": 2900, "currency": "usd",
                       "client_reference_id": sub_checkout["id"], "customer": customer,
                       "subscription": subscription}),
            ),
            invoice("1", "invoice.payment_failed", now - day),
            invoice("1", "invoice.paid", now - day),
            invoice("2", "invoice.paid", now - day + 30 * day),
            event(
                &format!("evt_{round}_ignored"),
                "customer.updated",
                json!({"id": customer, "object": "customer"}),
            ),
        ];
        // Each event one to three times, in a shuffled order (the first round in order).
        let mut deliveries: Vec<&Value> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            for _ in 0..=((round as usize + i) % 3) {
                deliveries.push(e);
            }
        }
        if round > 0 {
            shuffle(&mut deliveries, round * 7919);
        }
        for e in deliveries {
            let (status, ack) = post_event(&app, e).await;
            assert_eq!(status, 200, "round {round}: {ack}");
        }
        let state = snapshot(&app, &user_id, token).await;
        assert_eq!(state["available"], 20_000_000, "round {round}: {state}");
        assert_eq!(state["subscription"][0], "active", "round {round}: {state}");
        assert!(
            app.state
                .store
                .payment_events_waiting("sandbox", 10)
                .await
                .unwrap()
                .is_empty(),
            "round {round}: every event applied"
        );
        // Per-round values (ids, periods) are the same in every round once normalised.
        let normalised = json!({
            "available": state["available"],
            "payments": state["payments"],
            "subscription": [state["subscription"][0], state["subscription"][2]],
            "period_end_ok": state["subscription"][1].as_str().map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap().timestamp()) == Some(now - day + 60 * day),
            "invoices": state["invoices"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().replace(&format!("in_{round}_"), "in_")).collect::<Vec<_>>(),
            "methods": state["methods"],
        });
        match &expected {
            None => expected = Some(normalised),
            Some(first) => assert_eq!(
                &normalised, first,
                "round {round} differs from the in-order round"
            ),
        }
    }
    let expected = expected.unwrap();
    assert_eq!(expected["period_end_ok"], true, "{expected}");
    assert_eq!(expected["payments"], json!([[20_000_000, 0]]));
    assert_eq!(expected["methods"], 1);
    assert_ledger_clean(&app).await;
}
