//! API keys through the real router on both backends: shown once, usable as a bearer token
//! and as `X-API-Key`, revocable, owner-only, scoped within the role; and the role matrix
//! of the admin user list.

use gpubroker::auth::{Email, Password, Role};
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{spawn_app, Backend, TestApp};

both_backends!(
    api_key_is_shown_once_and_works_as_bearer_and_header,
    revoked_api_key_is_401,
    another_users_api_key_is_404,
    scopes_never_exceed_the_role_or_the_key,
    users_list_follows_the_role_matrix,
);

const PASSWORD: &str = "correct horse battery";

/// Creates an account with `role` and returns an access token for it.
async fn access_token(app: &TestApp, email: &str, role: Role) -> String {
    let email = Email::parse(email).unwrap();
    let password = Password::parse(PASSWORD).unwrap();
    app.state
        .auth
        .register(&email, &password, role, None)
        .await
        .unwrap();
    let pair = app
        .state
        .auth
        .login(email.as_str(), PASSWORD)
        .await
        .unwrap();
    pair.access_token
}

/// How a request authenticates.
enum Cred<'a> {
    None,
    Bearer(&'a str),
    Header(&'a str),
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    cred: Cred<'_>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, format!("{}/api/v2/auth/{path}", app.base));
    request = match cred {
        Cred::None => request,
        Cred::Bearer(token) => request.bearer_auth(token),
        Cred::Header(key) => request.header("x-api-key", key),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn create_key(app: &TestApp, token: &str, scopes: Value) -> (u16, Value) {
    call(
        app,
        Method::POST,
        "api-keys",
        Cred::Bearer(token),
        Some(json!({ "name": "ci runner", "scopes": scopes })),
    )
    .await
}

async fn api_key_is_shown_once_and_works_as_bearer_and_header(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = access_token(&app, "ann@example.com", Role::User).await;
    let (status, created) = create_key(&app, &token, json!(["trade", "read", "read"])).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gpuk_") && key.len() == 5 + 43, "{key}");
    assert_eq!(created["prefix"], key[5..13]);
    assert_eq!(created["scopes"], json!(["read", "trade"]));
    assert_eq!(created["name"], "ci runner");

    let (status, me) = call(&app, Method::GET, "me", Cred::Bearer(&key), None).await;
    assert_eq!(
        (status, me["email"].clone()),
        (200, json!("ann@example.com"))
    );
    let (status, me) = call(&app, Method::GET, "me", Cred::Header(&key), None).await;
    assert_eq!(
        (status, me["email"].clone()),
        (200, json!("ann@example.com"))
    );

    let (status, listed) = call(&app, Method::GET, "api-keys", Cred::Header(&key), None).await;
    assert_eq!(status, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["id"]);
    assert!(listed[0].get("key").is_none());
    assert!(!listed[0].to_string().contains(&key[5..]));
    assert!(listed[0]["last_used_at"].is_string(), "{}", listed[0]);

    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    let created_entry = entries
        .iter()
        .find(|e| e.action == "auth.api_key_created")
        .unwrap();
    assert!(!created_entry.detail.to_string().contains(&key[5..]));
    let (status, _) = call(&app, Method::GET, "me", Cred::Header("gpuk_nope"), None).await;
    assert_eq!(status, 401);
    app.stop().await.unwrap();
}

async fn revoked_api_key_is_401(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = access_token(&app, "bo@example.com", Role::User).await;
    let (_, created) = create_key(&app, &token, json!(["read"])).await;
    let key = created["key"].as_str().unwrap();
    let path = format!("api-keys/{}", created["id"].as_str().unwrap());
    let (status, _) = call(&app, Method::DELETE, &path, Cred::Bearer(&token), None).await;
    assert_eq!(status, 204);
    let (status, body) = call(&app, Method::GET, "me", Cred::Bearer(key), None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = call(&app, Method::GET, "me", Cred::Header(key), None).await;
    assert_eq!(status, 401);
    let (status, _) = call(&app, Method::DELETE, &path, Cred::Bearer(&token), None).await;
    assert_eq!(status, 404);
    let (_, listed) = call(&app, Method::GET, "api-keys", Cred::Bearer(&token), None).await;
    assert_eq!(listed, json!([]));
    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    assert!(entries.iter().any(|e| e.action == "auth.api_key_revoked"));
    app.stop().await.unwrap();
}

async fn another_users_api_key_is_404(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let ann = access_token(&app, "ann@example.com", Role::User).await;
    let bob = access_token(&app, "bob@example.com", Role::User).await;
    let (_, created) = create_key(&app, &ann, json!(["read"])).await;
    let path = format!("api-keys/{}", created["id"].as_str().unwrap());
    let (status, body) = call(&app, Method::DELETE, &path, Cred::Bearer(&bob), None).await;
    assert_eq!(status, 404, "{body}");
    let (_, listed) = call(&app, Method::GET, "api-keys", Cred::Bearer(&bob), None).await;
    assert_eq!(listed, json!([]));
    let key = created["key"].as_str().unwrap();
    let (status, _) = call(&app, Method::GET, "me", Cred::Header(key), None).await;
    assert_eq!(status, 200);
    app.stop().await.unwrap();
}

async fn scopes_never_exceed_the_role_or_the_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let user = access_token(&app, "ann@example.com", Role::User).await;
    let (status, body) = create_key(&app, &user, json!(["read", "admin"])).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("admin"));
    for bad in [json!(["root"]), json!([])] {
        let (status, body) = create_key(&app, &user, bad).await;
        assert_eq!(status, 422, "{body}");
    }
    // A read-only key cannot mint a trading key.
    let (_, read_only) = create_key(&app, &user, json!(["read"])).await;
    let read_only = read_only["key"].as_str().unwrap();
    let (status, _) = create_key(&app, read_only, json!(["trade"])).await;
    assert_eq!(status, 403);

    let admin = access_token(&app, "root@example.com", Role::Admin).await;
    let (status, body) = create_key(&app, &admin, json!(["admin"])).await;
    assert_eq!((status, body["scopes"].clone()), (201, json!(["admin"])));
    app.stop().await.unwrap();
}

async fn users_list_follows_the_role_matrix(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (status, _) = call(&app, Method::GET, "users", Cred::None, None).await;
    assert_eq!(status, 401);
    for (email, role) in [
        ("u@example.com", Role::User),
        ("s@example.com", Role::Support),
        ("f@example.com", Role::Finance),
    ] {
        let token = access_token(&app, email, role).await;
        let (status, body) = call(&app, Method::GET, "users", Cred::Bearer(&token), None).await;
        assert_eq!(status, 403, "{role}: {body}");
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let admin = access_token(&app, "a@example.com", Role::Admin).await;
    let (status, users) = call(&app, Method::GET, "users", Cred::Bearer(&admin), None).await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users.as_array().unwrap().len(), 4);
    assert!(!users.to_string().contains("password"));
    assert!(!users.to_string().contains("argon2"));

    let (_, read_key) = create_key(&app, &admin, json!(["read"])).await;
    let read_key = read_key["key"].as_str().unwrap();
    let (status, _) = call(&app, Method::GET, "users", Cred::Header(read_key), None).await;
    assert_eq!(status, 403);
    let (_, admin_key) = create_key(&app, &admin, json!(["admin"])).await;
    let admin_key = admin_key["key"].as_str().unwrap();
    let (status, _) = call(&app, Method::GET, "users", Cred::Header(admin_key), None).await;
    assert_eq!(status, 200);
    app.stop().await.unwrap();
}
