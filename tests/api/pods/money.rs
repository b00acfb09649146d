//! Pod money: no funds, no pod; a failed launch releases its hold; metering the same
//! interval twice (a restart) charges once (I11); a wallet that cannot cover the next
//! interval stops the pod with a notification.

use std::time::Duration;

use gpubroker::auth::Role;
use gpubroker::events::Event;
use gpubroker::pods::provisioner::SimulatedBehaviour;
use gpubroker::pods::PodSettings;

use super::{demo_offer, deploy, fund, pod_app, wait_state, wallet};
use crate::common::{account, send, Backend};

crate::both_backends!(
    a_wallet_that_cannot_cover_the_prepaid_hour_gets_no_pod,
    a_failed_launch_voids_its_hold,
    metering_the_same_interval_twice_charges_once,
    time_charged_past_a_stop_is_returned_once,
    a_wallet_short_of_the_next_interval_stops_the_pod,
);

async fn a_wallet_that_cannot_cover_the_prepaid_hour_gets_no_pod(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "poor@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    fund(&app, &user_id, offer.price.unwrap().0 - 1).await;
    let (status, body) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot cover"), "{message}");
    let (_, pods) = send(&app, "GET", "/api/v2/pods", Some(token), None).await;
    assert_eq!(pods, serde_json::json!([]));
    assert_eq!(
        wallet(&app, &user_id).await,
        (offer.price.unwrap().0 - 1, 0)
    );
    let (status, _) = deploy(&app, token, "no-such-offer").await;
    assert_eq!(status, 404);
}

async fn a_failed_launch_voids_its_hold(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "unlucky@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 50_000_000).await;
    let offer = demo_offer(&app);
    let fast = SimulatedBehaviour {
        boot_delay: Duration::from_millis(200),
        ..SimulatedBehaviour::default()
    };
    app.state
        .pods
        .simulator()
        .set_behaviour(SimulatedBehaviour {
            fail_launch: true,
            ..fast
        });
    let (status, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{pod}");
    assert_eq!(pod["state"], "failed");
    assert!(
        pod["failure"].as_str().unwrap().contains("launch failed"),
        "{pod}"
    );
    assert_eq!(
        wallet(&app, &user_id).await,
        (50_000_000, 0),
        "hold voided, nothing charged"
    );

    // A machine that fails while booting fails its pod and releases the hold too.
    app.state
        .pods
        .simulator()
        .set_behaviour(SimulatedBehaviour {
            fail_boot: true,
            ..fast
        });
    let (status, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap();
    let failed = wait_state(&app, token, id, "failed").await;
    assert!(
        failed["failure"].as_str().unwrap().contains("did not boot"),
        "{failed}"
    );
    // The worker marks the pod failed, then releases the hold in the same pass.
    let mut balances = wallet(&app, &user_id).await;
    for _ in 0..100 {
        if balances == (50_000_000, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        balances = wallet(&app, &user_id).await;
    }
    assert_eq!(balances, (50_000_000, 0));
}

async fn metering_the_same_interval_twice_charges_once(backend: Backend) {
    // The worker waits an hour between passes: this test drives it by hand.
    let Some(app) = pod_app(backend, Duration::from_secs(3_600)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "twice@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 100_000_000).await;
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    let (status, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    app.state.pods.tick().await.unwrap();
    wait_state(&app, token, id, "running").await;
    let before = app.state.store.pod(id).await.unwrap().unwrap();
    assert_eq!(before.billed_intervals, 0);

    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let now = chrono::Utc::now();
    app.state.pods.meter(&before, now).await.unwrap();
    let once = wallet(&app, &user_id).await.0;
    let interval = gpubroker::pods::cost_of(price, 1_000).unwrap().0;
    assert_eq!(100_000_000 - once, 2 * interval);
    // A restarted worker that read the pod before the count was saved meters again.
    app.state.pods.meter(&before, now).await.unwrap();
    app.state
        .pods
        .meter(&before, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(wallet(&app, &user_id).await.0, once, "charged twice");
    let after = app.state.store.pod(id).await.unwrap().unwrap();
    assert_eq!(after.billed_intervals, 2);
    assert_eq!(
        PodSettings::default().meter_interval,
        Duration::from_secs(60)
    );
}

async fn a_wallet_short_of_the_next_interval_stops_the_pod(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "short@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    let interval = gpubroker::pods::cost_of(price, 1_000).unwrap().0;
    // The prepaid hour plus one and a half intervals.
    fund(&app, &user_id, price + interval * 3 / 2).await;
    let mut events = app.state.events.subscribe();
    let (status, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap();
    let stopped = wait_state(&app, token, id, "stopped").await;
    assert!(stopped["failure"].is_null(), "{stopped}");
    let (status, history) = send(
        &app,
        "GET",
        &format!("/api/v2/pods/{id}/events"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        history.to_string().contains("insufficient funds"),
        "{history}"
    );
    let (posted, held) = wallet(&app, &user_id).await;
    assert_eq!(held, 0);
    assert!(posted >= 0 && posted < price + interval * 3 / 2, "{posted}");
    let notified = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let batch = events.recv().await.unwrap();
            for event in batch.events.iter() {
                if let Event::Notification(n) = event {
                    if n.kind == "pod.state" && n.payload["state"] == "stopping" {
                        return n.clone();
                    }
                }
            }
        }
    })
    .await
    .expect("a pod.state notification");
    assert_eq!(notified.user_id, user_id);
    assert_eq!(notified.payload["pod_id"], id);
    // The notice also lands in the inbox.
    let (status, inbox) = send(&app, "GET", "/api/v2/notifications", Some(token), None).await;
    assert_eq!(status, 200, "{inbox}");
    let notices: Vec<_> = inbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "pod.stopped")
        .collect();
    assert_eq!(notices.len(), 1, "{inbox}");
    assert_eq!(notices[0]["data"]["pod_id"], id);
    assert!(notices[0]["read_at"].is_null());
    let (status, marked) = send(
        &app,
        "POST",
        "/api/v2/notifications/read",
        Some(token),
        None,
    )
    .await;
    assert_eq!((status, marked["marked"].as_u64()), (200, Some(1)));
}

async fn time_charged_past_a_stop_is_returned_once(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_secs(3_600)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "late@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let funded = 50_000_000;
    fund(&app, &user_id, funded).await;
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    let (_, pod) = deploy(&app, token, &offer.id).await;
    let id = pod["id"].as_str().unwrap();
    // The worker never runs on its own (1 h tick): drive it by hand.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.state.pods.tick().await.unwrap();
    let running = app.state.store.pod(id).await.unwrap().unwrap();
    assert_eq!(running.state, "running");
    // A late pass charges three full intervals...
    let since = running.running_since.unwrap();
    app.state
        .pods
        .meter(&running, since + chrono::Duration::milliseconds(3_100))
        .await
        .unwrap();
    let charged = app.state.store.pod(id).await.unwrap().unwrap();
    assert_eq!(charged.billed_intervals, 3);
    let interval = gpubroker::pods::cost_of(price, 1_000).unwrap().0;
    assert_eq!(wallet(&app, &user_id).await.0, funded - 3 * interval);
    // ...but the pod was stopped at 1.5 s (a budget's limit instant): the 1.5 s charged
    // past it come back, once however often the stop is settled.
    let stopped = gpubroker::store::pods::PodRow {
        stopped_at: Some(since + chrono::Duration::milliseconds(1_500)),
        state: "stopping".into(),
        ..charged
    };
    for _ in 0..2 {
        app.state
            .pods
            .meter(&stopped, since + chrono::Duration::seconds(10))
            .await
            .unwrap();
    }
    let half = gpubroker::pods::cost_of(price, 500).unwrap().0;
    let (_, txs) = send(
        &app,
        "GET",
        "/api/v2/billing/transactions",
        Some(token),
        None,
    )
    .await;
    assert_eq!(
        wallet(&app, &user_id).await.0,
        funded - interval - half,
        "{txs}"
    );
    let report = app.state.store.ledger_verify().await.unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}
