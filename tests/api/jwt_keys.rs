//! JWT signing-key rotation on both backends: the previous key verifies through its grace
//! period and is refused after it, the JWKS document follows, and a rotation made by
//! another process (a second replica or the CLI) is picked up without a restart.

use gpubroker::auth::keyring::{kid_of, PREVIOUS_UNTIL_CONFIG};
use gpubroker::auth::{jwt, Auth, Role};
use gpubroker::config::{ConfigStore, SetOptions};
use serde_json::Value;

use crate::both_backends;
use crate::common::{account, send, spawn_app, Backend};

both_backends!(
    rotation_keeps_old_tokens_for_the_grace_period_then_retires_them,
    rotation_by_another_process_is_picked_up,
);

async fn jwks_kids(app: &crate::common::TestApp) -> Vec<String> {
    let (status, body) = send(app, "GET", "/.well-known/jwks.json", None, None).await;
    assert_eq!(status, 200, "{body}");
    body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "RSA");
            assert_eq!(k["alg"], "RS256");
            k["kid"].as_str().unwrap().to_owned()
        })
        .collect()
}

async fn rotation_keeps_old_tokens_for_the_grace_period_then_retires_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, old) = account(&app, "ann@example.com", Role::User).await;
    let old_kid = jwt::header_kid(&old.access_token).unwrap();
    assert_eq!(jwks_kids(&app).await, vec![old_kid.clone()]);

    let rotation = app.state.auth.rotate_signing_key("test").await.unwrap();
    assert_eq!(rotation.previous_kid, old_kid);
    assert_ne!(rotation.kid, old_kid);
    assert_eq!(
        jwks_kids(&app).await,
        [rotation.kid.clone(), old_kid.clone()]
    );
    // Old tokens keep working during the grace period; new ones use the new key.
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
        200
    );
    let (_, new) = account(&app, "bob@example.com", Role::User).await;
    assert_eq!(jwt::header_kid(&new.access_token).unwrap(), rotation.kid);

    // The grace period ends: the old key is retired.
    let config = ConfigStore::new(app.state.store.clone(), &app.state.master_key).unwrap();
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1)).to_rfc3339();
    config
        .set(PREVIOUS_UNTIL_CONFIG, &past, SetOptions::default(), "test")
        .await
        .unwrap();
    app.state.auth.reload_keys().await.unwrap();
    let (status, body) = send(
        &app,
        "GET",
        "/api/v2/auth/me",
        Some(&old.access_token),
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retired"),
        "{body}"
    );
    assert_eq!(jwks_kids(&app).await, vec![rotation.kid.clone()]);
    assert_eq!(
        send(
            &app,
            "GET",
            "/api/v2/auth/me",
            Some(&new.access_token),
            None
        )
        .await
        .0,
        200
    );

    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    let rotated = entries
        .iter()
        .find(|e| e.action == "auth.jwt_key_rotated")
        .expect("rotation audited");
    assert_eq!(rotated.detail["previous_kid"], Value::String(old_kid));
    // The key material itself is never in the audit log.
    let keys = config
        .get("security.jwt_signing_key")
        .await
        .unwrap()
        .unwrap();
    assert!(!serde_json::to_string(&entries)
        .unwrap()
        .contains(&keys.text));
    assert_eq!(kid_of(&base64_decode(&keys.text)), rotation.kid);
    app.stop().await.unwrap();
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
}

async fn rotation_by_another_process_is_picked_up(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, before) = account(&app, "cy@example.com", Role::User).await;
    // Another replica, same database and master key, rotates and signs with the new key.
    let other = Auth::new(
        app.state.store.clone(),
        app.state.master_key.clone(),
        &app.state.settings,
    );
    let rotation = other.rotate_signing_key("replica-b").await.unwrap();
    let pair = other
        .login("cy@example.com", crate::common::TEST_PASSWORD)
        .await
        .unwrap();
    assert_eq!(jwt::header_kid(&pair.access_token).unwrap(), rotation.kid);
    // This replica reloads on the unknown kid (at most every 5 s).
    tokio::time::sleep(std::time::Duration::from_millis(5_100)).await;
    let (status, body) = send(
        &app,
        "GET",
        "/api/v2/auth/me",
        Some(&pair.access_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
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
        "the old key is still in its grace period"
    );
    app.stop().await.unwrap();
}
