//! The embedded web UI: served at `/` and `/ui/{file}` with a strict Content-Security-Policy,
//! content hashes for revalidation, and no inline script.

use crate::common::{spawn_app, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_page_and_assets_are_embedded_with_a_strict_csp() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    let host = app.base.trim_start_matches("http://");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(
        csp.contains(&format!("connect-src 'self' ws://{host} wss://{host}")),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    let html = page.text().await.unwrap();
    // Every script is an external file of this origin: nothing inline, nothing from a CDN.
    for tag in html.split("<script").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        assert!(
            tag.contains("src=\"/ui/"),
            "inline or foreign script: {tag}"
        );
    }
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no absolute URLs"
    );

    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("lib.js", "text/javascript; charset=utf-8"),
        ("views.js", "text/javascript; charset=utf-8"),
        ("account.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let resp = app.get(&format!("/ui/{file}")).await;
        assert_eq!(resp.status(), 200, "{file}");
        assert_eq!(resp.headers()["content-type"], kind, "{file}");
        assert!(
            resp.headers().contains_key("content-security-policy"),
            "{file}"
        );
        let etag = resp.headers()["etag"].clone();
        let body = resp.bytes().await.unwrap();
        assert!(
            body.len() < 64 * 1024,
            "{file} stays small: {} bytes",
            body.len()
        );
        let again = app
            .client
            .get(format!("{}/ui/{file}", app.base))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{file} revalidates");
    }

    let missing = app.get("/ui/nope.js").await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    // A Host header with CSP syntax in it is not copied into the policy.
    let odd = app
        .client
        .get(format!("{}/", app.base))
        .header("host", "x; script-src *")
        .send()
        .await
        .unwrap();
    if let Some(csp) = odd.headers().get("content-security-policy") {
        assert!(!csp.to_str().unwrap().contains("script-src *"));
    }
    app.stop().await.unwrap();
}
