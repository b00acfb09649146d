//! Accounts and sessions through the real router on both backends: register, login, me,
//! refresh rotation and reuse detection, logout, password change, and uniform failures.

use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{spawn_app, Backend, TestApp};

both_backends!(
    register_login_me_refresh_logout_flow,
    refresh_rotates_and_reuse_revokes_the_family,
    change_password_revokes_refresh_tokens,
    wrong_password_and_unknown_email_answer_identically,
    duplicate_email_is_409,
    bad_email_or_short_password_is_422,
    me_without_or_with_a_bad_token_is_401,
);

const PASSWORD: &str = "correct horse battery";

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.post_json(&format!("/api/v2/auth/{path}"), &body).await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn with_bearer(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}/api/v2/auth/{path}", app.base))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

pub async fn register_and_login(app: &TestApp, email: &str) -> Value {
    let (status, _) = post(
        app,
        "register",
        json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, pair) = post(
        app,
        "login",
        json!({ "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{pair}");
    pair
}

async fn audit_actions(app: &TestApp) -> Vec<(String, Value)> {
    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    entries.into_iter().map(|e| (e.action, e.detail)).collect()
}

async fn register_login_me_refresh_logout_flow(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, user) = post(
        &app,
        "register",
        json!({ "email": " Ann@Example.COM ", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["role"], "user");
    assert_eq!(user["disabled"], false);
    assert!(user.get("password_hash").is_none());

    let (status, pair) = post(
        &app,
        "login",
        json!({ "email": "ANN@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{pair}");
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3);

    let me = with_bearer(&app, reqwest::Method::GET, "me", access, None).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me, user);

    let (status, next) = post(
        &app,
        "refresh",
        json!({ "refresh_token": pair["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_ne!(next["refresh_token"], pair["refresh_token"]);
    let me = with_bearer(
        &app,
        reqwest::Method::GET,
        "me",
        next["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(me.status(), 200);

    let logout = app
        .post_json(
            "/api/v2/auth/logout",
            &json!({ "refresh_token": next["refresh_token"] }),
        )
        .await;
    assert_eq!(logout.status(), 204);
    let (status, _) = post(
        &app,
        "refresh",
        json!({ "refresh_token": next["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 401);

    // The signing key is a sealed secret of the configuration store; its kid is plain.
    let config =
        gpubroker::config::ConfigStore::new(app.state.store.clone(), &app.state.master_key)
            .unwrap();
    let key = config
        .entry("security.jwt_signing_key")
        .await
        .unwrap()
        .unwrap();
    assert!(key.is_secret);
    let kid = config.get("security.jwt_kid").await.unwrap().unwrap();
    assert_eq!(app.state.auth.keys().await.unwrap().current.kid(), kid.text);

    let actions = audit_actions(&app).await;
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    for expected in ["auth.register", "auth.login", "auth.logout"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for (_, detail) in &actions {
        assert!(!detail.to_string().contains(PASSWORD));
    }
    app.stop().await.unwrap();
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = register_and_login(&app, "bob@example.com").await;
    let (status, second) = post(
        &app,
        "refresh",
        json!({ "refresh_token": first["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 200);
    // A second login is another family and survives the reuse below.
    let (_, other) = post(
        &app,
        "login",
        json!({ "email": "bob@example.com", "password": PASSWORD }),
    )
    .await;

    // Replaying the spent token is reuse: 401, and the family's live token dies too.
    let (status, body) = post(
        &app,
        "refresh",
        json!({ "refresh_token": first["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = post(
        &app,
        "refresh",
        json!({ "refresh_token": second["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &app,
        "refresh",
        json!({ "refresh_token": other["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(&app, "refresh", json!({ "refresh_token": "not-a-token" })).await;
    assert_eq!(status, 401);

    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|(a, _)| a == "auth.refresh_reuse"));
    app.stop().await.unwrap();
}

async fn change_password_revokes_refresh_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let pair = register_and_login(&app, "cy@example.com").await;
    let access = pair["access_token"].as_str().unwrap();
    let new_password = "an even better passphrase";

    let wrong = with_bearer(
        &app,
        reqwest::Method::POST,
        "change-password",
        access,
        Some(json!({ "current_password": "not my password", "new_password": new_password })),
    )
    .await;
    assert_eq!(wrong.status(), 403);
    let short = with_bearer(
        &app,
        reqwest::Method::POST,
        "change-password",
        access,
        Some(json!({ "current_password": PASSWORD, "new_password": "short" })),
    )
    .await;
    assert_eq!(short.status(), 422);
    let changed = with_bearer(
        &app,
        reqwest::Method::POST,
        "change-password",
        access,
        Some(json!({ "current_password": PASSWORD, "new_password": new_password })),
    )
    .await;
    assert_eq!(changed.status(), 204);

    let (status, _) = post(
        &app,
        "refresh",
        json!({ "refresh_token": pair["refresh_token"] }),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &app,
        "login",
        json!({ "email": "cy@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &app,
        "login",
        json!({ "email": "cy@example.com", "password": new_password }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(audit_actions(&app)
        .await
        .iter()
        .any(|(a, _)| a == "auth.password_change"));
    app.stop().await.unwrap();
}

async fn wrong_password_and_unknown_email_answer_identically(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    register_and_login(&app, "dee@example.com").await;
    let strip = |mut body: Value| {
        body["error"]["request_id"] = Value::Null;
        body
    };
    let wrong = app
        .post_json(
            "/api/v2/auth/login",
            &json!({ "email": "dee@example.com", "password": "wrong password!" }),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let wrong: Value = wrong.json().await.unwrap();
    let (status, unknown) = post(
        &app,
        "login",
        json!({ "email": "nobody@example.com", "password": "wrong password!" }),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(strip(wrong.clone()), strip(unknown));
    assert_eq!(wrong["error"]["message"], "invalid email or password");

    let failures: Vec<Value> = audit_actions(&app)
        .await
        .into_iter()
        .filter(|(a, _)| a == "auth.login_failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        failures,
        vec![
            json!({ "email": "dee@example.com" }),
            json!({ "email": "nobody@example.com" })
        ]
    );
    app.stop().await.unwrap();
}

async fn duplicate_email_is_409(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, _) = post(
        &app,
        "register",
        json!({ "email": "eve@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = post(
        &app,
        "register",
        json!({ "email": "EVE@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "conflict");
    app.stop().await.unwrap();
}

async fn bad_email_or_short_password_is_422(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for body in [
        json!({ "email": "not-an-email", "password": PASSWORD }),
        json!({ "email": "fay@example.com", "password": "123456789" }),
        json!({ "email": "fay@example.com", "password": "x".repeat(257) }),
        json!({ "email": "fay@example.com" }),
    ] {
        let (status, answer) = post(&app, "register", body.clone()).await;
        assert_eq!(status, 422, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], "validation_failed");
    }
    app.stop().await.unwrap();
}

async fn me_without_or_with_a_bad_token_is_401(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let pair = register_and_login(&app, "gus@example.com").await;
    let none = app.get("/api/v2/auth/me").await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    let access = pair["access_token"].as_str().unwrap();
    let tampered = format!("{}x", &access[..access.len() - 1]);
    for token in [
        "garbage",
        "a.b.c",
        tampered.as_str(),
        pair["refresh_token"].as_str().unwrap(),
    ] {
        let response = with_bearer(&app, reqwest::Method::GET, "me", token, None).await;
        assert_eq!(response.status(), 401, "{token}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    app.stop().await.unwrap();
}

#[test]
fn admin_create_user_cli_creates_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| crate::common::cli(dir.path(), args, stdin);
    let args = [
        "admin",
        "create-user",
        "--email",
        "Root@Example.com",
        "--role",
        "admin",
        "--password-stdin",
    ];
    let out = run(&args, &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("created admin root@example.com"),
        "{stdout}"
    );
    let again = run(&args, &format!("{PASSWORD}\n"));
    assert!(!again.status.success());
    let short = run(
        &[
            "admin",
            "create-user",
            "--email",
            "x@example.com",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("10 to 256"));

    let db = dir.path().join("data").join("gpubroker.db");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let (role, hash): (String, String) = sqlx::query_as(
            "SELECT role, password_hash FROM users WHERE email = 'root@example.com'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(role, "admin");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    });
}
