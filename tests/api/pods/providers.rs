//! Provider chaos through the real pod service (RELIABILITY item 20): RunPod pods against
//! a stateful fake RunPod GraphQL API that fails, stalls, answers garbage or loses its
//! answer at each step. Pods end failed (hold voided, nothing charged) or retried to
//! running, never two machines for one pod; demo pods are unaffected; the ledger verifies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gpubroker::auth::Role;
use gpubroker::domain::offer::Offer;
use gpubroker::providers::{demo, runpod};
use serde_json::{json, Value};

use super::fake_runpod::{graphql, Fake, Fault};
use super::{demo_offer, deploy, fund, wait_state, wallet};
use crate::common::{account, send, spawn_app_configured, Backend, TestApp};

crate::both_backends!(
    a_lost_or_slow_create_answer_makes_one_machine_and_the_pod_runs,
    a_failing_provider_fails_the_pod_voids_the_hold_and_spares_demo_pods,
    status_and_stop_errors_are_retried_and_a_dead_machine_is_terminated_unbilled,
    deploying_without_a_key_is_refused_before_any_money_moves,
);

/// An app whose RunPod client talks to a fresh fake (300 ms request timeout, three
/// create attempts 20 ms apart), with one RunPod and the demo offers in the catalog.
async fn chaos_app(backend: Backend, with_key: bool) -> Option<(TestApp, Arc<Fake>, Offer)> {
    let fake = Arc::new(Fake::default());
    let router = axum::Router::new()
        .route("/graphql", axum::routing::post(graphql))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let app = spawn_app_configured(backend, None, |s| {
        s.pods.meter_interval = Duration::from_millis(1_000);
        s.pods.tick = Duration::from_millis(100);
        s.pods.simulated.boot_delay = Duration::from_millis(200);
        s.pods.provider_timeout = Duration::from_millis(300);
        s.pods.create_backoff = Duration::from_millis(20);
        s.credentials.runpod_url = Some(url);
        if with_key {
            s.credentials.runpod_key = Some("rp-chaos-key".into());
        }
    })
    .await?;
    let gpu_types = r#"{"data": {"gpuTypes": [{"id": "NVIDIA A100 80GB PCIe",
        "displayName": "A100 80GB", "memoryInGb": 80, "secureCloud": true,
        "communityCloud": false, "securePrice": 2.49}]}}"#;
    let raw = runpod::parse(gpu_types).unwrap().offers.remove(0);
    let offer = Offer::normalize(raw, runpod::PROVIDER);
    app.state
        .catalog
        .replace_source(runpod::PROVIDER, vec![offer.clone()]);
    let demo_offers = demo::market_at(1_700_000_000)
        .into_iter()
        .map(|raw| Offer::normalize(raw, demo::SOURCE_ID))
        .collect();
    app.state
        .catalog
        .replace_source(demo::SOURCE_ID, demo_offers);
    Some((app, fake, offer))
}

async fn assert_ledger_clean(app: &TestApp) {
    let report = app.state.store.ledger_verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
}

/// Waits until `user_id` holds nothing (a failed pod's hold is voided by the worker).
async fn wait_unheld(app: &TestApp, user_id: &str) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let balances = wallet(app, user_id).await;
        if balances.1 == 0 || Instant::now() > deadline {
            return balances;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop(app: &TestApp, token: &str, id: &str) -> (u16, Value) {
    send(
        app,
        "POST",
        &format!("/api/v2/pods/{id}/stop"),
        Some(token),
        None,
    )
    .await
}

async fn a_lost_or_slow_create_answer_makes_one_machine_and_the_pod_runs(backend: Backend) {
    let Some((app, fake, offer)) = chaos_app(backend, true).await else {
        return;
    };
    let (user_id, pair) = account(&app, "chaos1@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 50_000_000).await;
    let price = offer.price.unwrap().0;

    for (n, fault) in [Fault::Lost, Fault::Slow].into_iter().enumerate() {
        fake.fail("deploy", &[fault]);
        let (status, pod) = deploy(&app, token, &offer.id).await;
        assert_eq!(status, 201, "{fault:?}: {pod}");
        assert_eq!(pod["state"], "provisioning", "{fault:?}: {pod}");
        assert_eq!(
            fake.pods().len(),
            n + 1,
            "{fault:?}: exactly one machine per pod"
        );
        let id = pod["id"].as_str().unwrap().to_owned();
        let running = wait_state(&app, token, &id, "running").await;
        assert_eq!(
            running["connection"],
            json!({"ssh_host": "203.0.113.5", "ssh_port": 41022, "ssh_user": "root",
                   "jupyter_url": null}),
            "{running}"
        );
        let (status, stopped) = stop(&app, token, &id).await;
        assert_eq!(status, 200, "{stopped}");
        assert_eq!(stopped["state"], "stopped");
        let machine = fake.pods().into_iter().nth(n).unwrap();
        assert_eq!(machine.status, "EXITED", "the machine is stopped at RunPod");
    }
    let (posted, held) = wallet(&app, &user_id).await;
    assert_eq!(held, 0);
    let spent = 50_000_000 - posted;
    // Two short runs: charged something, far less than a prepaid hour.
    assert!(spent > 0 && spent < price / 60, "spent {spent}");
    assert_ledger_clean(&app).await;
}

async fn a_failing_provider_fails_the_pod_voids_the_hold_and_spares_demo_pods(backend: Backend) {
    let Some((app, fake, offer)) = chaos_app(backend, true).await else {
        return;
    };
    let (user_id, pair) = account(&app, "chaos2@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 50_000_000).await;

    // Refused (400), down for every attempt (500), garbage and timeouts for every attempt.
    let plans: [&[Fault]; 3] = [
        &[Fault::Status(400)],
        &[Fault::Status(500), Fault::Status(503), Fault::Status(500)],
        &[Fault::Garbage, Fault::Status(429), Fault::Garbage],
    ];
    for plan in plans {
        fake.fail("list", plan);
        let (status, pod) = deploy(&app, token, &offer.id).await;
        assert_eq!(status, 201, "{plan:?}: {pod}");
        assert_eq!(pod["state"], "failed", "{plan:?}: {pod}");
        assert!(
            pod["failure"].as_str().unwrap().contains("launch failed"),
            "{pod}"
        );
        assert_eq!(
            wait_unheld(&app, &user_id).await,
            (50_000_000, 0),
            "{plan:?}"
        );
    }
    fake.fail("deploy", &[Fault::Status(400)]);
    let (_, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(pod["state"], "failed", "{pod}");
    assert!(fake.pods().is_empty(), "no machine was made");

    // A demo pod deploys and runs meanwhile: the other provider is unaffected.
    fake.fail("list", &[Fault::Status(500); 3]);
    let demo = demo_offer(&app);
    let (status, pod) = deploy(&app, token, &demo.id).await;
    assert_eq!(status, 201, "{pod}");
    wait_state(&app, token, pod["id"].as_str().unwrap(), "running").await;
    assert_eq!(
        wallet(&app, &user_id).await.0,
        50_000_000,
        "nothing charged yet"
    );
    assert_ledger_clean(&app).await;
}

async fn status_and_stop_errors_are_retried_and_a_dead_machine_is_terminated_unbilled(
    backend: Backend,
) {
    let Some((app, fake, offer)) = chaos_app(backend, true).await else {
        return;
    };
    let (user_id, pair) = account(&app, "chaos3@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 50_000_000).await;

    // Status answers fail for a while: the pod waits, then runs.
    fake.fail(
        "pod",
        &[
            Fault::Status(500),
            Fault::Garbage,
            Fault::Slow,
            Fault::Status(429),
        ],
    );
    let (_, pod) = deploy(&app, token, &offer.id).await;
    let id = pod["id"].as_str().unwrap().to_owned();
    wait_state(&app, token, &id, "running").await;
    // The stop call fails: charging ends at once, the worker retries the machine stop.
    fake.fail("stop", &[Fault::Status(500)]);
    let (status, body) = stop(&app, token, &id).await;
    assert_eq!(status, 502, "{body}");
    let stopped = wait_state(&app, token, &id, "stopped").await;
    assert_eq!(fake.pods()[0].status, "EXITED");
    assert_eq!(wallet(&app, &user_id).await.1, 0, "{stopped}");
    let (status, gone) = send(
        &app,
        "POST",
        &format!("/api/v2/pods/{id}/terminate"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(
        (status, &gone["state"]),
        (200, &json!("terminated")),
        "{gone}"
    );
    assert_eq!(fake.pods()[0].status, "TERMINATED");
    let after_first = wallet(&app, &user_id).await;

    // A machine that dies while booting: pod failed, hold voided, nothing charged, and
    // the machine is terminated so it does not keep costing.
    *fake.die.lock().unwrap() = true;
    let (_, pod) = deploy(&app, token, &offer.id).await;
    let id = pod["id"].as_str().unwrap().to_owned();
    let failed = wait_state(&app, token, &id, "failed").await;
    assert!(
        failed["failure"].as_str().unwrap().contains("dead"),
        "{failed}"
    );
    assert!(failed.get("connection").is_none(), "{failed}");
    assert_eq!(wait_unheld(&app, &user_id).await, after_first);
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.pods()[1].status != "TERMINATED" && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(fake.pods()[1].status, "TERMINATED");
    assert_eq!(fake.pods().len(), 2);
    assert_ledger_clean(&app).await;
}

async fn deploying_without_a_key_is_refused_before_any_money_moves(backend: Backend) {
    let Some((app, fake, offer)) = chaos_app(backend, false).await else {
        return;
    };
    let (user_id, pair) = account(&app, "chaos4@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 50_000_000).await;
    let (status, body) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert_eq!(message, "deploying on runpod needs RUNPOD_API_KEY");
    let (_, pods) = send(&app, "GET", "/api/v2/pods", Some(token), None).await;
    assert_eq!(pods, json!([]));
    assert_eq!(wallet(&app, &user_id).await, (50_000_000, 0));
    assert!(fake.pods().is_empty());
}
