//! Monthly statements on both backends: opening + movements = closing, consecutive months
//! chain, usage grouped by pod and hour, the caller's own wallet only, CSV and HTML that
//! are escaped, and 400 for a bad month or format.

use gpubroker::auth::Role;
use gpubroker::domain::money::MicroUsd;
use gpubroker::ledger::{wallet_id, IdempotencyKey, Leg, Side, Transaction, TransferKind};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{account, raw_sql, send, spawn_app, Backend, TestApp};

both_backends!(
    billing_statement_opening_plus_movements_equals_closing,
    billing_statement_csv_and_html_are_escaped_and_named,
    billing_statement_rejects_bad_month_and_format,
);

fn key(user: &str, k: &str) -> IdempotencyKey {
    IdempotencyKey::new(user, k).unwrap()
}

/// Moves transaction `t`'s time to `at` (`YYYY-MM-DDTHH:MM:SS`, UTC), in the format each
/// backend stores, so that tests can place it in a chosen month.
async fn backdate(app: &TestApp, t: &Transaction, at: &str) {
    let sql = format!(
        "UPDATE ledger_transactions SET created_at = '{at}+00:00' WHERE id = '{}'",
        t.id
    );
    raw_sql(&app.state.settings, &sql).await;
}

/// Posts A's history: 10 USD in December 2025; in January 2026 a 5 USD top-up, pod-a
/// usage (two charges in one hour, a capture in the next), pod-b usage, usage without a
/// pod, a refund and a transfer to B. Returns A's and B's ids and tokens.
async fn history(app: &TestApp) -> ((String, String), (String, String)) {
    let (a, a_tokens) = account(app, "stmt-a@example.com", Role::User).await;
    let (b, b_tokens) = account(app, "stmt-b@example.com", Role::User).await;
    let l = &app.state.ledger;
    let t = l
        .top_up(&key(&a, "t0"), &a, MicroUsd(10_000_000), json!({}))
        .await
        .unwrap();
    backdate(app, &t, "2025-12-20T08:00:00").await;
    let t = l
        .top_up(&key(&a, "t1"), &a, MicroUsd(5_000_000), json!({}))
        .await
        .unwrap();
    backdate(app, &t, "2026-01-02T09:00:00").await;
    let pod_a = json!({ "pod_id": "pod-a" });
    let t = l
        .charge(&key(&a, "c1"), &a, MicroUsd(100_000), pod_a.clone())
        .await
        .unwrap();
    backdate(app, &t, "2026-01-03T10:05:00").await;
    let t = l
        .charge(&key(&a, "c2"), &a, MicroUsd(200_000), pod_a.clone())
        .await
        .unwrap();
    backdate(app, &t, "2026-01-03T10:55:00").await;
    let expires = chrono::Utc::now() + chrono::Duration::hours(1);
    let hold = l
        .place_hold(&key(&a, "h1"), &a, MicroUsd(900_000), expires, json!({}))
        .await
        .unwrap();
    let capture = l
        .capture_hold(&key(&a, "cap1"), &hold.id, MicroUsd(400_000), pod_a)
        .await
        .unwrap();
    backdate(app, &capture.transaction, "2026-01-03T11:00:00").await;
    let t = l
        .charge(
            &key(&a, "c3"),
            &a,
            MicroUsd(50_000),
            json!({ "pod_id": "pod-b" }),
        )
        .await
        .unwrap();
    backdate(app, &t, "2026-01-04T00:30:00").await;
    let t = l
        .charge(
            &key(&a, "c4"),
            &a,
            MicroUsd(7_000),
            json!({ "description": "storage" }),
        )
        .await
        .unwrap();
    backdate(app, &t, "2026-01-05T12:00:00").await;
    let t = l
        .refund(&key(&a, "r1"), &a, MicroUsd(1_000_000), json!({}))
        .await
        .unwrap();
    backdate(app, &t, "2026-01-06T12:00:00").await;
    let legs = vec![
        Leg {
            account_id: wallet_id(&a),
            side: Side::Debit,
            amount: MicroUsd(250_000),
        },
        Leg {
            account_id: wallet_id(&b),
            side: Side::Credit,
            amount: MicroUsd(250_000),
        },
    ];
    let t = l
        .post(&key(&a, "x1"), TransferKind::Transfer, legs, json!({}))
        .await
        .unwrap();
    backdate(app, &t, "2026-01-31T23:59:59").await;
    ((a, a_tokens.access_token), (b, b_tokens.access_token))
}

async fn statement(app: &TestApp, token: &str, month: &str) -> Value {
    let path = format!("/api/v2/billing/statements/{month}");
    let (status, body) = send(app, "GET", &path, Some(token), None).await;
    assert_eq!(status, 200, "{month}: {body}");
    body
}

fn total(items: &Value) -> i64 {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["amount_micro_usd"].as_i64().unwrap())
        .sum()
}

async fn billing_statement_opening_plus_movements_equals_closing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let ((a, a_token), (b, b_token)) = history(&app).await;

    let dec = statement(&app, &a_token, "2025-12").await;
    assert_eq!(dec["opening_balance_micro_usd"], 0);
    assert_eq!(dec["closing_balance_micro_usd"], 10_000_000);

    let jan = statement(&app, &a_token, "2026-01").await;
    assert_eq!(jan["user_id"], a.as_str());
    assert_eq!(jan["period_start"], "2026-01-01T00:00:00Z");
    assert_eq!(
        jan["opening_balance_micro_usd"],
        dec["closing_balance_micro_usd"]
    );
    assert_eq!(jan["top_ups_total_micro_usd"], 5_000_000);
    assert_eq!(total(&jan["top_ups"]), 5_000_000);
    // Usage by pod (sorted) and hour; the capture carries the pod too.
    let pods = jan["pod_usage"].as_array().unwrap();
    assert_eq!(pods.len(), 2, "{jan}");
    assert_eq!(pods[0]["pod_id"], "pod-a");
    assert_eq!(pods[0]["total_micro_usd"], 700_000);
    let hours = pods[0]["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0]["hour"], "2026-01-03T10:00:00Z");
    assert_eq!(hours[0]["amount_micro_usd"], 300_000);
    assert_eq!(hours[0]["transactions"], 2);
    assert_eq!(hours[1]["amount_micro_usd"], 400_000);
    assert_eq!(pods[1]["pod_id"], "pod-b");
    assert_eq!(pods[1]["total_micro_usd"], 50_000);
    let other = jan["other_usage"].as_array().unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0]["description"], "storage");
    assert_eq!(jan["usage_total_micro_usd"], 757_000);
    assert_eq!(jan["refunds_total_micro_usd"], 1_000_000);
    assert_eq!(jan["adjustments_net_micro_usd"], -250_000);
    // opening + movements = closing, and the closing is what the wallet holds.
    let closing = 10_000_000 + 5_000_000 - 757_000 - 1_000_000 - 250_000;
    assert_eq!(jan["closing_balance_micro_usd"], closing);
    let (_, wallet) = send(&app, "GET", "/api/v2/billing/wallet", Some(&a_token), None).await;
    assert_eq!(wallet["posted_micro_usd"], closing);
    let feb = statement(&app, &a_token, "2026-02").await;
    assert_eq!(feb["opening_balance_micro_usd"], closing);
    assert_eq!(feb["closing_balance_micro_usd"], closing);
    assert_eq!(feb["top_ups"], json!([]));

    // B sees only its own wallet: the transfer in, nothing of A's.
    let jan_b = statement(&app, &b_token, "2026-01").await;
    assert_eq!(jan_b["user_id"], b.as_str());
    assert_eq!(jan_b["opening_balance_micro_usd"], 0);
    assert_eq!(jan_b["adjustments_net_micro_usd"], 250_000);
    assert_eq!(jan_b["closing_balance_micro_usd"], 250_000);
    assert_eq!(jan_b["top_ups"], json!([]));
    assert_eq!(jan_b["pod_usage"], json!([]));
    let report = app.state.store.ledger_verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
}

async fn get_raw(app: &TestApp, path: &str, token: &str, accept: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("accept", accept)
        .send()
        .await
        .unwrap()
}

async fn billing_statement_csv_and_html_are_escaped_and_named(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (a, tokens) = account(&app, "stmt-csv@example.com", Role::User).await;
    let token = tokens.access_token;
    let l = &app.state.ledger;
    l.top_up(&key(&a, "t1"), &a, MicroUsd(2_000_000), json!({}))
        .await
        .unwrap();
    let evil = "=HYPERLINK(\"http://x\",\"<b>\") , \"q\"";
    let pod = "<script>alert(1)</script>";
    l.charge(
        &key(&a, "c1"),
        &a,
        MicroUsd(1),
        json!({ "description": evil }),
    )
    .await
    .unwrap();
    l.charge(&key(&a, "c2"), &a, MicroUsd(2), json!({ "pod_id": pod }))
        .await
        .unwrap();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    let path = format!("/api/v2/billing/statements/{month}");

    // CSV by query parameter.
    let response = get_raw(&app, &format!("{path}?format=csv"), &token, "*/*").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"gpubroker-statement-{month}.csv\"")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert!(lines[0].starts_with("section,date,pod_id,transaction_id,description"));
    assert!(lines[1].starts_with("opening_balance,"));
    // The formula is neutralised with a quote and the cell quoted per RFC 4180.
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"<b>\"\") , \"\"q\"\"\""),
        "{csv}"
    );
    assert!(csv.contains(&format!("pod_usage,{month}-")), "{csv}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("closing_balance,") && l.contains(",1999997,")));

    // HTML by Accept.
    let response = get_raw(&app, &path, &token, "text/html,application/xhtml+xml").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".html\""));
    let html = response.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("@media print"));
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "no external assets"
    );

    // JSON by default.
    let response = get_raw(&app, &path, &token, "*/*").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["closing_balance_micro_usd"], 1_999_997);
}

async fn billing_statement_rejects_bad_month_and_format(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, tokens) = account(&app, "stmt-bad@example.com", Role::User).await;
    let token = tokens.access_token;
    for month in [
        "2026-13",
        "2026-00",
        "2026-1",
        "202601",
        "x",
        "2026-01-01",
        "%2B026-01",
    ] {
        let path = format!("/api/v2/billing/statements/{month}");
        let (status, body) = send(&app, "GET", &path, Some(&token), None).await;
        assert_eq!(status, 400, "{month}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{month}");
    }
    let path = "/api/v2/billing/statements/2026-01?format=pdf";
    let (status, _) = send(&app, "GET", path, Some(&token), None).await;
    assert_eq!(status, 400);
    let (status, _) = send(
        &app,
        "GET",
        "/api/v2/billing/statements/2026-01",
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
}
