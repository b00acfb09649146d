//! Doing work: the workload assistant, and deploy → running → stop of a demo pod.

use gpubroker::domain::money::MicroUsd;
use serde_json::json;

use crate::app_with_market;
use crate::common::{self, Backend};
use crate::sign_in;
use crate::webdriver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_workload_assistant_shortlists_and_chats() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app_with_market().await;
    browser.goto(&format!("{}/#/assistant", app.base)).await;
    let text = browser.wait_for("#wizard-text").await;
    browser
        .type_into(&text, "serve llama 3 8b at 100 tokens/s")
        .await;
    browser
        .click(&browser.find("#wizard-form button[type=submit]").await)
        .await;
    let rows = browser
        .wait_js(
            "the shortlist",
            "const t = document.querySelector('#shortlist tbody'); return t && t.children.length",
            json!([]),
        )
        .await;
    assert!(rows.as_u64().unwrap() >= 1, "{rows}");
    assert!(!browser.text("#recognised").await.is_empty());
    let requirements = browser.text("#requirements").await;
    assert!(requirements.contains("Model"), "{requirements}");
    let first = browser.text("#shortlist tbody tr td:nth-child(4)").await;
    assert!(first.starts_with('$'), "an hourly price: {first}");

    let chat = browser.find("#chat-text").await;
    browser.type_into(&chat, "cheapest H100").await;
    browser
        .click(&browser.find("#chat-form button[type=submit]").await)
        .await;
    let reply = browser
        .wait_js(
            "a chat reply",
            "const b = document.querySelector('#chat-log li.bot'); return b && b.textContent",
            json!([]),
        )
        .await;
    assert!(reply.as_str().unwrap().len() > 10, "{reply}");
    browser.screenshot("assistant").await;
    browser.quit().await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_deploy_a_demo_pod_watch_it_run_and_stop_it() {
    use gpubroker::domain::offer::Offer;
    use gpubroker::providers::demo;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = common::spawn_app_configured(Backend::Sqlite, None, |s| {
        s.pods.meter_interval = std::time::Duration::from_millis(1_000);
        s.pods.tick = std::time::Duration::from_millis(200);
        s.pods.simulated.boot_delay = std::time::Duration::from_millis(300);
    })
    .await
    .unwrap();
    let offers: Vec<Offer> = demo::market_at(1_700_000_000)
        .into_iter()
        .map(|raw| Offer::normalize(raw, demo::SOURCE_ID))
        .collect();
    let offer = offers.iter().find(|o| o.price.is_some()).unwrap().clone();
    app.state.catalog.replace_source(demo::SOURCE_ID, offers);
    let (user_id, pair) =
        common::account(&app, "pilot@example.com", gpubroker::auth::Role::User).await;
    app.state
        .ledger
        .top_up(
            &gpubroker::ledger::IdempotencyKey::new("test", "pilot-fund").unwrap(),
            &user_id,
            MicroUsd(500_000_000),
            json!({}),
        )
        .await
        .unwrap();
    sign_in(&browser, &app, "pilot@example.com").await;

    let encoded: String = url::form_urlencoded::byte_serialize(offer.id.as_bytes()).collect();
    browser
        .goto(&format!("{}/#/offers/{encoded}", app.base))
        .await;
    let deploy = browser.wait_for("#deploy").await;
    browser.click(&deploy).await;
    browser
        .wait_js(
            "the pod running",
            "return !!document.querySelector('#pods [data-state=running]')",
            json!([]),
        )
        .await;
    // The Pods entry is in the navigation now that the server has the routes.
    assert_eq!(
        browser
            .js(
                "return document.querySelector('a[data-nav=pods]').offsetParent !== null",
                json!([])
            )
            .await,
        json!(true)
    );
    // The GPU agent reports: the row shows a utilisation sparkline without a reload.
    let token = pair.access_token.as_str();
    let (_, pods) = common::send(&app, "GET", "/api/v2/pods", Some(token), None).await;
    let pod_id = pods[0]["id"].as_str().unwrap().to_owned();
    let (status, agent) = common::send(
        &app,
        "POST",
        &format!("/api/v2/pods/{pod_id}/agent-token"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(status, 201, "{agent}");
    let now = chrono::Utc::now();
    let samples: Vec<_> = [40.0, 87.0]
        .iter()
        .enumerate()
        .map(|(i, u)| {
            json!({ "at": (now - chrono::Duration::minutes(1 - i as i64)).to_rfc3339(),
                    "gpu_index": 0, "uuid": "GPU-1", "name": "NVIDIA H100 80GB HBM3",
                    "utilization_pct": u, "memory_used_mib": 1000, "memory_total_mib": 81559,
                    "temperature_c": 61, "power_w": 312.5, "power_limit_w": 700.0 })
        })
        .collect();
    let (status, took) = common::send(
        &app,
        "POST",
        "/api/v2/agent/telemetry",
        agent["token"].as_str(),
        Some(json!({ "samples": samples })),
    )
    .await;
    assert_eq!(status, 202, "{took}");
    let shown = browser
        .wait_js(
            "the telemetry sparkline",
            "const t = document.querySelector('#pods [data-telemetry=live]'); \
             return t && t.querySelector('svg path') ? t.textContent : false",
            json!([]),
        )
        .await;
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("87%") && shown.contains("61°C") && shown.contains("313 W"),
        "{shown}"
    );
    browser.screenshot("pod-running").await;
    let stop = browser.find("#pods button[data-stop]").await;
    browser.click(&stop).await;
    browser
        .wait_js(
            "the pod stopped",
            "return !!document.querySelector('#pods [data-state=stopped]')",
            json!([]),
        )
        .await;
    // Usage was charged from the wallet, and charging ended with the stop.
    let after_stop = app.state.ledger.balance(&user_id).await.unwrap();
    assert!(after_stop.posted.0 < 500_000_000, "{after_stop:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let later = app.state.ledger.balance(&user_id).await.unwrap();
    assert_eq!(later.posted, after_stop.posted, "no charge after the stop");
    browser.screenshot("pod-stopped").await;
    // Started again: a new run on the same machine.
    browser
        .click(&browser.find("#pods button[data-start]").await)
        .await;
    browser
        .wait_js(
            "the pod running again",
            "return !!document.querySelector('#pods [data-state=running]')",
            json!([]),
        )
        .await;
    browser.quit().await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_a_monthly_budget_alerts_live_and_stops_the_pod() {
    use gpubroker::domain::offer::Offer;
    use gpubroker::providers::demo;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = common::spawn_app_configured(Backend::Sqlite, None, |s| {
        s.pods.meter_interval = std::time::Duration::from_millis(1_000);
        s.pods.tick = std::time::Duration::from_millis(200);
        s.pods.simulated.boot_delay = std::time::Duration::from_millis(300);
    })
    .await
    .unwrap();
    let offers: Vec<Offer> = demo::market_at(1_700_000_000)
        .into_iter()
        .map(|raw| Offer::normalize(raw, demo::SOURCE_ID))
        .collect();
    // The dearest offer spends a two-cent budget in a few seconds.
    let offer = offers
        .iter()
        .filter(|o| o.price.is_some())
        .max_by_key(|o| o.price)
        .unwrap()
        .clone();
    app.state.catalog.replace_source(demo::SOURCE_ID, offers);
    let (user_id, _) =
        common::account(&app, "saver@example.com", gpubroker::auth::Role::User).await;
    app.state
        .ledger
        .top_up(
            &gpubroker::ledger::IdempotencyKey::new("test", "saver-fund").unwrap(),
            &user_id,
            MicroUsd(offer.price.unwrap().0 * 2),
            json!({}),
        )
        .await
        .unwrap();
    sign_in(&browser, &app, "saver@example.com").await;

    browser.goto(&format!("{}/#/pods", app.base)).await;
    let limit = browser.wait_for("#budget-limit").await;
    browser.type_into(&limit, "0.02").await;
    browser
        .click(&browser.find("#budget-form button[type=submit]").await)
        .await;
    browser
        .wait_js(
            "the monthly budget shown",
            "return document.getElementById('month-budget').textContent.includes('$0.02')",
            json!([]),
        )
        .await;

    let encoded: String = url::form_urlencoded::byte_serialize(offer.id.as_bytes()).collect();
    browser
        .goto(&format!("{}/#/offers/{encoded}", app.base))
        .await;
    // Record every toast: alerts arrive over the live stream, not by polling.
    browser
        .js(
            "window.toasts = []; new MutationObserver(() => { const t = document.getElementById('toast').textContent; if (t) window.toasts.push(t); }).observe(document.getElementById('toast'), { childList: true, characterData: true, subtree: true }); return true",
            json!([]),
        )
        .await;
    browser.click(&browser.wait_for("#deploy").await).await;
    browser
        .wait_js(
            "the pod stopped by its budget",
            "return !!document.querySelector('#pods [data-state=stopped]') && \
             [...document.querySelectorAll('#alerts li[data-kind=\"budget.alert\"] strong')].some(s => s.textContent.startsWith('Budget reached'))",
            json!([]),
        )
        .await;
    let toasts = browser.js("return window.toasts", json!([])).await;
    assert!(
        toasts
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t.as_str().unwrap().contains("of your")),
        "no budget alert toast: {toasts}"
    );
    let alerts = browser.text("#alerts").await;
    for threshold in ["50%", "75%", "90%"] {
        assert!(alerts.contains(threshold), "{alerts}");
    }
    browser.screenshot("budget-stopped").await;
    // The wallet paid at most the budget.
    let b = app.state.ledger.balance(&user_id).await.unwrap();
    let charged = MicroUsd(offer.price.unwrap().0 * 2).0 - b.posted.0;
    assert!(
        charged <= 20_000,
        "charged {charged} micro-USD over a $0.02 budget"
    );
    browser.quit().await;
    app.stop().await.unwrap();
}
