//! Stripe against a local fake server speaking Stripe's request and response shapes.

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, post};
use axum::{Json, Router};
use gpubroker::auth::Role;
use gpubroker::settings::payments::{GatewayChoice, PaymentSettings, StripeSettings};
use serde_json::{json, Value};

use super::{assert_ledger_clean, available, event, post_event, post_event_at};
use crate::common::{account, send, spawn_app_configured, Backend};

crate::both_backends!(stripe_checkout_refunds_and_subscriptions_through_a_fake_stripe);

const SECRET_KEY: &str = "sk_test_fake_key";
const WEBHOOK_SECRET: &str = "whsec_test_fake_secret";

/// One request the fake received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    authorization: String,
    idempotency_key: Option<String>,
    form: Vec<(String, String)>,
}

impl Seen {
    fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Set: the fake answers refunds of 200 cents with 503 (Stripe briefly down).
static REFUNDS_DOWN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn record(log: &Log, method: &str, path: String, headers: &HeaderMap, body: &str) -> Seen {
    let seen = Seen {
        method: method.into(),
        path,
        authorization: headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default(),
        idempotency_key: headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap().to_owned()),
        form: url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect(),
    };
    log.lock().unwrap().push(seen.clone());
    seen
}

async fn fake_stripe(log: Log) -> String {
    let router = Router::new()
        .route(
            "/v1/checkout/sessions",
            post(|State(log): State<Log>, headers: HeaderMap, body: String| async move {
                let seen = record(&log, "POST", "/v1/checkout/sessions".into(), &headers, &body);
                let id = format!("cs_test_{}", seen.get("client_reference_id").unwrap_or("x"));
                Json(json!({"id": id, "object": "checkout.session",
                            "url": format!("https://checkout.stripe.com/c/pay/{id}"),
                            "status": "open", "payment_status": "unpaid",
                            "mode": seen.get("mode"), "expires_at": 1_764_086_400}))
            }),
        )
        .route(
            "/v1/refunds",
            post(|State(log): State<Log>, headers: HeaderMap, body: String| async move {
                let seen = record(&log, "POST", "/v1/refunds".into(), &headers, &body);
                if seen.get("amount") == Some("200")
                    && REFUNDS_DOWN.load(std::sync::atomic::Ordering::SeqCst)
                {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(json!({"error": {"type": "api_error", "message": "try again"}})),
                    );
                }
                if seen.get("amount") == Some("100") {
                    return (
                        StatusCode::BAD_REQUEST,
                        Json(json!({"error": {"type": "invalid_request_error",
                            "code": "charge_already_refunded",
                            "message": "Charge ch_1 has already been refunded."}})),
                    );
                }
                (
                    StatusCode::OK,
                    Json(json!({"id": format!("re_{}", seen.get("metadata[refund_id]").unwrap_or("x")),
                                "object": "refund", "amount": seen.get("amount").unwrap().parse::<i64>().unwrap(),
                                "currency": "usd", "payment_intent": seen.get("payment_intent"),
                                "status": "pending",
                                "metadata": {"refund_id": seen.get("metadata[refund_id]")}})),
                )
            }),
        )
        .route(
            "/v1/subscriptions/{id}",
            delete(|State(log): State<Log>, Path(id): Path<String>, headers: HeaderMap| async move {
                record(&log, "DELETE", format!("/v1/subscriptions/{id}"), &headers, "");
                Json(json!({"id": id, "object": "subscription", "status": "canceled"}))
            }),
        )
        .with_state(log);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// `checkout.session.completed` as Stripe sends it (trimmed of fields we do not read
/// only where they are null).
fn completed(id: &str, session: &str, checkout_id: &str, mode: &str, extra: &Value) -> Value {
    let mut object = json!({
        "id": session, "object": "checkout.session", "after_expiration": null,
        "allow_promotion_codes": null, "amount_subtotal": 2500, "amount_total": 2500,
        "billing_address_collection": null, "cancel_url": "https://example.com/cancel",
        "client_reference_id": checkout_id, "currency": "usd",
        "customer": "cus_Stripe1", "customer_creation": "always",
        "customer_details": {"email": "stripe@example.com", "name": null},
        "customer_email": "stripe@example.com", "expires_at": 1_764_086_400,
        "livemode": false, "locale": null, "metadata": {"checkout_id": checkout_id},
        "mode": mode, "payment_intent": null, "payment_method_types": ["card"],
        "payment_status": "paid", "status": "complete", "submit_type": null,
        "subscription": null, "success_url": "https://example.com/ok", "url": null
    });
    if let (Some(o), Some(e)) = (object.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            o.insert(k.clone(), v.clone());
        }
    }
    event(id, "checkout.session.completed", object)
}

async fn stripe_checkout_refunds_and_subscriptions_through_a_fake_stripe(backend: Backend) {
    let log: Log = Arc::default();
    let base = fake_stripe(log.clone()).await;
    let Some(app) = spawn_app_configured(backend, None, |settings| {
        settings.payments = PaymentSettings {
            gateway: GatewayChoice::Stripe,
            stripe: Some(StripeSettings {
                secret_key: SECRET_KEY.into(),
                webhook_secret: WEBHOOK_SECRET.into(),
                api_url: base.parse().unwrap(),
            }),
        };
    })
    .await
    else {
        return;
    };
    let (_, user) = account(&app, "stripe@example.com", Role::User).await;
    let (_, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let token = user.access_token.as_str();

    // A top-up opens a Checkout Session with our reference and the amount in cents.
    let (status, checkout) = send(
        &app,
        "POST",
        "/api/v2/billing/top-ups",
        Some(token),
        Some(json!({"amount_micro_usd": 25_000_000, "return_path": "/#/wallet"})),
    )
    .await;
    assert_eq!(status, 201, "{checkout}");
    let checkout_id = checkout["id"].as_str().unwrap().to_owned();
    let session = format!("cs_test_{checkout_id}");
    assert_eq!(
        checkout["checkout_url"],
        format!("https://checkout.stripe.com/c/pay/{session}")
    );
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.authorization, format!("Bearer {SECRET_KEY}"));
    assert_eq!(seen.idempotency_key.as_deref(), Some(checkout_id.as_str()));
    assert_eq!(seen.get("mode"), Some("payment"));
    assert_eq!(seen.get("client_reference_id"), Some(checkout_id.as_str()));
    assert_eq!(
        seen.get("line_items[0][price_data][unit_amount]"),
        Some("2500")
    );
    assert_eq!(seen.get("line_items[0][price_data][currency]"), Some("usd"));
    assert_eq!(seen.get("customer_email"), Some("stripe@example.com"));
    let success = seen.get("success_url").unwrap();
    assert!(
        success.starts_with(&app.base) && success.contains(&checkout_id),
        "{success}"
    );

    // Stripe's webhook credits the wallet; the sandbox endpoint does not exist here.
    let paid = completed(
        "evt_1Stripe",
        &session,
        &checkout_id,
        "payment",
        &json!({"payment_intent": "pi_3Stripe"}),
    );
    let (status, ack) = post_event(&app, &paid).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(available(&app, token).await, 25_000_000);
    let (status, _) = post_event_at(
        &app,
        "sandbox",
        WEBHOOK_SECRET,
        &paid,
        chrono::Utc::now().timestamp(),
    )
    .await;
    assert_eq!(status, 404);

    // A refund goes to Stripe with our id as metadata and idempotency key.
    let (_, payments) = send(
        &app,
        "GET",
        "/api/v2/admin/payments",
        Some(&admin.access_token),
        None,
    )
    .await;
    let payment_id = payments["payments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(payments["payments"][0]["payment_ref"], "pi_3Stripe");
    let (status, refund) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&admin.access_token),
        Some(
            json!({"payment_id": payment_id, "amount_micro_usd": 5_000_000, "reason": "goodwill"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{refund}");
    assert_eq!(refund["status"], "pending");
    let refund_id = refund["id"].as_str().unwrap().to_owned();
    let seen = log.lock().unwrap().last().unwrap().clone();
    assert_eq!(seen.path, "/v1/refunds");
    assert_eq!(seen.get("payment_intent"), Some("pi_3Stripe"));
    assert_eq!(seen.get("amount"), Some("500"));
    assert_eq!(seen.get("metadata[refund_id]"), Some(refund_id.as_str()));
    assert_eq!(seen.idempotency_key.as_deref(), Some(refund_id.as_str()));
    assert_eq!(available(&app, token).await, 20_000_000);
    let confirmed = event(
        "evt_refund_ok",
        "refund.updated",
        json!({"id": format!("re_{refund_id}"), "object": "refund", "amount": 500, "status": "succeeded",
               "payment_intent": "pi_3Stripe", "metadata": {"refund_id": refund_id}}),
    );
    let (status, _) = post_event(&app, &confirmed).await;
    assert_eq!(status, 200);
    let (_, refunds) = send(
        &app,
        "GET",
        "/api/v2/admin/refunds",
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(refunds["refunds"][0]["status"], "succeeded");

    // Stripe refusing a refund gives the money back to the wallet.
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&admin.access_token),
        Some(json!({"payment_id": payment_id, "amount_micro_usd": 1_000_000, "reason": "again"})),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already been refunded"),
        "{body}"
    );
    assert_eq!(available(&app, token).await, 20_000_000);
    let (_, payments) = send(
        &app,
        "GET",
        "/api/v2/admin/payments",
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(payments["payments"][0]["refunded"], 5_000_000);

    // Stripe not answering leaves the refund pending (money out of the wallet, nothing
    // lost); the sweep completes it later with the same idempotency key.
    REFUNDS_DOWN.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/admin/refunds",
        Some(&admin.access_token),
        Some(json!({"payment_id": payment_id, "amount_micro_usd": 2_000_000, "reason": "outage"})),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(available(&app, token).await, 18_000_000);
    let (_, refunds) = send(
        &app,
        "GET",
        "/api/v2/admin/refunds",
        Some(&admin.access_token),
        None,
    )
    .await;
    let stuck = refunds["refunds"][0].clone();
    assert_eq!(stuck["status"], "pending", "{stuck}");
    assert!(stuck["gateway_ref"].is_null());
    REFUNDS_DOWN.store(false, std::sync::atomic::Ordering::SeqCst);
    let retried = app
        .state
        .payments
        .retry_pending_refunds(chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(retried, 1);
    let (_, refunds) = send(
        &app,
        "GET",
        "/api/v2/admin/refunds",
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(
        refunds["refunds"][0]["gateway_ref"],
        format!("re_{}", stuck["id"].as_str().unwrap())
    );
    let attempts: Vec<Option<String>> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.get("amount") == Some("200"))
        .map(|s| s.idempotency_key.clone())
        .collect();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        attempts[0], attempts[1],
        "the retry reuses the idempotency key"
    );
    assert_eq!(available(&app, token).await, 18_000_000, "charged once");

    // A subscription: the invoice may arrive before the session; both apply once.
    let (status, sub_checkout) = send(
        &app,
        "POST",
        "/api/v2/billing/subscription",
        Some(token),
        Some(json!({"plan_id": "pro", "billing_interval": "annual"})),
    )
    .await;
    assert_eq!(status, 201, "{sub_checkout}");
    let seen = log.lock().unwrap().last().unwrap().clone();
    assert_eq!(seen.get("mode"), Some("subscription"));
    assert_eq!(
        seen.get("line_items[0][price_data][recurring][interval]"),
        Some("year")
    );
    assert_eq!(
        seen.get("customer"),
        Some("cus_Stripe1"),
        "the saved customer is reused"
    );
    let sub_checkout_id = sub_checkout["id"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    let invoice = event(
        "evt_inv_1",
        "invoice.paid",
        json!({"id": "in_1Stripe", "object": "invoice", "number": "ABCD-0001",
               "amount_paid": 29000, "amount_due": 29000, "currency": "usd",
               "customer": "cus_Stripe1", "status": "paid",
               "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1Stripe"}},
               "period_start": now, "period_end": now,
               "lines": {"object": "list", "data": [{"period": {"start": now, "end": now + 365 * 86_400}}]}}),
    );
    let (status, ack) = post_event(&app, &invoice).await;
    assert_eq!(status, 200);
    assert!(
        ack["outcome"].as_str().unwrap().starts_with("waiting"),
        "{ack}"
    );
    let started = completed(
        "evt_sub_1",
        &format!("cs_test_{sub_checkout_id}"),
        sub_checkout_id,
        "subscription",
        &json!({"subscription": "sub_1Stripe", "amount_total": 29000}),
    );
    let (status, _) = post_event(&app, &started).await;
    assert_eq!(status, 200);
    let (_, sub) = send(
        &app,
        "GET",
        "/api/v2/billing/subscription",
        Some(token),
        None,
    )
    .await;
    assert_eq!(sub["status"], "active", "{sub}");
    assert_eq!(sub["billing_interval"], "annual");
    let (_, invoices) = send(&app, "GET", "/api/v2/billing/invoices", Some(token), None).await;
    assert_eq!(invoices["invoices"][0]["number"], "ABCD-0001");

    let (status, sub) = send(
        &app,
        "DELETE",
        "/api/v2/billing/subscription?immediately=true",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sub}");
    let seen = log.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/v1/subscriptions/sub_1Stripe")
    );
    let credit = sub["proration_credit_micro_usd"].as_i64().unwrap();
    assert!(credit > 289_000_000 && credit <= 290_000_000, "{credit}");
    assert_eq!(available(&app, token).await, 18_000_000 + credit);
    assert_ledger_clean(&app).await;
}
