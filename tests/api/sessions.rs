//! Browser sessions on both backends: sign-in sets HttpOnly SameSite=Strict cookies and
//! no tokens in the body; cookie-authenticated writes need the CSRF token of that very
//! session; refresh rotates the cookies; sign-out revokes and clears them.

use gpubroker::auth::Role;
use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::Response;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{account, spawn_app, Backend, TestApp, TEST_PASSWORD};

both_backends!(
    sign_in_sets_http_only_cookies_and_no_tokens,
    cookie_writes_need_the_csrf_token_of_the_same_session,
    refresh_rotates_cookies_and_sign_out_revokes_them,
);

/// The session's cookies by name, from `Set-Cookie` headers (value and attributes).
struct Jar(Vec<(String, String, String)>);

impl Jar {
    fn of(response: &Response) -> Jar {
        Jar(response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| {
                let text = v.to_str().unwrap().to_owned();
                let (pair, attrs) = text.split_once(';').unwrap_or((&text, ""));
                let (name, value) = pair.split_once('=').unwrap();
                (name.to_owned(), value.to_owned(), attrs.to_owned())
            })
            .collect())
    }
    fn value(&self, name: &str) -> &str {
        &self.0.iter().find(|c| c.0 == name).unwrap().1
    }
    fn attrs(&self, name: &str) -> &str {
        &self.0.iter().find(|c| c.0 == name).unwrap().2
    }
    /// The `Cookie` request header a browser would send to the API.
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

async fn sign_in(app: &TestApp, email: &str) -> (Jar, Value) {
    account(app, email, Role::User).await;
    let response = app
        .post_json(
            "/api/v2/auth/session",
            &json!({ "email": email, "password": TEST_PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let jar = Jar::of(&response);
    (jar, response.json().await.unwrap())
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    cookies: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .header(COOKIE, cookies);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn sign_in_sets_http_only_cookies_and_no_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (jar, user) = sign_in(&app, "ann@example.com").await;
    assert_eq!(user["email"], "ann@example.com");
    assert!(!user.to_string().contains("token"), "{user}");
    for name in ["gpb_access", "gpb_refresh"] {
        let attrs = jar.attrs(name);
        assert!(
            attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
            "{name}: {attrs}"
        );
        assert!(!attrs.contains("Secure"), "plain http development server");
    }
    assert!(jar
        .attrs("gpb_refresh")
        .contains("Path=/api/v2/auth/session"));
    assert!(
        !jar.attrs("gpb_csrf").contains("HttpOnly"),
        "the page reads it"
    );
    let (status, me) = call(
        &app,
        reqwest::Method::GET,
        "/api/v2/auth/me",
        &jar.header(),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "ann@example.com");
    app.stop().await.unwrap();
}

async fn cookie_writes_need_the_csrf_token_of_the_same_session(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (ann, _) = sign_in(&app, "ann@example.com").await;
    let (bob, _) = sign_in(&app, "bob@example.com").await;
    let key = json!({ "name": "ui", "scopes": ["read"] });
    let post = reqwest::Method::POST;
    for csrf in [None, Some("wrong"), Some(bob.value("gpb_csrf"))] {
        let (status, body) = call(
            &app,
            post.clone(),
            "/api/v2/auth/api-keys",
            &ann.header(),
            csrf,
            Some(key.clone()),
        )
        .await;
        assert_eq!(status, 403, "{csrf:?}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("CSRF"));
    }
    let (status, created) = call(
        &app,
        post,
        "/api/v2/auth/api-keys",
        &ann.header(),
        Some(ann.value("gpb_csrf")),
        Some(key),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // A bearer token needs no CSRF token: it is never sent by a browser on its own.
    let (_, pair) = account(&app, "cy@example.com", Role::User).await;
    let response = app
        .client
        .post(format!("{}/api/v2/auth/api-keys", app.base))
        .bearer_auth(&pair.access_token)
        .json(&json!({ "name": "cli", "scopes": ["read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    app.stop().await.unwrap();
}

async fn refresh_rotates_cookies_and_sign_out_revokes_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (jar, _) = sign_in(&app, "ann@example.com").await;
    let refresh = |cookies: String, csrf: Option<String>| {
        let mut request = app
            .client
            .post(format!("{}/api/v2/auth/session/refresh", app.base))
            .header(COOKIE, cookies);
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        request.send()
    };
    let response = refresh(jar.header(), None).await.unwrap();
    assert_eq!(response.status(), 403, "refresh needs the CSRF header");
    let response = refresh(jar.header(), Some(jar.value("gpb_csrf").to_owned()))
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let fresh = Jar::of(&response);
    assert_ne!(fresh.value("gpb_refresh"), jar.value("gpb_refresh"));
    assert_ne!(fresh.value("gpb_access"), jar.value("gpb_access"));
    // The spent refresh cookie again: reuse detected, the whole session revoked.
    let response = refresh(jar.header(), Some(jar.value("gpb_csrf").to_owned()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = refresh(fresh.header(), Some(fresh.value("gpb_csrf").to_owned()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "reuse revoked the family");

    let response = app
        .post_json(
            "/api/v2/auth/session",
            &json!({ "email": "ann@example.com", "password": TEST_PASSWORD }),
        )
        .await;
    let again = Jar::of(&response);
    let response = app
        .client
        .delete(format!("{}/api/v2/auth/session", app.base))
        .header(COOKIE, again.header())
        .header("x-csrf-token", again.value("gpb_csrf"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let cleared = Jar::of(&response);
    for name in ["gpb_access", "gpb_refresh", "gpb_csrf"] {
        assert!(cleared.attrs(name).contains("Max-Age=0"), "{name}");
        assert_eq!(cleared.value(name), "");
    }
    let response = refresh(again.header(), Some(again.value("gpb_csrf").to_owned()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "signed out");
    app.stop().await.unwrap();
}
