//! `gpubroker config …` through the real binary, and imports from a fake Vault KV v2 server.

use std::time::Duration;

use gpubroker::config::{ConfigStore, MASK};
use gpubroker::secret::MasterKey;

use crate::common::{cli, Backend, TestDb};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cli_sets_reads_lists_imports_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let canary = format!("canary-{}", uuid::Uuid::new_v4());
    let set = ok(&cli(
        d,
        &[
            "config",
            "set",
            "llm.api_key",
            "-",
            "--secret",
            "--category",
            "api",
        ],
        &format!("{canary}\n"),
    ));
    assert!(
        set.contains("created llm.api_key (string, api, secret)"),
        "{set}"
    );
    assert!(!set.contains(&canary));
    assert_eq!(
        ok(&cli(d, &["config", "get", "llm.api_key"], "")).trim(),
        MASK
    );
    assert_eq!(
        ok(&cli(d, &["config", "get", "llm.api_key", "--reveal"], "")).trim(),
        canary
    );
    ok(&cli(
        d,
        &[
            "config",
            "set",
            "pods.max",
            "4",
            "--type",
            "int",
            "--description",
            "per user",
        ],
        "",
    ));

    let bad = cli(d, &["config", "set", "pods.max", &canary], "");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("value of pods.max is not a valid int"),
        "{stderr}"
    );
    assert!(!stderr.contains(&canary), "{stderr}");
    let missing = cli(d, &["config", "get", "nope"], "");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("config key nope not found"));

    std::fs::write(d.join("prod.env"), "GITHUB_TOKEN=ghp-x\nREGION=eu\n").unwrap();
    let imported = ok(&cli(d, &["config", "import", "prod.env"], ""));
    assert!(
        imported.contains("imported 2 entries (1 secret)"),
        "{imported}"
    );
    std::fs::write(d.join("more.json"), r#"{"beta.enabled": false}"#).unwrap();
    ok(&cli(d, &["config", "import", "more.json"], ""));

    let list: serde_json::Value =
        serde_json::from_str(&ok(&cli(d, &["config", "list", "--json"], ""))).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5);
    assert!(!serde_json::to_string(list).unwrap().contains("ghp-x"));
    let table = ok(&cli(d, &["config", "list"], ""));
    assert!(
        table.contains("per user") && !table.contains(&canary),
        "{table}"
    );

    let rotated = ok(&cli(d, &["config", "rotate-key"], ""));
    assert!(
        rotated.contains("key ring at version 2; 2 secrets re-encrypted"),
        "{rotated}"
    );
    assert_eq!(
        ok(&cli(d, &["config", "get", "github_token", "--reveal"], "")).trim(),
        "ghp-x"
    );
}

/// A fake Vault KV v2 server: the secret at `secret/data/gpubroker` for token `root-token`.
async fn fake_vault() -> String {
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/v1/secret/data/gpubroker",
        get(|headers: HeaderMap| async move {
            if headers.get("x-vault-token").and_then(|v| v.to_str().ok()) != Some("root-token") {
                return Err(StatusCode::FORBIDDEN);
            }
            Ok(axum::Json(serde_json::json!({
                "request_id": "r",
                "data": {
                    "data": {"STRIPE_SECRET_KEY": "sk_live_vault", "pods.max": 3, "region": "eu"},
                    "metadata": {"version": 4}
                }
            })))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kv2_secret_imports_and_bad_tokens_are_refused() {
    use gpubroker::config::vault::fetch_kv2;
    use gpubroker::net_guard::Reach;
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let key = MasterKey::generate().unwrap();
    let config = ConfigStore::with_ttl(db.migrated_store().await, &key, Duration::ZERO).unwrap();
    let addr = fake_vault().await;
    let any = gpubroker::net_guard::Reach::Any;

    // A loopback Vault is refused unless private addresses are allowed (development).
    let refused = fetch_kv2(
        &addr,
        "secret/data/gpubroker",
        "root-token",
        Reach::PublicOnly,
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("vault address refused"),
        "{refused}"
    );

    let err = fetch_kv2(&addr, "secret/data/gpubroker", "wrong-token", any)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    assert!(!err.to_string().contains("wrong-token"), "{err}");
    assert!(fetch_kv2(&addr, "secret/data/other", "root-token", any)
        .await
        .unwrap_err()
        .to_string()
        .contains("404"));

    let entries = fetch_kv2(&addr, "secret/data/gpubroker", "root-token", any)
        .await
        .unwrap();
    config.import(entries, "vault-import").await.unwrap();
    let stripe = config.get("stripe_secret_key").await.unwrap().unwrap();
    assert!(stripe.is_secret);
    assert_eq!(stripe.text, "sk_live_vault");
    assert_eq!(
        config.get("pods.max").await.unwrap().unwrap().as_int(),
        Some(3)
    );
    assert!(!config.get("region").await.unwrap().unwrap().is_secret);

    // The same through the binary, the token from VAULT_TOKEN.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::common::binary())
        .args([
            "config",
            "import-vault",
            "--addr",
            &addr,
            "--path",
            "secret/data/gpubroker",
        ])
        .env_clear()
        .env("GPUBROKER_DATA_DIR", dir.path())
        .env("LOG_LEVEL", "warn")
        .env("VAULT_TOKEN", "root-token")
        .env("GPUBROKER_ALLOW_PRIVATE_URLS", "true")
        .output()
        .unwrap();
    assert!(
        ok(&out).contains("imported 3 entries (1 secret) from vault secret/data/gpubroker"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
