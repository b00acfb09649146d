//! The admin center's API on both backends: configuration entries set and listed with
//! secrets masked (and absent from dumps and the audit log), an audited reveal, audit
//! paging and verification that notices a tampered row, and key rotation over HTTP.

use gpubroker::auth::Role;
use serde_json::json;

use crate::both_backends;
use crate::common::{account, raw_sql, send, spawn_app, Backend};

both_backends!(
    admin_sets_lists_and_reveals_config_with_secrets_masked,
    bad_config_writes_are_refused,
    audit_is_listed_and_verified_over_http,
);

async fn admin_sets_lists_and_reveals_config_with_secrets_masked(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (admin_id, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let token = Some(admin.access_token.as_str());
    let canary = format!("canary-{}", uuid::Uuid::new_v4());
    let body =
        json!({ "value": canary, "secret": true, "category": "api", "description": "Vast.ai key" });
    let (status, change) = send(
        &app,
        "PUT",
        "/api/v2/admin/config/vastai.api_key",
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, 200, "{change}");
    assert_eq!(change["after"]["value"], "********");
    assert_eq!(change["after"]["is_secret"], true);
    assert_eq!(change["value_changed"], true);
    assert!(!change.to_string().contains(&canary));

    let (status, list) = send(&app, "GET", "/api/v2/admin/config", token, None).await;
    assert_eq!(status, 200);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "vastai.api_key")
        .expect("listed");
    assert_eq!(entry["value"], "********");
    assert_eq!(entry["updated_by"], format!("user:{admin_id}"));
    assert!(!list.to_string().contains(&canary));

    let mut dump = Vec::new();
    app.state.store.backup_to(&mut dump).await.unwrap();
    assert!(
        !String::from_utf8(dump).unwrap().contains(&canary),
        "plaintext in the dump"
    );

    let (status, revealed) = send(
        &app,
        "POST",
        "/api/v2/admin/config/vastai.api_key/reveal",
        token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(revealed["value"], canary.as_str());

    let entries = app.state.store.audit_list(0, 1000).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"config.set") && actions.contains(&"config.reveal"),
        "{actions:?}"
    );
    let reveal = entries
        .iter()
        .find(|e| e.action == "config.reveal")
        .unwrap();
    assert_eq!(reveal.actor, format!("user:{admin_id}"));
    assert!(!serde_json::to_string(&entries).unwrap().contains(&canary));
    app.stop().await.unwrap();
}

async fn bad_config_writes_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let token = Some(admin.access_token.as_str());
    for (path, body) in [
        (
            "/api/v2/admin/config/pods.max",
            json!({ "value": "eight", "type": "int" }),
        ),
        ("/api/v2/admin/config/BAD%20KEY", json!({ "value": "x" })),
        (
            "/api/v2/admin/config/pods.max",
            json!({ "value": "8", "owner": "me" }),
        ),
        (
            "/api/v2/admin/config/pods.max",
            json!({ "value": "8", "category": "nope" }),
        ),
    ] {
        let (status, err) = send(&app, "PUT", path, token, Some(body.clone())).await;
        assert_eq!(status, 422, "{path} {body}: {err}");
    }
    let (status, _) = send(
        &app,
        "POST",
        "/api/v2/admin/config/no.such.key/reveal",
        token,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(&app, "GET", "/api/v2/admin/config/", token, None).await;
    assert_eq!(status, 404);
    app.stop().await.unwrap();
}

async fn audit_is_listed_and_verified_over_http(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, admin) = account(&app, "admin@example.com", Role::Admin).await;
    let (_, support) = account(&app, "support@example.com", Role::Support).await;
    let token = Some(support.access_token.as_str());
    let (status, page) = send(&app, "GET", "/api/v2/admin/audit?limit=2", token, None).await;
    assert_eq!(status, 200, "{page}");
    let page = page.as_array().unwrap().clone();
    assert_eq!(page.len(), 2);
    assert_eq!(page[0]["seq"], 1);
    let after = page[1]["seq"].as_i64().unwrap();
    let (_, next) = send(
        &app,
        "GET",
        &format!("/api/v2/admin/audit?after={after}&limit=500"),
        token,
        None,
    )
    .await;
    assert_eq!(next[0]["seq"], after + 1);
    let (status, _) = send(&app, "GET", "/api/v2/admin/audit?limit=501", token, None).await;
    assert_eq!(status, 400);

    let (status, rotation) = send(
        &app,
        "POST",
        "/api/v2/admin/jwt/rotate",
        Some(&admin.access_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotation}");
    assert_ne!(rotation["kid"], rotation["previous_kid"]);

    let (status, verdict) = send(&app, "POST", "/api/v2/admin/audit/verify", token, None).await;
    assert_eq!(status, 200);
    assert_eq!(verdict["intact"], true, "{verdict}");
    assert!(verdict["entries"].as_u64().unwrap() >= 4);

    raw_sql(
        &app.state.settings,
        r#"UPDATE audit_log SET actor = 'someone-else' WHERE seq = 1"#,
    )
    .await;
    let (_, verdict) = send(&app, "POST", "/api/v2/admin/audit/verify", token, None).await;
    assert_eq!(verdict["intact"], false, "{verdict}");
    assert!(
        verdict["problems"][0].as_str().unwrap().contains("entry 1"),
        "{verdict}"
    );
    app.stop().await.unwrap();
}
