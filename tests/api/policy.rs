//! The access-policy table against the real router: every route declares a policy, an
//! undeclared route fails closed, and the role and ownership matrices are generated from
//! the table (so a new route is covered the moment it is declared).

use gpubroker::auth::{Role, Scope};
use gpubroker::http::policy::{Access, Owned, RoutePolicy, POLICIES};
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{account, send, spawn_app, spawn_app_with, Backend, TestApp};

both_backends!(
    anonymous_callers_get_401_on_every_non_public_route,
    role_matrix_generated_from_the_policy_table,
    ownership_matrix_generated_from_the_policy_table,
    undeclared_route_fails_closed,
);

/// Routes served outside the OpenAPI document.
const UNDOCUMENTED: &[(&str, &str)] = &[("GET", "/health"), ("GET", "/"), ("GET", "/ui/{file}")];

#[test]
fn every_route_declares_a_policy() {
    let doc = serde_json::to_value(gpubroker::http::openapi()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let policy = POLICIES
                .iter()
                .find(|p| p.path == path && p.method == method)
                .unwrap_or_else(|| {
                    panic!("{method} {path} has no access policy in src/http/policy.rs")
                });
            assert_eq!(
                operation["x-access"],
                policy.access.describe(),
                "{method} {path}: x-access"
            );
            if policy.access != Access::Public {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} needs credentials but documents no security scheme"
                );
            }
            documented.push((method, path.clone()));
        }
    }
    for p in POLICIES {
        let known = documented
            .iter()
            .any(|(m, path)| m == p.method && path == p.path)
            || UNDOCUMENTED.contains(&(p.method, p.path));
        assert!(known, "{} {} is declared but not routed", p.method, p.path);
    }
}

/// Creates an account with `role`; returns its access token.
async fn token(app: &TestApp, email: &str, role: Role) -> String {
    account(app, email, role).await.1.access_token
}

/// An API key of the token's owner with `scopes`.
async fn api_key(app: &TestApp, token: &str, scopes: &[Scope]) -> String {
    let (status, body) = send(
        app,
        "POST",
        "/api/v2/auth/api-keys",
        Some(token),
        Some(json!({ "name": "matrix", "scopes": scopes })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["key"].as_str().unwrap().to_owned()
}

/// The route's path with every `{param}` replaced by `value`.
fn concrete(policy: &RoutePolicy, value: &str) -> String {
    let mut out = String::new();
    let mut rest = policy.path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str(value);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A body for methods that take one (the policy runs before any body parsing).
fn body_for(policy: &RoutePolicy) -> Option<Value> {
    matches!(policy.method, "POST" | "PUT" | "PATCH").then(|| json!({}))
}

async fn anonymous_callers_get_401_on_every_non_public_route(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut checked = 0;
    for policy in POLICIES.iter().filter(|p| p.access != Access::Public) {
        let path = concrete(policy, "x");
        let (status, body) = send(&app, policy.method, &path, None, body_for(policy)).await;
        assert_eq!(status, 401, "{} {path}: {body}", policy.method);
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        let (status, _) = send(
            &app,
            policy.method,
            &path,
            Some("not-a-token"),
            body_for(policy),
        )
        .await;
        assert_eq!(status, 401, "{} {path} with a bad token", policy.method);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} protected routes");
    app.stop().await.unwrap();
}

async fn role_matrix_generated_from_the_policy_table(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let roles = [Role::User, Role::Support, Role::Finance, Role::Admin];
    let mut tokens = Vec::new();
    for role in roles {
        tokens.push((
            role,
            token(&app, &format!("{role}@example.com"), role).await,
        ));
    }
    let admin_token = &tokens[3].1;
    let admin_read_key = api_key(&app, admin_token, &[Scope::Read]).await;
    let mut staff_routes = 0;
    for policy in POLICIES {
        let Access::Staff(allowed, scope) = policy.access else {
            continue;
        };
        staff_routes += 1;
        let path = concrete(policy, "x");
        for (role, token) in &tokens {
            let (status, body) =
                send(&app, policy.method, &path, Some(token), body_for(policy)).await;
            if *role == Role::Admin || allowed.contains(role) {
                assert!(
                    status != 401 && status != 403,
                    "{role} denied {} {path}: {status} {body}",
                    policy.method
                );
            } else {
                assert_eq!(status, 403, "{role} on {} {path}: {body}", policy.method);
                assert_eq!(body["error"]["code"], "forbidden");
            }
        }
        if scope != Scope::Read {
            let (status, _) = send(
                &app,
                policy.method,
                &path,
                Some(&admin_read_key),
                body_for(policy),
            )
            .await;
            assert_eq!(
                status, 403,
                "read-only admin key on {} {path}",
                policy.method
            );
        }
    }
    assert!(staff_routes >= 1);
    app.stop().await.unwrap();
}

/// Creates an object of `kind` owned by the holder of `token`; returns its id.
async fn create_owned(app: &TestApp, kind: Owned, token: &str) -> String {
    match kind {
        Owned::ApiKey => {
            let (status, body) = send(
                app,
                "POST",
                "/api/v2/auth/api-keys",
                Some(token),
                Some(json!({ "name": "owned", "scopes": ["read"] })),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
        Owned::Conversation => {
            let (status, body) = send(
                app,
                "POST",
                "/api/v2/ai/chat",
                Some(token),
                Some(json!({ "message": "cheapest H100" })),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["conversation_id"].as_str().unwrap().to_owned()
        }
        Owned::Checkout => {
            let (status, body) = send(
                app,
                "POST",
                "/api/v2/billing/top-ups",
                Some(token),
                Some(json!({ "amount_micro_usd": 5_000_000 })),
            )
            .await;
            assert_eq!(status, 201, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
        Owned::Pod => create_pod(app, token).await,
        Owned::Budget => {
            let body = json!({ "limit_micro_usd": 5_000_000 });
            let (status, body) =
                send(app, "POST", "/api/v2/budgets", Some(token), Some(body)).await;
            assert!(status == 201 || status == 200, "{status} {body}");
            body["id"].as_str().unwrap().to_owned()
        }
    }
}

/// Deploys a demo-market pod for the holder of `token` (funding the wallet and stopping
/// earlier pods, as the free plan runs one at once).
async fn create_pod(app: &TestApp, token: &str) -> String {
    use gpubroker::domain::offer::Offer;
    use gpubroker::providers::demo;
    let offers: Vec<Offer> = demo::market_at(1_700_000_000)
        .into_iter()
        .map(|raw| Offer::normalize(raw, demo::SOURCE_ID))
        .filter(|o| o.price.is_some())
        .collect();
    let offer_id = offers[0].id.clone();
    app.state.catalog.replace_source(demo::SOURCE_ID, offers);
    let (_, me) = send(app, "GET", "/api/v2/auth/me", Some(token), None).await;
    let user_id = me["id"].as_str().unwrap();
    let key =
        gpubroker::ledger::IdempotencyKey::new("test", &uuid::Uuid::new_v4().to_string()).unwrap();
    app.state
        .ledger
        .top_up(
            &key,
            user_id,
            gpubroker::domain::money::MicroUsd(100_000_000),
            json!({}),
        )
        .await
        .unwrap();
    let (_, pods) = send(app, "GET", "/api/v2/pods", Some(token), None).await;
    for pod in pods.as_array().unwrap() {
        if pod["state"] == "provisioning" || pod["state"] == "running" {
            let path = format!("/api/v2/pods/{}/stop", pod["id"].as_str().unwrap());
            assert_eq!(send(app, "POST", &path, Some(token), None).await.0, 200);
        }
    }
    let body = json!({ "offer_id": offer_id });
    let (status, body) = send(app, "POST", "/api/v2/pods", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Whether the object still exists for its owner (after the intruder's attempts).
async fn owner_still_has(app: &TestApp, kind: Owned, token: &str, id: &str) -> bool {
    match kind {
        Owned::ApiKey => {
            let (_, keys) = send(app, "GET", "/api/v2/auth/api-keys", Some(token), None).await;
            keys.as_array()
                .unwrap()
                .iter()
                .any(|k| k["id"].as_str() == Some(id))
        }
        Owned::Conversation => {
            let path = format!("/api/v2/ai/conversations/{id}");
            send(app, "GET", &path, Some(token), None).await.0 == 200
        }
        Owned::Checkout => {
            let path = format!("/api/v2/billing/top-ups/{id}");
            send(app, "GET", &path, Some(token), None).await.0 == 200
        }
        Owned::Pod => {
            let path = format!("/api/v2/pods/{id}");
            send(app, "GET", &path, Some(token), None).await.0 == 200
        }
        Owned::Budget => {
            let path = format!("/api/v2/budgets/{id}");
            send(app, "GET", &path, Some(token), None).await.0 == 200
        }
    }
}

async fn ownership_matrix_generated_from_the_policy_table(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let owner = token(&app, "owner@example.com", Role::User).await;
    let intruder = token(&app, "intruder@example.com", Role::User).await;
    let intruder_key = api_key(&app, &intruder, &[Scope::Read, Scope::Trade]).await;
    let mut routes = 0;
    for policy in POLICIES {
        let Some(kind) = policy.owns else {
            continue;
        };
        routes += 1;
        let id = create_owned(&app, kind, &owner).await;
        let path = concrete(policy, &id);
        for credential in [&intruder, &intruder_key] {
            let (status, body) = send(
                &app,
                policy.method,
                &path,
                Some(credential),
                body_for(policy),
            )
            .await;
            assert_eq!(
                status, 404,
                "{} {path} by another user: {body}",
                policy.method
            );
        }
        if policy.access == Access::Public {
            let (status, _) = send(&app, policy.method, &path, None, body_for(policy)).await;
            assert_eq!(status, 404, "{} {path} anonymously", policy.method);
        }
        assert!(
            owner_still_has(&app, kind, &owner, &id).await,
            "{} {path}: the owner lost the object",
            policy.method
        );
    }
    assert!(routes >= 2, "only {routes} owned routes");
    app.stop().await.unwrap();
}

/// A router with one extra route that the policy table does not know.
fn router_with_undeclared_route(state: gpubroker::app::AppState) -> axum::Router {
    let (routes, _) = gpubroker::http::api_routes().split_for_parts();
    let routes = routes.route(
        "/api/v2/undeclared",
        axum::routing::get(|| async { "open" }),
    );
    gpubroker::http::with_layers(routes, state)
}

async fn undeclared_route_fails_closed(backend: Backend) {
    let Some(app) = spawn_app_with(backend, Some(router_with_undeclared_route)).await else {
        return;
    };
    let (status, body) = send(&app, "GET", "/api/v2/undeclared", None, None).await;
    assert_eq!(status, 500, "{body}");
    assert_ne!(body, Value::String("open".into()));
    // A declared path with an undeclared method is the router's 405, not a 500.
    let (status, _) = send(&app, "PUT", "/api/v2/offers", None, None).await;
    assert_eq!(status, 405);
    app.stop().await.unwrap();
}
