//! Account administration through the real router on both backends: disabling an account
//! or changing its role ends every session at once (access tokens included, no waiting
//! for expiry), password changes do too, admins cannot lock themselves out, privileged
//! fields in bodies are refused, and every change is audited.

use gpubroker::auth::Role;
use serde_json::{json, Value};

use crate::both_backends;
use crate::common::{account, send, spawn_app, Backend, TEST_PASSWORD};

both_backends!(
    disabling_an_account_revokes_tokens_refresh_and_api_keys_at_once,
    role_change_revokes_tokens_issued_with_the_old_role,
    password_change_revokes_access_tokens,
    admins_cannot_change_their_own_account,
    privileged_fields_in_bodies_are_refused,
    login_rehashes_old_parameters_without_ending_sessions,
    common_passwords_are_refused_and_hashing_is_capped,
);

async fn disabling_an_account_revokes_tokens_refresh_and_api_keys_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let (victim_id, victim) = account(&app, "bob@example.com", Role::User).await;
    let (status, key) = send(
        &app,
        "POST",
        "/api/v2/auth/api-keys",
        Some(&victim.access_token),
        Some(json!({ "name": "ci", "scopes": ["read"] })),
    )
    .await;
    assert_eq!(status, 201);
    let key = key["key"].as_str().unwrap().to_owned();
    for credential in [&victim.access_token, &key] {
        assert_eq!(
            send(&app, "GET", "/api/v2/auth/me", Some(credential), None)
                .await
                .0,
            200
        );
    }

    let path = format!("/api/v2/auth/users/{victim_id}");
    let body = json!({ "disabled": true });
    let (status, user) = send(&app, "PATCH", &path, Some(&admin.access_token), Some(body)).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["disabled"], true);

    for credential in [&victim.access_token, &key] {
        let (status, body) = send(&app, "GET", "/api/v2/auth/me", Some(credential), None).await;
        assert_eq!(status, 401, "{body}");
    }
    let refresh = json!({ "refresh_token": victim.refresh_token });
    assert_eq!(
        send(&app, "POST", "/api/v2/auth/refresh", None, Some(refresh))
            .await
            .0,
        401
    );
    let login = json!({ "email": "bob@example.com", "password": TEST_PASSWORD });
    assert_eq!(
        send(
            &app,
            "POST",
            "/api/v2/auth/login",
            None,
            Some(login.clone())
        )
        .await
        .0,
        401
    );

    // Enabled again: old credentials stay dead, a new login works, the key works again.
    let body = json!({ "disabled": false });
    let (status, _) = send(&app, "PATCH", &path, Some(&admin.access_token), Some(body)).await;
    assert_eq!(status, 200);
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v2/auth/me",
            Some(&victim.access_token),
            None
        )
        .await
        .0,
        401
    );
    let (status, pair) = send(&app, "POST", "/api/v2/auth/login", None, Some(login)).await;
    assert_eq!(status, 200);
    let fresh = pair["access_token"].as_str().unwrap();
    assert_eq!(
        send(&app, "GET", "/api/v2/auth/me", Some(fresh), None)
            .await
            .0,
        200
    );
    assert_eq!(
        send(&app, "GET", "/api/v2/auth/me", Some(&key), None)
            .await
            .0,
        200
    );

    let actions = audit_actions(&app).await;
    assert!(
        actions.contains(&"auth.account_disable".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"auth.account_enable".to_owned()),
        "{actions:?}"
    );
    app.stop().await.unwrap();
}

async fn role_change_revokes_tokens_issued_with_the_old_role(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let (other_id, other) = account(&app, "carol@example.com", Role::Admin).await;
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v2/auth/users",
            Some(&other.access_token),
            None
        )
        .await
        .0,
        200
    );
    let path = format!("/api/v2/auth/users/{other_id}");
    let (status, user) = send(
        &app,
        "PATCH",
        &path,
        Some(&admin.access_token),
        Some(json!({ "role": "support" })),
    )
    .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["role"], "support");
    // The old admin token is dead at once, not in 15 minutes.
    let (status, body) = send(
        &app,
        "GET",
        "/api/v2/auth/users",
        Some(&other.access_token),
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");

    let (status, _) = send(
        &app,
        "PATCH",
        &path,
        Some(&admin.access_token),
        Some(json!({ "role": "root" })),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = send(
        &app,
        "PATCH",
        "/api/v2/auth/users/no-such-user",
        Some(&admin.access_token),
        Some(json!({ "role": "user" })),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        "PATCH",
        &path,
        Some(&admin.access_token),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 422);

    let entries = audit(&app).await;
    let change = entries
        .iter()
        .find(|e| e["action"] == "auth.role_change")
        .expect("role change audited");
    assert_eq!(change["detail"]["from"], "admin");
    assert_eq!(change["detail"]["to"], "support");
    app.stop().await.unwrap();
}

async fn password_change_revokes_access_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, old) = account(&app, "dan@example.com", Role::User).await;
    let body =
        json!({ "current_password": TEST_PASSWORD, "new_password": "a much newer password" });
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/auth/change-password",
        Some(&old.access_token),
        Some(body),
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v2/auth/me",
            Some(&old.access_token),
            None
        )
        .await
        .0,
        401
    );
    let login = json!({ "email": "dan@example.com", "password": "a much newer password" });
    let (status, pair) = send(&app, "POST", "/api/v2/auth/login", None, Some(login)).await;
    assert_eq!(status, 200);
    let fresh = pair["access_token"].as_str().unwrap();
    assert_eq!(
        send(&app, "GET", "/api/v2/auth/me", Some(fresh), None)
            .await
            .0,
        200
    );
    app.stop().await.unwrap();
}

async fn admins_cannot_change_their_own_account(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (admin_id, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let path = format!("/api/v2/auth/users/{admin_id}");
    for body in [json!({ "disabled": true }), json!({ "role": "user" })] {
        let (status, err) = send(&app, "PATCH", &path, Some(&admin.access_token), Some(body)).await;
        assert_eq!(status, 409, "{err}");
    }
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v2/auth/users",
            Some(&admin.access_token),
            None
        )
        .await
        .0,
        200
    );
    app.stop().await.unwrap();
}

async fn privileged_fields_in_bodies_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let register =
        json!({ "email": "eve@example.com", "password": TEST_PASSWORD, "role": "admin" });
    let (status, body) = send(&app, "POST", "/api/v2/auth/register", None, Some(register)).await;
    assert_eq!(status, 422, "{body}");
    let (admin_id, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let (user_id, _) = account(&app, "frank@example.com", Role::User).await;
    let path = format!("/api/v2/auth/users/{user_id}");
    for body in [
        json!({ "email": "taken@example.com" }),
        json!({ "password_hash": "$argon2id$…" }),
        json!({ "session_epoch": 0 }),
        json!({ "id": admin_id }),
    ] {
        let (status, err) = send(
            &app,
            "PATCH",
            &path,
            Some(&admin.access_token),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {err}");
    }
    let (_, users) = send(
        &app,
        "GET",
        "/api/v2/auth/users",
        Some(&admin.access_token),
        None,
    )
    .await;
    let text = users.to_string();
    for secret in ["argon2", "password", "session_epoch", "hash"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    app.stop().await.unwrap();
}

/// The audit log, oldest first, as JSON.
async fn audit(app: &crate::common::TestApp) -> Vec<Value> {
    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    entries
        .into_iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

async fn audit_actions(app: &crate::common::TestApp) -> Vec<String> {
    audit(app)
        .await
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .collect()
}

async fn login_rehashes_old_parameters_without_ending_sessions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, before) = account(&app, "gil@example.com", Role::User).await;
    let weak = gpubroker::auth::PasswordHasher::with_params(64, 1, 1)
        .unwrap()
        .hash(TEST_PASSWORD)
        .unwrap();
    crate::common::raw_sql(
        &app.state.settings,
        &format!("UPDATE users SET password_hash = '{weak}' WHERE id = '{id}'"),
    )
    .await;
    let login = json!({ "email": "gil@example.com", "password": TEST_PASSWORD });
    assert_eq!(
        send(
            &app,
            "POST",
            "/api/v2/auth/login",
            None,
            Some(login.clone())
        )
        .await
        .0,
        200
    );
    let row = app.state.store.user_by_id(&id).await.unwrap().unwrap();
    assert!(
        row.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        row.password_hash
    );
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v2/auth/me",
            Some(&before.access_token),
            None
        )
        .await
        .0,
        200,
        "a re-hash is not a password change"
    );
    assert_eq!(
        send(&app, "POST", "/api/v2/auth/login", None, Some(login))
            .await
            .0,
        200
    );
    app.stop().await.unwrap();
}

async fn common_passwords_are_refused_and_hashing_is_capped(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for common in ["Password123", "qwertyuiop", "aaaaaaaaaaaa"] {
        let body = json!({ "email": "hal@example.com", "password": common });
        let (status, err) = send(&app, "POST", "/api/v2/auth/register", None, Some(body)).await;
        assert_eq!(status, 422, "{common}: {err}");
    }
    account(&app, "hal@example.com", Role::User).await;
    let logins = (0..12).map(|i| {
        let app = &app;
        async move {
            let password = if i % 2 == 0 {
                TEST_PASSWORD
            } else {
                "wrong password here"
            };
            let body = json!({ "email": "hal@example.com", "password": password });
            send(app, "POST", "/api/v2/auth/login", None, Some(body))
                .await
                .0
        }
    });
    let statuses = futures_util::future::join_all(logins).await;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
    let (peak, cap) = app.state.auth.hashing_peak();
    assert!(peak >= 1 && peak <= cap, "peak {peak}, cap {cap}");
    app.stop().await.unwrap();
}
