//! Budgets: alerts at 50, 75 and 90 % once each, auto-stop before the limit is passed, a
//! spent monthly budget refuses deploys until it is raised, and bad limits are refused.

use std::time::Duration;

use gpubroker::auth::Role;
use gpubroker::events::Event;
use serde_json::{json, Value};

use super::{demo_offer, fund, pod_app, wait_state, wallet};
use crate::common::{account, send, Backend};

crate::both_backends!(
    a_pod_budget_alerts_at_each_threshold_and_stops_the_pod_within_its_limit,
    a_spent_monthly_budget_stops_pods_and_refuses_deploys_until_raised,
    budget_limits_and_pods_are_checked,
    budget_alerts_are_mailed_when_smtp_is_configured,
);

async fn budget_alerts_are_mailed_when_smtp_is_configured(backend: Backend) {
    use gpubroker::settings::mail::{SmtpSettings, SmtpTls};
    let (addr, mut mails) = crate::recovery::fake_smtp().await;
    let Some(app) = crate::common::spawn_app_configured(backend, None, move |s| {
        s.pods.meter_interval = Duration::from_millis(1_000);
        s.pods.tick = Duration::from_millis(100);
        s.pods.simulated.boot_delay = Duration::from_millis(200);
        s.mail.smtp = Some(SmtpSettings {
            host: addr.ip().to_string(),
            port: addr.port(),
            tls: SmtpTls::StartTls,
            username: None,
            password: None,
        });
        s.mail.from = "alerts@broker.test".into();
    })
    .await
    else {
        return;
    };
    let offers: Vec<gpubroker::domain::offer::Offer> =
        gpubroker::providers::demo::market_at(1_700_000_000)
            .into_iter()
            .map(|raw| {
                gpubroker::domain::offer::Offer::normalize(
                    raw,
                    gpubroker::providers::demo::SOURCE_ID,
                )
            })
            .collect();
    app.state
        .catalog
        .replace_source(gpubroker::providers::demo::SOURCE_ID, offers);
    let (user_id, pair) = account(&app, "mailed@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    fund(&app, &user_id, price * 2).await;
    let limit = gpubroker::pods::cost_of(price, 2_000).unwrap().0;
    let body = json!({ "offer_id": offer.id, "budget_micro_usd": limit });
    let (status, pod) = send(&app, "POST", "/api/v2/pods", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{pod}");
    wait_state(&app, token, pod["id"].as_str().unwrap(), "stopped").await;
    let mut subjects = Vec::new();
    while subjects.len() < 4 {
        let mail = tokio::time::timeout(Duration::from_secs(10), mails.recv())
            .await
            .expect("four alert mails")
            .unwrap();
        assert!(mail.to.contains("mailed@example.com"), "{mail:?}");
        assert!(mail.from.contains("alerts@broker.test"), "{mail:?}");
        let subject = mail
            .data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap()
            .to_owned();
        subjects.push(subject);
    }
    subjects.sort();
    assert!(
        subjects[0].starts_with("50% of the budget of pod"),
        "{subjects:?}"
    );
    assert!(subjects[3].starts_with("Budget reached"), "{subjects:?}");
}

/// The caller's notifications of `kind`, oldest first.
async fn inbox(app: &crate::common::TestApp, token: &str, kind: &str) -> Vec<Value> {
    let (status, body) = send(app, "GET", "/api/v2/notifications", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    let mut found: Vec<Value> = body
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect();
    found.reverse();
    found
}

async fn a_pod_budget_alerts_at_each_threshold_and_stops_the_pod_within_its_limit(
    backend: Backend,
) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "budget@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    let funded = price * 2;
    fund(&app, &user_id, funded).await;
    // About three seconds of run time.
    let limit = gpubroker::pods::cost_of(price, 3_000).unwrap().0;
    let mut events = app.state.events.subscribe();
    let (status, pod) = send(
        &app,
        "POST",
        "/api/v2/pods",
        Some(token),
        Some(json!({ "offer_id": offer.id, "budget_micro_usd": limit })),
    )
    .await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap();
    let stopped = wait_state(&app, token, id, "stopped").await;
    assert!(stopped["failure"].is_null(), "{stopped}");
    let history = send(
        &app,
        "GET",
        &format!("/api/v2/pods/{id}/events"),
        Some(token),
        None,
    )
    .await
    .1;
    assert!(history.to_string().contains("budget reached"), "{history}");

    // Never more than the limit was charged, and not much less.
    let (posted, held) = wallet(&app, &user_id).await;
    assert_eq!(held, 0);
    let charged = funded - posted;
    assert!(charged <= limit, "charged {charged} over the limit {limit}");
    assert!(
        charged * 10 >= limit * 8,
        "stopped early: {charged} of {limit}"
    );

    // Each threshold alerted once, in order; the last says the pod was stopped.
    let alerts = inbox(&app, token, "budget.alert").await;
    let thresholds: Vec<i64> = alerts
        .iter()
        .map(|a| a["data"]["threshold"].as_i64().unwrap())
        .collect();
    assert_eq!(thresholds, vec![50, 75, 90, 100], "{alerts:?}");
    assert_eq!(alerts[3]["data"]["auto_stopped"], true);
    assert_eq!(alerts[3]["data"]["pod_id"], id);
    let (status, budgets) = send(&app, "GET", "/api/v2/budgets", Some(token), None).await;
    assert_eq!(status, 200);
    assert_eq!(budgets.as_array().unwrap().len(), 1, "{budgets}");
    let budget = &budgets[0];
    assert_eq!(
        (budget["scope"].as_str(), budget["pod_id"].as_str()),
        (Some("pod"), Some(id))
    );
    assert_eq!(budget["alerted"], json!([50, 75, 90, 100]));
    assert!(
        budget["spent_micro_usd"].as_i64().unwrap() <= limit,
        "{budget}"
    );

    // The same alerts went out on the user's channel.
    let mut seen = Vec::new();
    while let Ok(Ok(batch)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await
    {
        for event in batch.events.iter() {
            if let Event::Notification(n) = event {
                if n.kind == "budget.alert" {
                    assert_eq!(n.user_id, user_id);
                    seen.push(n.payload["data"]["threshold"].as_i64().unwrap());
                }
            }
        }
    }
    assert_eq!(seen, vec![50, 75, 90, 100]);
}

async fn a_spent_monthly_budget_stops_pods_and_refuses_deploys_until_raised(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (user_id, pair) = account(&app, "monthly@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let offer = demo_offer(&app);
    let price = offer.price.unwrap().0;
    fund(&app, &user_id, price * 3).await;
    let limit = gpubroker::pods::cost_of(price, 2_000).unwrap().0;
    let (status, budget) = send(
        &app,
        "POST",
        "/api/v2/budgets",
        Some(token),
        Some(json!({ "limit_micro_usd": limit })),
    )
    .await;
    assert_eq!(status, 201, "{budget}");
    assert_eq!(
        (budget["scope"].as_str(), budget["auto_stop"].as_bool()),
        (Some("month"), Some(true))
    );
    let deploy = json!({ "offer_id": offer.id });
    let (status, pod) = send(
        &app,
        "POST",
        "/api/v2/pods",
        Some(token),
        Some(deploy.clone()),
    )
    .await;
    assert_eq!(status, 201, "{pod}");
    let id = pod["id"].as_str().unwrap().to_owned();
    wait_state(&app, token, &id, "stopped").await;

    let budget_path = format!("/api/v2/budgets/{}", budget["id"].as_str().unwrap());
    let (_, spent) = send(&app, "GET", &budget_path, Some(token), None).await;
    assert_eq!(spent["alerted"], json!([50, 75, 90, 100]), "{spent}");
    assert!(
        spent["spent_micro_usd"].as_i64().unwrap() <= limit,
        "{spent}"
    );
    assert_eq!(
        spent["period"],
        chrono::Utc::now().format("%Y-%m").to_string()
    );

    let (status, refused) = send(
        &app,
        "POST",
        "/api/v2/pods",
        Some(token),
        Some(deploy.clone()),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(refused.to_string().contains("monthly budget"), "{refused}");

    // Raising the limit re-arms its alerts and lets the user deploy again.
    let (status, raised) = send(
        &app,
        "POST",
        "/api/v2/budgets",
        Some(token),
        Some(json!({ "limit_micro_usd": limit * 100, "auto_stop": false })),
    )
    .await;
    assert_eq!(status, 200, "{raised}");
    assert_eq!(raised["id"], budget["id"]);
    assert_eq!(raised["alerted"], json!([]));
    let (status, pod) = send(&app, "POST", "/api/v2/pods", Some(token), Some(deploy)).await;
    assert_eq!(status, 201, "{pod}");
    let (status, _) = send(&app, "DELETE", &budget_path, Some(token), None).await;
    assert_eq!(status, 204);
    let (status, _) = send(&app, "GET", &budget_path, Some(token), None).await;
    assert_eq!(status, 404);
}

async fn budget_limits_and_pods_are_checked(backend: Backend) {
    let Some(app) = pod_app(backend, Duration::from_millis(100)).await else {
        return;
    };
    let (_, pair) = account(&app, "careful@example.com", Role::User).await;
    let token = pair.access_token.as_str();
    let (_, other) = account(&app, "other@example.com", Role::User).await;
    for bad in [
        json!({ "limit_micro_usd": 0 }),
        json!({ "limit_micro_usd": -5 }),
        json!({ "limit_micro_usd": 2_000_000_000_000_i64 }),
        json!({ "limit": 5 }),
    ] {
        let (status, body) = send(
            &app,
            "POST",
            "/api/v2/budgets",
            Some(token),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(status, 422, "{bad} → {body}");
    }
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/budgets",
        Some(token),
        Some(json!({ "pod_id": "pod_nope", "limit_micro_usd": 5 })),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    // A budget of another user's is not found; theirs is not listed for us.
    let (status, theirs) = send(
        &app,
        "POST",
        "/api/v2/budgets",
        Some(other.access_token.as_str()),
        Some(json!({ "limit_micro_usd": 5_000_000 })),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("/api/v2/budgets/{}", theirs["id"].as_str().unwrap());
    assert_eq!(send(&app, "GET", &path, Some(token), None).await.0, 404);
    assert_eq!(send(&app, "DELETE", &path, Some(token), None).await.0, 404);
    let (_, mine) = send(&app, "GET", "/api/v2/budgets", Some(token), None).await;
    assert_eq!(mine, json!([]));
    let (status, body) = send(
        &app,
        "POST",
        "/api/v2/pods",
        Some(token),
        Some(json!({ "offer_id": "x", "budget_micro_usd": 0 })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(
        &app,
        "GET",
        "/api/v2/notifications?limit=0",
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
}
