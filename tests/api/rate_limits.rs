//! Rate limits through a spawned server on both backends: a tiny per-second bucket answers
//! 429 with `Retry-After` and recovers after the refill; buckets are per caller; health
//! routes are not limited; failed logins are throttled per email without enumeration.

use std::time::Duration;

use gpubroker::auth::{Email, Password, Role};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{spawn_app, spawn_app_configured, Backend, TestApp};

both_backends!(
    empty_bucket_is_429_with_headers_and_refills,
    login_throttling_answers_identically_for_known_and_unknown_emails,
    forwarded_for_keys_anonymous_callers_only_when_trusted,
);

const PASSWORD: &str = "correct horse battery";

/// A server whose free plan allows one request per second.
async fn tiny_limit_app(backend: Backend) -> Option<TestApp> {
    spawn_app_configured(backend, None, |settings| settings.rate_limits.free = 1).await
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn empty_bucket_is_429_with_headers_and_refills(backend: Backend) {
    let Some(app) = tiny_limit_app(backend).await else {
        return;
    };
    // A signed-in caller gets a bucket of its own, apart from the anonymous IP's.
    let email = Email::parse("ann@example.com").unwrap();
    let password = Password::parse(PASSWORD).unwrap();
    app.state
        .auth
        .register(&email, &password, Role::User, None)
        .await
        .unwrap();
    let token = app
        .state
        .auth
        .login("ann@example.com", PASSWORD)
        .await
        .unwrap()
        .access_token;

    let first = app.get("/api/v2/").await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-ratelimit-limit").as_deref(), Some("1"));
    assert_eq!(
        header(&first, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );

    let refused = app.get("/api/v2/").await;
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_eq!(header(&refused, "x-ratelimit-limit").as_deref(), Some("1"));
    assert_eq!(
        header(&refused, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    let health = app.get("/health").await;
    assert_eq!(health.status(), 200);
    assert!(header(&health, "x-ratelimit-limit").is_none());

    let own_bucket = app
        .client
        .get(format!("{}/api/v2/auth/me", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(own_bucket.status(), 200);
    assert_eq!(
        header(&own_bucket, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );

    tokio::time::sleep(Duration::from_secs(retry_after) + Duration::from_millis(100)).await;
    let recovered = app.get("/api/v2/").await;
    assert_eq!(recovered.status(), 200);
    app.stop().await.unwrap();
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    let response = app
        .post_json(
            "/api/v2/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .await;
    let status = response.status().as_u16();
    let mut body: Value = response.json().await.unwrap();
    body["error"]["request_id"] = Value::Null;
    (status, body)
}

async fn login_throttling_answers_identically_for_known_and_unknown_emails(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let email = Email::parse("dee@example.com").unwrap();
    let password = Password::parse(PASSWORD).unwrap();
    app.state
        .auth
        .register(&email, &password, Role::User, None)
        .await
        .unwrap();
    for _ in 0..5 {
        assert_eq!(
            login(&app, "dee@example.com", "wrong password!").await.0,
            401
        );
        assert_eq!(
            login(&app, "nobody@example.com", "wrong password!").await.0,
            401
        );
    }
    // The right password no longer helps while the email is throttled.
    let known = login(&app, "Dee@Example.com", PASSWORD).await;
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_eq!(known.0, 401);
    assert_eq!(known, unknown);
    assert_eq!(known.1["error"]["message"], "invalid email or password");

    // Other emails are unaffected.
    let email = Email::parse("eve@example.com").unwrap();
    app.state
        .auth
        .register(&email, &password, Role::User, None)
        .await
        .unwrap();
    assert_eq!(login(&app, "eve@example.com", PASSWORD).await.0, 200);

    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    let throttled = entries
        .iter()
        .filter(|e| e.action == "auth.login_throttled")
        .count();
    assert_eq!(throttled, 2);
    app.stop().await.unwrap();
}

async fn get_as(app: &TestApp, forwarded_for: &str) -> u16 {
    app.client
        .get(format!("{}/api/v2/", app.base))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn forwarded_for_keys_anonymous_callers_only_when_trusted(backend: Backend) {
    let Some(app) = tiny_limit_app(backend).await else {
        return;
    };
    // Untrusted: one bucket for the socket peer whatever the header says.
    assert_eq!(get_as(&app, "203.0.113.1").await, 200);
    assert_eq!(get_as(&app, "203.0.113.2").await, 429);
    app.stop().await.unwrap();

    let Some(app) = spawn_app_configured(backend, None, |settings| {
        settings.rate_limits.free = 1;
        settings.trust_forwarded_for = true;
    })
    .await
    else {
        return;
    };
    // Trusted: the last address (appended by the proxy) picks the bucket.
    assert_eq!(get_as(&app, "198.51.100.7, 203.0.113.1").await, 200);
    assert_eq!(get_as(&app, "198.51.100.7, 203.0.113.2").await, 200);
    assert_eq!(get_as(&app, "203.0.113.1").await, 429);
    app.stop().await.unwrap();
}
