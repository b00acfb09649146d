//! Browser tests of the web UI in headless Chromium over WebDriver: search and sort the
//! marketplace, a live price change without a reload, register + sign in + a sandbox
//! top-up in the wallet, a refund by finance staff and a role change in the admin center,
//! the workload assistant, and deploy → running → stop of a demo pod.
//! Each saves a screenshot under `$CARGO_TARGET_DIR/browser-artifacts/`. Without
//! chromedriver they are skipped with a warning (under `CI=true` they fail instead).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../api/common.rs"]
#[allow(dead_code)]
mod common;
mod staff;
mod webdriver;
mod work;
#[path = "../api/ws_support.rs"]
#[allow(dead_code)]
mod ws_support;

use common::{spawn_app, Backend, TestApp};
use gpubroker::domain::money::MicroUsd;
use serde_json::{json, Value};
use webdriver::Browser;
use ws_support::{ingest, lambda};

/// An offer of the Lambda catalog the tests watch.
const TARGET: &str = "gpu_8x_h100_sxm5";

async fn app_with_market() -> TestApp {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    ingest(&app, "skypilot:lambda", lambda()).await;
    app
}

/// The on-demand prices shown in the marketplace table, top to bottom.
async fn shown_prices(browser: &Browser) -> Vec<f64> {
    let v = browser
        .js(
            "return [...document.querySelectorAll('#offers tbody td.price')]\
             .map(td => Number(td.textContent.replace(/[^0-9.]/g, '')))",
            json!([]),
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// Waits until the summary line says the search finished with `expect` in it.
async fn wait_summary(browser: &Browser, expect: &str) -> String {
    browser
        .wait_js(
            &format!("summary containing {expect:?}"),
            "const s = document.getElementById('summary'); \
             return s && s.textContent.includes(arguments[0]) ? s.textContent : false",
            json!([expect]),
        )
        .await
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_marketplace_search_sort_and_query_errors() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app_with_market().await;
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_for("#offers tbody tr").await;
    let q = browser.find("#q").await;
    browser.type_into(&q, "gpu=H100 sort=price\u{E007}").await;
    browser
        .wait_js(
            "only H100 rows",
            "const rows = [...document.querySelectorAll('#offers tbody tr')]; \
             return rows.length > 0 && rows.every(r => r.cells[1].textContent.includes('H100')) \
               && document.querySelector('#chips').textContent.includes('gpu=H100')",
            json!([]),
        )
        .await;
    let summary = wait_summary(&browser, "offers").await;
    assert!(summary.starts_with("Showing 1–"), "{summary}");
    let ascending = shown_prices(&browser).await;
    assert!(ascending.len() > 1, "{ascending:?}");
    assert!(ascending.windows(2).all(|w| w[0] <= w[1]), "{ascending:?}");

    // The $/hour header sorts ascending (already), a second click descending.
    let header = browser.find("th[data-sort='price'] button").await;
    browser.click(&header).await;
    browser
        .wait_js(
            "descending sort",
            "return document.querySelector(\"th[data-sort='price']\").getAttribute('aria-sort') === 'descending' \
               && document.getElementById('q').value.includes('sort=-price')",
            json!([]),
        )
        .await;
    let descending = {
        let mut last = Vec::new();
        for _ in 0..50 {
            last = shown_prices(&browser).await;
            if last.first() > last.last() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        last
    };
    assert!(
        descending.windows(2).all(|w| w[0] >= w[1]),
        "{descending:?}"
    );
    assert!(
        descending[0] > ascending[0],
        "{descending:?} vs {ascending:?}"
    );
    assert!(browser
        .js("return location.hash", json!([]))
        .await
        .as_str()
        .unwrap()
        .contains("sort%3D-price"));
    browser.screenshot("marketplace-sorted").await;

    // Autocomplete: a field prefix offers fields; arrow keys and Enter pick one.
    let q = browser.find("#q").await;
    browser.type_into(&q, "gpu=H100 pri").await;
    let options = browser
        .wait_js(
            "field suggestions",
            "const l = document.getElementById('q-suggest');              return !l.hidden && [...l.querySelectorAll('[role=option]')].map(o => o.firstChild.textContent)",
            json!([]),
        )
        .await;
    assert_eq!(options, json!(["price", "price_per_gpu"]));
    browser.type_into_more(&q, "\u{E015}\u{E007}").await;
    assert_eq!(
        browser
            .js("return document.getElementById('q').value", json!([]))
            .await,
        json!("gpu=H100 price")
    );

    // A misspelt field: the API's message is shown with the position.
    let q = browser.find("#q").await;
    browser.type_into(&q, "gpu=H100 prce<3\u{E007}").await;
    let error = browser.text("#q-error [role=alert]").await;
    assert!(error.contains("did you mean 'price'"), "{error}");
    assert!(error.contains("position 9"), "{error}");
    assert_eq!(
        browser
            .js(
                "return document.getElementById('q').getAttribute('aria-invalid')",
                json!([])
            )
            .await,
        json!("true")
    );
    browser.screenshot("marketplace-query-error").await;
    browser.quit().await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_live_price_change_flashes_without_reload() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app_with_market().await;
    let report = lambda();
    let target = report
        .offers
        .iter()
        .position(|o| o.instance_type == TARGET)
        .unwrap();
    let old = report.offers[target].price.unwrap();
    let id =
        gpubroker::domain::offer::offer_id("lambda", TARGET, &report.offers[target].region, None);
    browser
        .goto(&format!("{}/#/?q=instance_type%3D{TARGET}", app.base))
        .await;
    let row = format!("tr[data-id=\"{id}\"]");
    browser.wait_for(&row).await;
    browser
        .wait_js(
            "the live subscription",
            "return document.querySelector('gpb-marketplace').dataset.live === 'subscribed'",
            json!([]),
        )
        .await;
    browser.js("window.__sameDocument = 'yes'", json!([])).await;

    let mut moved = lambda();
    let new = MicroUsd(old.0 + 1_250_000);
    moved.offers[target].price = Some(new);
    ingest(&app, "skypilot:lambda", moved).await;

    let new_text = format!("{:.2}", new.as_usd_f64());
    let flashed: Value = browser
        .wait_js(
            "the flashing new price",
            "const tr = document.querySelector(arguments[0]); \
             return tr && tr.classList.contains('flash') && tr.querySelector('td.price').textContent.includes(arguments[1]) \
               ? tr.querySelector('td.price').textContent : false",
            json!([row, new_text]),
        )
        .await;
    assert!(
        flashed.as_str().unwrap().contains('▲'),
        "a rise is marked: {flashed}"
    );
    assert_eq!(
        browser.js("return window.__sameDocument", json!([])).await,
        json!("yes"),
        "the page was not reloaded"
    );
    browser
        .js(
            "document.querySelector(arguments[0]).scrollIntoView({block: 'center'})",
            json!([row]),
        )
        .await;
    browser.screenshot("marketplace-live-price").await;
    // The source starts failing: the banner says so, still without a reload.
    app.state
        .store
        .record_source_failure(
            "skypilot:lambda",
            "HTTP 503: upstream down",
            gpubroker::store::now(),
            40,
        )
        .await
        .unwrap();
    app.state
        .catalog
        .refresh_freshness(&app.state.store, &app.state.stale_windows())
        .await
        .unwrap();
    let banner = browser
        .wait_js(
            "the failing-provider banner",
            "return document.getElementById('provider-banner').textContent",
            json!([]),
        )
        .await;
    assert!(
        banner
            .as_str()
            .unwrap()
            .contains("skypilot:lambda: failing — HTTP 503: upstream down"),
        "{banner}"
    );
    browser.js("window.scrollTo(0, 0)", json!([])).await;
    browser.screenshot("marketplace-provider-banner").await;
    // The highlight is temporary.
    browser
        .wait_js(
            "the flash to end",
            "return !document.querySelector(arguments[0]).classList.contains('flash')",
            json!([row]),
        )
        .await;
    assert_eq!(
        browser.js("return window.__sameDocument", json!([])).await,
        json!("yes")
    );
    browser.quit().await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_register_sign_in_and_see_the_wallet() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let email = "ui-user@example.com";
    let password = "a long browser password 42";
    browser.goto(&format!("{}/#/register", app.base)).await;
    let field = browser.wait_for("#register-email").await;
    browser.type_into(&field, email).await;
    let field = browser.find("#register-password").await;
    browser.type_into(&field, password).await;
    let submit = browser.find("#register-form button[type=submit]").await;
    browser.click(&submit).await;
    let available = browser.text("#available").await;
    assert_eq!(available, "$0.00");
    assert!(browser.text("#who").await.contains(email));

    // Sign out, then in again through the login form.
    let logout = browser.find("#logout").await;
    browser.click(&logout).await;
    let field = browser.wait_for("#login-email").await;
    assert_eq!(
        browser
            .js("return document.cookie.includes('gpb_csrf=')", json!([]))
            .await,
        json!(false),
        "signing out clears the session cookies"
    );
    browser.type_into(&field, email).await;
    let field = browser.find("#login-password").await;
    browser.type_into(&field, "wrong password entirely").await;
    browser
        .click(&browser.find("#login-form button[type=submit]").await)
        .await;
    let error = browser
        .wait_js(
            "a sign-in error",
            "return document.getElementById('login-error').textContent",
            json!([]),
        )
        .await;
    assert!(
        error.as_str().unwrap().contains("invalid"),
        "a failed sign-in says so: {error}"
    );
    let field = browser.find("#login-password").await;
    browser.type_into(&field, password).await;
    browser
        .click(&browser.find("#login-form button[type=submit]").await)
        .await;
    browser.wait_for("#available").await;

    // API keys: create one (shown once), see it listed, revoke it.
    browser.click(&browser.find("a[data-nav=keys]").await).await;
    let name = browser.wait_for("#key-name").await;
    browser.type_into(&name, "ci-runner").await;
    browser
        .click(&browser.find("#key-form button[type=submit]").await)
        .await;
    assert!(browser.text("#new-key").await.starts_with("gpuk_"));
    browser
        .wait_js(
            "the key in the list",
            "return document.querySelector('#keys tbody').textContent.includes('ci-runner')",
            json!([]),
        )
        .await;
    browser
        .click(&browser.find("#keys tbody button").await)
        .await;
    browser.accept_alert().await;
    browser
        .wait_js(
            "the key revoked",
            "return document.querySelector('#keys tbody').textContent.includes('No API keys yet')",
            json!([]),
        )
        .await;

    // Top up through the sandbox checkout: the gateway's page, a test card, and back.
    browser
        .click(&browser.find("a[data-nav=wallet]").await)
        .await;
    let amount = browser.wait_for("#topup-amount").await;
    browser.type_into(&amount, "25").await;
    browser
        .click(&browser.find("#topup-form button[type=submit]").await)
        .await;
    let card = browser.wait_for("#card").await;
    assert!(
        browser.text("main").await.contains("25.00"),
        "the sandbox page shows the amount"
    );
    browser.screenshot("sandbox-checkout").await;
    browser.type_into(&card, "4242 4242 4242 4242").await;
    browser
        .click(&browser.find("form button[type=submit]").await)
        .await;
    browser
        .wait_js(
            "the credited wallet after checkout",
            "const a = document.getElementById('available'); return a && a.textContent === '$25.00'",
            json!([]),
        )
        .await;
    // A full reload: the session survives in its cookies.
    browser
        .goto(&format!("{}/?reload=1#/wallet", app.base))
        .await;
    browser
        .wait_js(
            "the credited wallet",
            "const a = document.getElementById('available'); return a && a.textContent === '$25.00'",
            json!([]),
        )
        .await;
    let txs = browser.text("#transactions tbody").await;
    assert!(txs.contains("top_up") && txs.contains("+$25.00"), "{txs}");
    // The statement link downloads this month's statement with the session cookie.
    let statement = browser
        .js(
            "return fetch(document.querySelector('#statements a[href*=\"format=json\"]').href).then(r => r.json())",
            json!([]),
        )
        .await;
    assert_eq!(
        statement["closing_balance_micro_usd"], 25_000_000,
        "{statement}"
    );
    browser.screenshot("account-wallet").await;

    // Subscribe to Pro through the same hosted checkout: the plan shows once paid.
    browser
        .click(
            &browser
                .wait_for("#plans button[data-subscribe-monthly=pro]")
                .await,
        )
        .await;
    let card = browser.wait_for("#card").await;
    browser.type_into(&card, "4242 4242 4242 4242").await;
    browser
        .click(&browser.find("form button[type=submit]").await)
        .await;
    let plan = browser
        .wait_js(
            "the pro subscription",
            "const s = document.getElementById('subscription'); \
             return s && s.textContent.startsWith('pro') ? s.textContent : false",
            json!([]),
        )
        .await;
    assert!(plan.as_str().unwrap().contains("monthly"), "{plan}");
    browser.screenshot("account-plan").await;
    browser.quit().await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_offer_detail_compare_rank_and_dark_theme() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = app_with_market().await;
    let report = lambda();
    let target = report
        .offers
        .iter()
        .position(|o| o.instance_type == TARGET)
        .unwrap();
    let id =
        gpubroker::domain::offer::offer_id("lambda", TARGET, &report.offers[target].region, None);
    // A second observation gives the chart a step.
    let mut moved = lambda();
    moved.offers[target].price = Some(MicroUsd(report.offers[target].price.unwrap().0 * 2));
    ingest(&app, "skypilot:lambda", moved).await;

    let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    browser
        .goto(&format!("{}/#/offers/{encoded}", app.base))
        .await;
    let step = browser
        .wait_js(
            "the price chart",
            "const p = document.querySelector('#price-chart path.line'); return p && p.getAttribute('d')",
            json!([]),
        )
        .await;
    assert!(step.as_str().unwrap().contains('V'), "a price step: {step}");
    let gpu = browser.text("section[aria-labelledby=h-gpu]").await;
    assert!(
        gpu.contains("Hopper") && gpu.contains("80 GB per GPU"),
        "{gpu}"
    );
    let tokens = browser
        .wait_js(
            "the token cost",
            "const t = document.getElementById('token-cost').textContent; return t.includes('per 1M tokens') && t",
            json!([]),
        )
        .await;
    assert!(tokens.as_str().unwrap().starts_with('$'), "{tokens}");

    // Dark theme by toggle (headless Chromium prefers light).
    browser.click(&browser.find("#theme").await).await;
    let theme = browser
        .js(
            "return [document.documentElement.dataset.theme, getComputedStyle(document.body).backgroundColor]",
            json!([]),
        )
        .await;
    assert_eq!(theme, json!(["dark", "rgb(18, 21, 26)"]));
    browser.screenshot("offer-detail-dark").await;

    // Compare this offer with the cheapest H100.
    browser.click(&browser.find("#compare-this").await).await;
    browser
        .goto(&format!("{}/#/?q=gpu%3DH100%20sort%3Dprice", app.base))
        .await;
    let first = browser
        .wait_for("#offers tbody tr:first-child input[type=checkbox]")
        .await;
    browser.click(&first).await;
    assert_eq!(browser.text("#compare-count").await, "2");
    browser
        .click(&browser.find("a[data-nav=compare]").await)
        .await;
    let columns = browser
        .wait_js(
            "two offers side by side",
            "return document.querySelectorAll('#compare thead th').length",
            json!([]),
        )
        .await;
    assert_eq!(columns, json!(2));
    let best = browser.text("#compare tbody tr:nth-child(4) td.best").await;
    assert!(
        best.starts_with('$'),
        "the cheaper $/hour is marked best: {best}"
    );

    // TOPSIS: scores are shown best first and follow the sliders.
    browser.click(&browser.find("a[data-nav=rank]").await).await;
    browser.wait_for("#ranked tbody tr").await;
    let scores = |v: Value| -> Vec<f64> { serde_json::from_value(v).unwrap() };
    let read = "return [...document.querySelectorAll('#ranked tbody tr td:nth-child(2)')].map(td => Number(td.textContent))";
    let before = scores(browser.js(read, json!([])).await);
    assert!(before.windows(2).all(|w| w[0] >= w[1]), "{before:?}");
    assert!(before.iter().all(|s| (0.0..=1.0).contains(s)), "{before:?}");
    let summary = browser
        .js(
            "const w = document.getElementById('w-price'); w.value = 0; w.dispatchEvent(new Event('input')); \
             return true",
            json!([]),
        )
        .await;
    assert_eq!(summary, json!(true));
    browser
        .wait_js(
            "the ranking without price",
            "const p = document.querySelector('#ranked')?.closest('div')?.previousElementSibling; \
             return p && !p.textContent.includes('price ')",
            json!([]),
        )
        .await;
    browser.quit().await;
    app.stop().await.unwrap();
}

/// Signs `email` (password [`common::TEST_PASSWORD`]) in through the login form and waits
/// for the wallet page it lands on.
async fn sign_in(browser: &Browser, app: &TestApp, email: &str) {
    browser.goto(&format!("{}/#/login", app.base)).await;
    let field = browser.wait_for("#login-email").await;
    browser.type_into(&field, email).await;
    let field = browser.find("#login-password").await;
    browser.type_into(&field, common::TEST_PASSWORD).await;
    browser
        .click(&browser.find("#login-form button[type=submit]").await)
        .await;
    browser.wait_for("#available").await;
}
