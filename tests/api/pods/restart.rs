//! The real binary on the embedded database: a demo pod runs, the server is killed with
//! SIGKILL in the middle of a metering interval and started again; every interval, the
//! one cut by the crash included, is charged exactly once (I11) and the ledger verifies.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use reqwest::redirect::Policy;
use serde_json::{json, Value};

use crate::common::binary;
use crate::process::{client, start_server, Server};

const INTERVAL_MS: i64 = 2_000;
const ENVS: &[(&str, &str)] = &[
    ("GPUBROKER_POD_METER_INTERVAL", "2s"),
    ("GPUBROKER_POD_TICK", "200ms"),
];

async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client().request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls pod `id` until `check` holds (30 s at most).
async fn wait_pod(
    base: &str,
    token: &str,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let (status, pod) = call(
            base,
            "GET",
            &format!("/api/v2/pods/{id}"),
            Some(token),
            None,
        )
        .await;
        if status == 200 && check(&pod) {
            return pod;
        }
        last = pod;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pod {id} never {what}: {last}");
}

/// Registers, signs in and tops up $25 through the sandbox checkout; answers the token.
async fn funded_user(base: &str) -> String {
    let creds = json!({ "email": "restart@example.com", "password": crate::common::TEST_PASSWORD });
    let (status, body) = call(
        base,
        "POST",
        "/api/v2/auth/register",
        None,
        Some(creds.clone()),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, pair) = call(base, "POST", "/api/v2/auth/login", None, Some(creds)).await;
    assert_eq!(status, 200, "{pair}");
    let token = pair["access_token"].as_str().unwrap().to_owned();
    let top_up = json!({ "amount_micro_usd": 25_000_000 });
    let (status, checkout) = call(
        base,
        "POST",
        "/api/v2/billing/top-ups",
        Some(&token),
        Some(top_up),
    )
    .await;
    assert_eq!(status, 201, "{checkout}");
    let url = checkout["checkout_url"].as_str().unwrap();
    let paid = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .post(url)
        .form(&[("action", "pay"), ("card_number", "4242 4242 4242 4242")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);
    for _ in 0..100 {
        let (_, wallet) = call(base, "GET", "/api/v2/billing/wallet", Some(&token), None).await;
        if wallet["available_micro_usd"] == 25_000_000 {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the top-up was never credited");
}

/// The metering charges of pod `id`: interval index → (count, amount).
async fn charges(base: &str, token: &str, id: &str) -> BTreeMap<i64, (u32, i64)> {
    let (status, page) = call(
        base,
        "GET",
        "/api/v2/billing/transactions?limit=200",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let mut out = BTreeMap::new();
    for t in page["transactions"].as_array().unwrap() {
        if t["kind"] == "charge" && t["metadata"]["pod_id"] == id {
            let entry = out
                .entry(t["metadata"]["interval"].as_i64().unwrap())
                .or_insert((0, 0));
            entry.0 += 1;
            entry.1 += t["amount_micro_usd"].as_i64().unwrap();
        }
    }
    out
}

fn kill(server: Server) {
    let status = Command::new("kill")
        .args(["-KILL", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut child = server.child;
    child.wait().unwrap();
}

#[tokio::test]
async fn killing_the_server_mid_interval_charges_that_interval_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start_server(dir.path(), ENVS);
    first.wait_healthy().await;
    let base = first.base.clone();
    let token = funded_user(&base).await;
    let (_, offers) = call(&base, "GET", "/api/v2/offers?limit=50", Some(&token), None).await;
    let offer = offers["offers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["price_per_hour"].as_f64().is_some_and(|p| p > 0.0))
        .unwrap_or_else(|| panic!("a priced demo offer: {offers}"))
        .clone();
    let (status, pod) = call(
        &base,
        "POST",
        "/api/v2/pods",
        Some(&token),
        Some(json!({ "offer_id": offer["id"] })),
    )
    .await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap().to_owned();
    let price = pod["price_per_hour_micro_usd"].as_i64().unwrap();

    // Kill it half-way through the second interval.
    let running = wait_pod(&base, &token, &id, "charged its first interval", |p| {
        p["billed_intervals"].as_i64() >= Some(1)
    })
    .await;
    let since: chrono::DateTime<chrono::Utc> =
        running["running_since"].as_str().unwrap().parse().unwrap();
    let mid = since + chrono::Duration::milliseconds(INTERVAL_MS + INTERVAL_MS / 2);
    if let Ok(wait) = (mid - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    let before = charges(&base, &token, &id).await;
    kill(first);
    let cut = before.keys().max().map_or(0, |k| k + 1);

    // A new process on the same database picks the pod up and charges on.
    let mut second = start_server(dir.path(), ENVS);
    second.wait_healthy().await;
    let base = second.base.clone();
    wait_pod(&base, &token, &id, "charged past the cut interval", |p| {
        p["billed_intervals"].as_i64() >= Some(cut + 2)
    })
    .await;
    let (status, stopping) = call(
        &base,
        "POST",
        &format!("/api/v2/pods/{id}/stop"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{stopping}");
    let stopped = wait_pod(&base, &token, &id, "stopped", |p| p["state"] == "stopped").await;

    let after = charges(&base, &token, &id).await;
    let indices: Vec<i64> = after.keys().copied().collect();
    assert_eq!(
        indices,
        (0..indices.len() as i64).collect::<Vec<_>>(),
        "{after:?}"
    );
    assert!(
        after.values().all(|(n, _)| *n == 1),
        "an interval charged twice: {after:?}"
    );
    assert!(
        after.contains_key(&cut),
        "the interval cut by the crash was never charged: {after:?}"
    );
    // What was charged is exactly the run time at the billed price, interval by interval.
    let stop: chrono::DateTime<chrono::Utc> =
        stopped["stopped_at"].as_str().unwrap().parse().unwrap();
    let ran = (stop - since).num_milliseconds();
    let full = ran / INTERVAL_MS;
    let mut expected = full * gpubroker::pods::cost_of(price, INTERVAL_MS).unwrap().0;
    expected += gpubroker::pods::cost_of(price, ran - full * INTERVAL_MS)
        .unwrap()
        .0;
    let charged: i64 = after.values().map(|(_, a)| a).sum();
    assert_eq!(charged, expected, "{after:?}");
    let (_, wallet) = call(&base, "GET", "/api/v2/billing/wallet", Some(&token), None).await;
    assert_eq!(
        wallet["available_micro_usd"].as_i64(),
        Some(25_000_000 - charged),
        "{wallet}"
    );

    let (ok, _, log) = second.terminate();
    assert!(ok, "{log}");
    let verify = Command::new(binary())
        .args(["ledger", "verify"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
