//! The life of a pod over HTTP: deploy → running → metered → stopped → terminated, the
//! forbidden transitions, the plan limit and retries with a client token.

use std::time::Duration;

use gpubroker::auth::Role;
use serde_json::json;

use super::{demo_offer, deploy, fund, pod_app, wait_state, wallet};
use crate::common::{account, send, Backend};

crate::both_backends!(
    a_demo_pod_runs_is_metered_per_second_and_stop_ends_charging,
    the_plan_limits_concurrent_pods_and_a_client_token_never_double_creates,
    a_pod_is_deployed_from_a_recommendation,
    racing_deploys_never_pass_the_plan_limit,
    a_stopped_pod_starts_again_as_a_new_run_and_its_budget_counts_every_run,
    the_admin_overview_counts_accounts_pods_and_usage_revenue,
);

async fn the_admin_overview_counts_accounts_pods_and_usage_revenue(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "user@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let (_, finance) = account(&app, "finance@example.com", Role::Finance).await;
    let funded = 50_000_000;
    fund(&app, &user_id, funded).await;
    let offer = demo_offer(&app);
    let (_, pod) = deploy(&app, token, &offer.id).await;
    let id = pod["id"].as_str().unwrap();
    wait_state(&app, token, id, "running").await;
    let (status, seen) = send(
        &app,
        "GET",
        "/api/v2/admin/overview",
        Some(finance.access_token.as_str()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        (seen["users"].as_i64(), seen["active_pods"].as_i64()),
        (Some(2), Some(1)),
        "{seen}"
    );
    assert_eq!(seen["pods_by_state"]["running"], 1);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        send(
            &app,
            "POST",
            &format!("/api/v2/pods/{id}/stop"),
            Some(token),
            None
        )
        .await
        .0,
        200
    );
    wait_state(&app, token, id, "stopped").await;
    let charged = funded - wallet(&app, &user_id).await.0;
    let (_, seen) = send(
        &app,
        "GET",
        "/api/v2/admin/overview",
        Some(finance.access_token.as_str()),
        None,
    )
    .await;
    assert_eq!(seen["active_pods"], 0, "{seen}");
    assert_eq!(seen["pods_by_state"]["stopped"], 1);
    assert_eq!(seen["pods_by_state"]["failed"], 0);
    assert_eq!(
        seen["usage_revenue_micro_usd"].as_i64(),
        Some(charged),
        "{seen}"
    );
    assert!(charged > 0);
    assert_eq!(
        send(&app, "GET", "/api/v2/admin/overview", Some(token), None)
            .await
            .0,
        403
    );
}

async fn a_stopped_pod_starts_again_as_a_new_run_and_its_budget_counts_every_run(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "restart@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    let funded = price * 3;
    fund(&app, &user_id, funded).await;
    let (status, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap().to_owned();
    let path = |what: &str| format!("/api/v2/pods/{id}/{what}");
    wait_state(&app, token, &id, "running").await;
    let (status, body) = send(&app, "POST", &path("start"), Some(token), None).await;
    assert_eq!(status, 409, "a running pod cannot start: {body}");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(
        send(&app, "POST", &path("stop"), Some(token), None).await.0,
        200
    );
    wait_state(&app, token, &id, "stopped").await;
    let first_run = funded - wallet(&app, &user_id).await.0;
    assert!(first_run > 0);

    // A pod budget a little above the first run: the second run may spend only the rest.
    let limit = first_run + gpubroker::pods::cost_of(price, 1_500).unwrap().0;
    let (status, budget) = send(
        &app,
        "POST",
        "/api/v2/budgets",
        Some(token),
        Some(json!({ "pod_id": id, "limit_micro_usd": limit })),
    )
    .await;
    assert_eq!(status, 201, "{budget}");
    let (status, started) = send(&app, "POST", &path("start"), Some(token), None).await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(
        (started["state"].as_str(), started["run"].as_i64()),
        (Some("provisioning"), Some(1))
    );
    assert_eq!(started["billed_intervals"], 0);
    wait_state(&app, token, &id, "running").await;
    wait_state(&app, token, &id, "stopped").await;
    let (_, history) = send(&app, "GET", &path("events"), Some(token), None).await;
    assert!(history.to_string().contains("start requested"), "{history}");
    assert!(history.to_string().contains("budget reached"), "{history}");

    // Both runs were charged, each (run, interval) once, never past the budget.
    let (posted, held) = wallet(&app, &user_id).await;
    assert_eq!(held, 0, "both runs' holds released");
    let charged = funded - posted;
    assert!(
        charged > first_run && charged <= limit,
        "{first_run} < {charged} <= {limit}"
    );
    let (_, page) = send(
        &app,
        "GET",
        "/api/v2/billing/transactions?limit=200",
        Some(token),
        None,
    )
    .await;
    let mut seen = std::collections::BTreeSet::new();
    for t in page["transactions"].as_array().unwrap() {
        if t["kind"] == "charge" {
            let key = (
                t["metadata"]["run"].as_i64().unwrap(),
                t["metadata"]["interval"].as_i64().unwrap(),
            );
            assert!(seen.insert(key), "charged twice: {key:?}");
        }
    }
    assert!(
        seen.iter().any(|(run, _)| *run == 0) && seen.iter().any(|(run, _)| *run == 1),
        "{seen:?}"
    );

    // The spent budget refuses another start until it is raised.
    let (status, body) = send(&app, "POST", &path("start"), Some(token), None).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("budget"), "{body}");
    assert_eq!(
        send(&app, "POST", &path("terminate"), Some(token), None)
            .await
            .0,
        200
    );
    let (status, _) = send(&app, "POST", &path("start"), Some(token), None).await;
    assert_eq!(status, 409, "a terminated pod cannot start");
}

async fn racing_deploys_never_pass_the_plan_limit(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "racer@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    fund(&app, &user_id, price * 10).await;
    let deploys = (0..6).map(|i| {
        let body = json!({ "offer_id": offer.id, "client_token": format!("race-{i}") });
        let app = &app;
        async move { send(app, "POST", "/api/v2/pods", Some(token), Some(body)).await }
    });
    let answers = futures_util::future::join_all(deploys).await;
    // At most one wins (when two count each other, both give way).
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert!(created <= 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 201 || *s == 409),
        "{answers:?}"
    );
    let (_, pods) = send(&app, "GET", "/api/v2/pods", Some(token), None).await;
    let live = pods
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["state"] != "failed")
        .count();
    assert_eq!(live, created, "{pods}");
    let held = price * i64::try_from(created).unwrap();
    // The winner may already be running and charged; the holds are what must add up.
    let (posted, on_hold) = wallet(&app, &user_id).await;
    assert_eq!(on_hold, held, "no hold leaked");
    assert!(posted <= price * 10);
}

async fn a_pod_is_deployed_from_a_recommendation(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "recommended@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 100_000_000).await;
    let workload = json!({ "text": "serve llama 3 8b at 100 tokens/s" });
    let (status, rec) = send(
        &app,
        "POST",
        "/api/v2/recommendations",
        Some(token),
        Some(workload.clone()),
    )
    .await;
    assert_eq!(status, 200, "{rec}");
    let second = rec["recommendations"][1]["offer"]["id"]
        .as_str()
        .expect("two picks")
        .to_owned();
    let body = json!({ "recommendation": workload, "rank": 2 });
    let (status, pod) = send(&app, "POST", "/api/v2/pods", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{pod}");
    assert_eq!(pod["offer_id"], second.as_str());

    for (bad, code) in [
        (
            json!({ "offer_id": second, "recommendation": workload }),
            422,
        ),
        (json!({}), 422),
        (json!({ "recommendation": workload, "rank": 0 }), 422),
        (
            json!({ "recommendation": { "text": "serve llama 3 8b" }, "rank": 20 }),
            409,
        ),
    ] {
        let (status, body) =
            send(&app, "POST", "/api/v2/pods", Some(token), Some(bad.clone())).await;
        assert_eq!(status, code, "{bad} → {body}");
    }
}

async fn a_demo_pod_runs_is_metered_per_second_and_stop_ends_charging(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "pods@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 100_000_000).await;
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;

    let (status, pod) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{pod}");
    assert_eq!(pod["state"], "provisioning");
    assert_eq!(pod["price_per_hour_micro_usd"], price);
    assert_eq!(pod["provider"], offer.provider.as_str());
    let id = pod["id"].as_str().unwrap().to_owned();
    // One prepaid hour is held, nothing charged yet.
    assert_eq!(wallet(&app, &user_id).await, (100_000_000, price));

    wait_state(&app, token, &id, "running").await;
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let (posted, _) = wallet(&app, &user_id).await;
    assert!(posted < 100_000_000, "running pod not charged: {posted}");
    let (_, listed) = send(&app, "GET", "/api/v2/pods", Some(token), None).await;
    assert!(
        listed[0]["billed_intervals"].as_i64().unwrap() >= 2,
        "{listed}"
    );

    let (status, stopped) = send(
        &app,
        "POST",
        &format!("/api/v2/pods/{id}/stop"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["state"], "stopped");
    let (after_stop, held) = wallet(&app, &user_id).await;
    assert_eq!(held, 0, "the prepaid hold is released on stop");
    // Exactly the run time is charged: every full interval plus the partial last one.
    let start: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(stopped["running_since"].clone()).unwrap();
    let end: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(stopped["stopped_at"].clone()).unwrap();
    let ran_ms = i128::from((end - start).num_milliseconds());
    let exact = i64::try_from(i128::from(price) * ran_ms / 3_600_000).unwrap();
    let charged = 100_000_000 - after_stop;
    assert!(
        charged <= exact && charged >= exact - 2,
        "{charged} vs {exact}"
    );

    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        wallet(&app, &user_id).await.0,
        after_stop,
        "charging continued after stop"
    );

    // Forbidden transitions answer 409.
    let (status, body) = send(
        &app,
        "POST",
        &format!("/api/v2/pods/{id}/stop"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let path = format!("/api/v2/pods/{id}/terminate");
    let (status, body) = send(&app, "POST", &path, Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "terminated");
    let (status, body) = send(&app, "POST", &path, Some(token), None).await;
    assert_eq!(status, 409, "{body}");

    let (status, events) = send(
        &app,
        "GET",
        &format!("/api/v2/pods/{id}/events"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{events}");
    let path: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        [
            "requested",
            "provisioning",
            "running",
            "stopping",
            "stopped",
            "terminated"
        ]
    );
    assert_eq!(wallet(&app, &user_id).await.0, after_stop);
}

async fn the_plan_limits_concurrent_pods_and_a_client_token_never_double_creates(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "limit@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    fund(&app, &user_id, 100_000_000).await;
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;

    let body = json!({ "offer_id": offer.id, "name": "trainer", "client_token": "retry-1" });
    let (status, first) = send(
        &app,
        "POST",
        "/api/v2/pods",
        Some(token),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["name"], "trainer");
    let (status, again) = send(&app, "POST", "/api/v2/pods", Some(token), Some(body)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(wallet(&app, &user_id).await.1, price, "one hold only");

    // The free plan runs one pod at once.
    let (status, body) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("plan"),
        "{body}"
    );

    let id = first["id"].as_str().unwrap();
    let (status, _) = send(
        &app,
        "POST",
        &format!("/api/v2/pods/{id}/stop"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = deploy(&app, token, &offer.id).await;
    assert_eq!(status, 201, "{body}");

    // Another user's pod is not found.
    let (_, other) = account(&app, "other@example.com", Role::User).await;
    let (status, _) = send(
        &app,
        "GET",
        &format!("/api/v2/pods/{id}"),
        Some(other.access_token.as_str()),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, theirs) = send(
        &app,
        "GET",
        "/api/v2/pods",
        Some(other.access_token.as_str()),
        None,
    )
    .await;
    assert_eq!(theirs, json!([]));
}
