//! The encrypted configuration store on both backends: round trips, masking, no plaintext
//! at rest or in backups, tamper and wrong-key failures, rotation and imports.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gpubroker::config::import::{parse_env, parse_json};
use gpubroker::config::{Category, ConfigError, ConfigStore, SetOptions, ValueType, MASK};
use gpubroker::secret::MasterKey;
use gpubroker::settings::DatabaseTarget;
use gpubroker::store::Store;

use crate::both_backends;
use crate::common::{Backend, TestDb};

both_backends!(
    secret_and_plain_values_round_trip,
    list_masks_secrets,
    canary_secret_is_absent_from_every_column_and_backups,
    tampered_or_moved_sealed_values_fail_to_open,
    wrong_master_key_fails_to_open,
    rotate_key_reseals_every_secret,
    import_env_and_json_files,
    typed_values_are_validated,
    cache_serves_reads_until_set_or_expiry,
    provider_keys_come_from_the_store_unless_the_environment_sets_them,
);

fn secret() -> SetOptions {
    SetOptions {
        secret: Some(true),
        category: Some(Category::Security),
        ..SetOptions::default()
    }
}

async fn setup(backend: Backend) -> Option<(TestDb, Store, MasterKey, ConfigStore)> {
    let db = TestDb::new(backend).await?;
    let store = db.migrated_store().await;
    let key = MasterKey::generate().unwrap();
    let config = ConfigStore::with_ttl(store.clone(), &key, Duration::ZERO).unwrap();
    Some((db, store, key, config))
}

/// Every column of every table as text, read with raw SQL on a separate connection.
async fn all_cells(db: &TestDb, store: &Store) -> Vec<String> {
    let mut cells = Vec::new();
    for table in store.schema().await.unwrap() {
        for column in &table.columns {
            let sql = format!("SELECT CAST(\"{column}\" AS TEXT) FROM \"{}\"", table.name);
            let values: Vec<Option<String>> = match &db.settings().database.target {
                DatabaseTarget::Sqlite(path) => {
                    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                    sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap()
                }
                DatabaseTarget::Postgres(url) => {
                    let pool = sqlx::PgPool::connect(url).await.unwrap();
                    sqlx::query_scalar(&sql).fetch_all(&pool).await.unwrap()
                }
            };
            cells.extend(values.into_iter().flatten());
        }
    }
    cells
}

/// Runs one raw statement with two text parameters.
async fn raw_exec(db: &TestDb, sql: &str, a: &str, b: &str) {
    match &db.settings().database.target {
        DatabaseTarget::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(a)
                .bind(b)
                .execute(&pool)
                .await
                .unwrap();
        }
        DatabaseTarget::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql)
                .bind(a)
                .bind(b)
                .execute(&pool)
                .await
                .unwrap();
        }
    }
}

async fn sealed_of(store: &Store, key: &str) -> String {
    store
        .config_entry(key)
        .await
        .unwrap()
        .unwrap()
        .sealed
        .unwrap()
}

async fn secret_and_plain_values_round_trip(backend: Backend) {
    let Some((_db, _store, _key, config)) = setup(backend).await else {
        return;
    };
    let change = config
        .set("vastai.api_key", "sk-123", secret(), "tester")
        .await
        .unwrap();
    assert!(change.created() && change.value_changed);
    assert_eq!(
        change.after.value, MASK,
        "the change record never holds a secret"
    );
    let plain = SetOptions {
        value_type: Some(ValueType::Int),
        ..SetOptions::default()
    };
    config.set("pods.max", "12", plain, "tester").await.unwrap();

    let got = config.get("vastai.api_key").await.unwrap().unwrap();
    assert_eq!(got.text, "sk-123");
    assert!(got.is_secret);
    assert!(
        !format!("{got:?}").contains("sk-123"),
        "Debug masks secrets"
    );
    assert_eq!(
        config.get("pods.max").await.unwrap().unwrap().as_int(),
        Some(12)
    );
    assert_eq!(config.get("absent").await.unwrap(), None);

    let revealed = config.reveal("vastai.api_key", "operator").await.unwrap();
    assert_eq!(
        (revealed.value.text.as_str(), revealed.actor.as_str()),
        ("sk-123", "operator")
    );
    assert!(matches!(
        config.reveal("absent", "operator").await,
        Err(ConfigError::NotFound(_))
    ));

    // Updating keeps the entry secret and its category; the change says so.
    let change = config
        .set("vastai.api_key", "sk-456", SetOptions::default(), "tester2")
        .await
        .unwrap();
    assert!(!change.created() && change.value_changed && change.after.is_secret);
    assert_eq!(change.after.category, Category::Security);
    assert_eq!(
        config.get("vastai.api_key").await.unwrap().unwrap().text,
        "sk-456"
    );
}

async fn list_masks_secrets(backend: Backend) {
    let Some((_db, _store, _key, config)) = setup(backend).await else {
        return;
    };
    config
        .set("smtp.password", "pw-1", secret(), "t")
        .await
        .unwrap();
    config
        .set("smtp.host", "mail.example", SetOptions::default(), "t")
        .await
        .unwrap();
    let list = config.list().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].key.as_str(), list[0].value.as_str()),
        ("smtp.host", "mail.example")
    );
    assert_eq!(
        (list[1].key.as_str(), list[1].value.as_str()),
        ("smtp.password", MASK)
    );
    assert!(!serde_json::to_string(&list).unwrap().contains("pw-1"));
}

async fn canary_secret_is_absent_from_every_column_and_backups(backend: Backend) {
    let Some((db, store, _key, config)) = setup(backend).await else {
        return;
    };
    let canary = format!("canary-{}", uuid::Uuid::new_v4());
    config
        .set("canary.secret", &canary, secret(), "t")
        .await
        .unwrap();
    config
        .set(
            "canary.json",
            &format!("{{\"c\":\"{canary}\"}}"),
            SetOptions {
                secret: Some(true),
                value_type: Some(ValueType::Json),
                ..SetOptions::default()
            },
            "t",
        )
        .await
        .unwrap();
    config.rotate_key("t").await.unwrap();
    assert_eq!(
        config.get("canary.secret").await.unwrap().unwrap().text,
        canary
    );

    let cells = all_cells(&db, &store).await;
    assert!(
        cells.iter().any(|c| c.starts_with("v2.")),
        "sealed values were read"
    );
    assert!(
        cells.iter().all(|c| !c.contains(&canary)),
        "plaintext canary at rest"
    );
    let mut backup = Vec::new();
    store.backup_to(&mut backup).await.unwrap();
    let text = String::from_utf8(backup).unwrap();
    assert!(text.contains("config_entries") && text.contains("config_keyring"));
    assert!(!text.contains(&canary), "plaintext canary in the backup");
    assert!(
        !text.contains(&STANDARD.encode(&canary)),
        "base64 canary in the backup"
    );
}

async fn tampered_or_moved_sealed_values_fail_to_open(backend: Backend) {
    let Some((db, store, _key, config)) = setup(backend).await else {
        return;
    };
    config
        .set("a.token", "value-a", secret(), "t")
        .await
        .unwrap();
    config
        .set("b.token", "value-b", secret(), "t")
        .await
        .unwrap();
    let update = "UPDATE config_entries SET sealed = $1 WHERE key = $2";

    // Copy a's sealed value to b: the key name is bound as associated data.
    raw_exec(&db, update, &sealed_of(&store, "a.token").await, "b.token").await;
    let err = config.get("b.token").await.unwrap_err();
    assert!(
        matches!(err, ConfigError::Decrypt { ref key } if key == "b.token"),
        "{err}"
    );
    assert!(err
        .to_string()
        .contains("cannot decrypt config entry b.token"));
    assert!(!err.to_string().contains("value-"));

    // Flip one byte of a's ciphertext.
    let sealed = sealed_of(&store, "a.token").await;
    let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
    let mut body = STANDARD.decode(&parts[2]).unwrap();
    body[3] ^= 0x01;
    parts[2] = STANDARD.encode(body);
    raw_exec(&db, update, &parts.join("."), "a.token").await;
    assert!(matches!(
        config.get("a.token").await,
        Err(ConfigError::Decrypt { .. })
    ));

    // Garbage instead of the sealed format is also a clear error.
    raw_exec(&db, update, "not-sealed", "a.token").await;
    assert!(matches!(
        config.get("a.token").await,
        Err(ConfigError::Decrypt { .. })
    ));
}

async fn wrong_master_key_fails_to_open(backend: Backend) {
    let Some((_db, store, _key, config)) = setup(backend).await else {
        return;
    };
    config
        .set("jwt.secret", "s3cr3t", secret(), "t")
        .await
        .unwrap();
    config
        .set("plain", "visible", SetOptions::default(), "t")
        .await
        .unwrap();
    let other = ConfigStore::new(store, &MasterKey::generate().unwrap()).unwrap();
    let err = other.get("jwt.secret").await.unwrap_err();
    assert!(matches!(err, ConfigError::KeyRing(1)), "{err}");
    assert!(err.to_string().contains("wrong master key"));
    assert!(other.rotate_key("t").await.is_err());
    assert_eq!(other.get("plain").await.unwrap().unwrap().text, "visible");
    assert_eq!(
        config.get("jwt.secret").await.unwrap().unwrap().text,
        "s3cr3t"
    );
}

async fn rotate_key_reseals_every_secret(backend: Backend) {
    let Some((_db, store, _key, config)) = setup(backend).await else {
        return;
    };
    config.set("one.key", "first", secret(), "t").await.unwrap();
    config
        .set("two.key", "second", secret(), "t")
        .await
        .unwrap();
    config
        .set("three", "plain", SetOptions::default(), "t")
        .await
        .unwrap();
    let before = [
        sealed_of(&store, "one.key").await,
        sealed_of(&store, "two.key").await,
    ];
    assert!(before.iter().all(|s| s.starts_with("v1.")));

    let rotation = config.rotate_key("admin").await.unwrap();
    assert_eq!(
        (rotation.previous_version, rotation.new_version),
        (Some(1), 2)
    );
    assert_eq!(rotation.resealed, ["one.key", "two.key"]);
    let after = [
        sealed_of(&store, "one.key").await,
        sealed_of(&store, "two.key").await,
    ];
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(a, b);
        assert!(a.starts_with("v2."), "{a}");
    }
    assert_eq!(config.get("one.key").await.unwrap().unwrap().text, "first");
    assert_eq!(config.get("two.key").await.unwrap().unwrap().text, "second");
    assert_eq!(config.get("three").await.unwrap().unwrap().text, "plain");
    let ring = store.config_keyring().await.unwrap();
    assert_eq!(ring.len(), 2);
    assert!(ring[0].retired_at.is_some() && ring[1].retired_at.is_none());
    // New secrets use the new version, and a second rotation goes on to 3.
    config.set("four.key", "x", secret(), "t").await.unwrap();
    assert!(sealed_of(&store, "four.key").await.starts_with("v2."));
    assert_eq!(config.rotate_key("admin").await.unwrap().new_version, 3);
    assert_eq!(config.get("four.key").await.unwrap().unwrap().text, "x");
}

async fn import_env_and_json_files(backend: Backend) {
    let Some((_db, _store, _key, config)) = setup(backend).await else {
        return;
    };
    let env = "# provider keys\nRUNPOD_API_KEY=rp-secret\nexport LOG_FORMAT=json\nSMTP_PASSWORD=\"p w\"\n";
    let changes = config
        .import(parse_env(env).unwrap(), "importer")
        .await
        .unwrap();
    assert_eq!(changes.len(), 3);
    let json = r#"{"pods.max": 8, "beta.enabled": true, "stripe.secret": "whsec"}"#;
    config
        .import(parse_json(json).unwrap(), "importer")
        .await
        .unwrap();
    let array =
        r#"[{"key": "smtp.host", "value": "mail", "category": "service", "description": "relay"}]"#;
    config
        .import(parse_json(array).unwrap(), "importer")
        .await
        .unwrap();

    let list = config.list().await.unwrap();
    let find = |k: &str| list.iter().find(|e| e.key == k).unwrap().clone();
    assert!(find("runpod_api_key").is_secret && find("smtp_password").is_secret);
    assert!(!find("log_format").is_secret);
    assert_eq!(find("log_format").value, "json");
    assert_eq!(find("pods.max").value_type, ValueType::Int);
    assert!(find("stripe.secret").is_secret);
    assert_eq!(find("smtp.host").description, "relay");
    assert_eq!(find("smtp_password").updated_by, "importer");
    assert_eq!(
        config.get("smtp_password").await.unwrap().unwrap().text,
        "p w"
    );
    assert_eq!(
        config.get("runpod_api_key").await.unwrap().unwrap().text,
        "rp-secret"
    );
    assert_eq!(
        config.get("beta.enabled").await.unwrap().unwrap().as_bool(),
        Some(true)
    );
}

async fn typed_values_are_validated(backend: Backend) {
    let Some((_db, store, _key, config)) = setup(backend).await else {
        return;
    };
    let typed = |t| SetOptions {
        value_type: Some(t),
        secret: Some(true),
        ..SetOptions::default()
    };
    for (t, bad) in [
        (ValueType::Int, "12x-secret"),
        (ValueType::Bool, "maybe-secret"),
        (ValueType::Json, "{oops-secret"),
    ] {
        let err = config.set("typed", bad, typed(t), "t").await.unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err}");
        assert!(!err.to_string().contains("secret\""), "{err}");
        assert!(
            !err.to_string().contains(bad),
            "error echoes the value: {err}"
        );
    }
    assert!(matches!(
        config.set("Bad Key", "v", SetOptions::default(), "t").await,
        Err(ConfigError::InvalidKey(_))
    ));
    assert!(config
        .set(&"k".repeat(129), "v", SetOptions::default(), "t")
        .await
        .is_err());
    config
        .set("flag", "YES", typed(ValueType::Bool), "t")
        .await
        .unwrap();
    assert_eq!(
        config.get("flag").await.unwrap().unwrap().as_bool(),
        Some(true)
    );
    config
        .set("doc", "{ \"a\": [1, 2] }", typed(ValueType::Json), "t")
        .await
        .unwrap();
    assert_eq!(
        config.get("doc").await.unwrap().unwrap().text,
        r#"{"a":[1,2]}"#
    );
    assert!(store.config_entry("typed").await.unwrap().is_none());
}

async fn cache_serves_reads_until_set_or_expiry(backend: Backend) {
    let Some((db, store, key, _)) = setup(backend).await else {
        return;
    };
    let config = ConfigStore::with_ttl(store, &key, Duration::from_millis(300)).unwrap();
    config
        .set("cached", "1", SetOptions::default(), "t")
        .await
        .unwrap();
    assert_eq!(config.get("cached").await.unwrap().unwrap().text, "1");
    raw_exec(
        &db,
        "UPDATE config_entries SET value = $1 WHERE key = $2",
        "2",
        "cached",
    )
    .await;
    assert_eq!(
        config.get("cached").await.unwrap().unwrap().text,
        "1",
        "served from cache"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        config.get("cached").await.unwrap().unwrap().text,
        "2",
        "expired"
    );
    config.get("cached").await.unwrap();
    config
        .set("cached", "3", SetOptions::default(), "t")
        .await
        .unwrap();
    assert_eq!(
        config.get("cached").await.unwrap().unwrap().text,
        "3",
        "set invalidates"
    );
}

/// A secret survives a backup from SQLite restored on PostgreSQL and back (same master key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_entries_move_between_backends_through_backups() {
    let Some(pg_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (_db, sqlite, key, config) = setup(Backend::Sqlite).await.unwrap();
    config
        .set("moved.secret", "travels", secret(), "t")
        .await
        .unwrap();
    config
        .set(
            "moved.flag",
            "on",
            SetOptions {
                value_type: Some(ValueType::Bool),
                ..SetOptions::default()
            },
            "t",
        )
        .await
        .unwrap();
    let mut backup = Vec::new();
    sqlite.backup_to(&mut backup).await.unwrap();
    let pg = pg_db.migrated_store().await;
    pg.restore_from(&backup[..], false).await.unwrap();
    let on_pg = ConfigStore::with_ttl(pg.clone(), &key, Duration::ZERO).unwrap();
    assert_eq!(
        on_pg.get("moved.secret").await.unwrap().unwrap().text,
        "travels"
    );
    assert_eq!(on_pg.list().await.unwrap(), config.list().await.unwrap());

    let mut again = Vec::new();
    pg.backup_to(&mut again).await.unwrap();
    let back_db = TestDb::new(Backend::Sqlite).await.unwrap();
    let back = back_db.migrated_store().await;
    back.restore_from(&again[..], false).await.unwrap();
    let on_back = ConfigStore::with_ttl(back, &key, Duration::ZERO).unwrap();
    assert_eq!(
        on_back.get("moved.secret").await.unwrap().unwrap().text,
        "travels"
    );
    assert_eq!(
        on_back.get("moved.flag").await.unwrap().unwrap().as_bool(),
        Some(true)
    );
}

/// Provider API keys stored as secrets fill what the environment leaves unset; keys from
/// the environment win.
async fn provider_keys_come_from_the_store_unless_the_environment_sets_them(backend: Backend) {
    use gpubroker::config::providers::{fill_provider_keys, LAMBDA_KEY, RUNPOD_KEY};
    let Some((_db, _store, _key, config)) = setup(backend).await else {
        return;
    };
    config
        .set(RUNPOD_KEY, "rp-from-store", secret(), "test")
        .await
        .unwrap();
    config
        .set(LAMBDA_KEY, "lambda-from-store", secret(), "test")
        .await
        .unwrap();
    let mut credentials = gpubroker::settings::ProviderCredentials {
        lambda_key: Some("lambda-from-env".into()),
        ..Default::default()
    };
    let taken = fill_provider_keys(&mut credentials, &config).await.unwrap();
    assert_eq!(taken, [RUNPOD_KEY]);
    assert_eq!(credentials.runpod_key.as_deref(), Some("rp-from-store"));
    assert_eq!(credentials.lambda_key.as_deref(), Some("lambda-from-env"));
    assert_eq!(credentials.vastai_key, None);
}
