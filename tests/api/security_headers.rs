//! Security headers on every response and cross-origin access only for allowed origins.

use crate::common::{spawn_app, spawn_app_configured, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_and_the_cors_allowlist() {
    let app = spawn_app_configured(Backend::Sqlite, None, |s| {
        s.cors_origins = vec!["https://app.example.com".into()];
        s.public_url = Some("https://broker.example.com".parse().unwrap());
    })
    .await
    .unwrap();
    for path in ["/health/", "/api/v2/kpi/overview", "/api/v2/no-such-route"] {
        let resp = app.get(path).await;
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(
            h["strict-transport-security"], "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
    let with_origin = |origin: &'static str| {
        app.client
            .get(format!("{}/api/v2/kpi/overview", app.base))
            .header("origin", origin)
            .send()
    };
    let allowed = with_origin("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = with_origin("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v2/recommendations", app.base),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    app.stop().await.unwrap();

    // Without an https public URL there is no HSTS, and no origin is allowed.
    let plain = spawn_app(Backend::Sqlite).await.unwrap();
    let resp = plain
        .client
        .get(format!("{}/health/", plain.base))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("strict-transport-security").is_none());
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    plain.stop().await.unwrap();
}
