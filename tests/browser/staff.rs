//! Staff in the admin center: a finance refund, an admin role change and the audit
//! verification.

use gpubroker::domain::money::MicroUsd;
use serde_json::json;

use crate::common::{self, spawn_app, Backend};
use crate::sign_in;
use crate::webdriver::Browser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_finance_refunds_part_of_a_sandbox_payment() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (payer_id, payer) =
        common::account(&app, "payer@example.com", gpubroker::auth::Role::User).await;
    let (_, _) = common::account(&app, "finance@example.com", gpubroker::auth::Role::Finance).await;
    // The payer tops up $25 in the sandbox checkout (server side; the wallet test does it
    // through the page).
    let checkout = app
        .state
        .payments
        .start_top_up(&payer_id, "payer@example.com", 25_000_000, None)
        .await
        .unwrap();
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(checkout.url.unwrap())
        .form(&[("action", "pay"), ("card_number", "4242424242424242")])
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 303);

    // Finance signs in, opens the admin center and refunds $10 of it.
    sign_in(&browser, &app, "finance@example.com").await;
    browser
        .click(&browser.find("a[data-nav=admin]").await)
        .await;
    let refund = browser.wait_for("#payments button[data-refund]").await;
    assert!(browser.text("#payments tbody").await.contains("$25.00"));
    browser.click(&refund).await;
    let amount = browser.wait_for("#refund-form input[name=amount]").await;
    browser.type_into(&amount, "10").await;
    let reason = browser.find("#refund-form input[name=reason]").await;
    browser.type_into(&reason, "duplicate order").await;
    browser
        .click(&browser.find("#refund-form button[type=submit]").await)
        .await;
    browser
        .wait_js(
            "the refund listed",
            "return document.querySelector('#refunds tbody').textContent.includes('duplicate order')",
            json!([]),
        )
        .await;
    assert!(browser.text("#payments tbody").await.contains("$10.00"));
    assert!(
        !browser.text("main").await.contains("null"),
        "no stray values on the page"
    );
    browser.screenshot("admin-refund").await;
    // The money left the payer's wallet exactly once.
    let balance = app.state.ledger.balance(&payer_id).await.unwrap();
    assert_eq!(balance.available, MicroUsd(15_000_000));
    let _ = payer;
    browser.quit().await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_admin_changes_a_role_and_verifies_the_audit_log() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (_, _) = common::account(&app, "boss@example.com", gpubroker::auth::Role::Admin).await;
    let (staff_id, _) =
        common::account(&app, "staff@example.com", gpubroker::auth::Role::User).await;
    sign_in(&browser, &app, "boss@example.com").await;
    browser
        .click(&browser.find("a[data-nav=admin]").await)
        .await;
    browser
        .wait_js(
            "the users table",
            "const t = document.querySelector('#users tbody'); return t && t.textContent.includes('staff@example.com')",
            json!([]),
        )
        .await;
    assert!(browser.text("#provider-health").await.len() > 3);
    // Make the user support staff through the role menu.
    let option = browser
        .find("select[aria-label='Role of staff@example.com'] option[value=support]")
        .await;
    browser.click(&option).await;
    let mut role = String::new();
    for _ in 0..100 {
        role = app
            .state
            .auth
            .user(&staff_id)
            .await
            .unwrap()
            .role
            .as_str()
            .to_owned();
        if role == "support" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(role, "support");
    browser.click(&browser.find("#audit-verify").await).await;
    let verdict = browser
        .wait_js(
            "the audit verdict",
            "const r = document.getElementById('audit-result'); return r && r.className === 'ok' && r.textContent",
            json!([]),
        )
        .await;
    assert!(verdict.as_str().unwrap().starts_with("Intact"), "{verdict}");
    browser
        .wait_js(
            "the role change in the audit list",
            "return document.querySelector('#audit tbody').textContent.includes('auth.role_change')",
            json!([]),
        )
        .await;
    browser.screenshot("admin-center").await;
    browser.quit().await;
    app.stop().await.unwrap();
}
