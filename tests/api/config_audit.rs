//! Configuration changes, reveals and key rotations land in the audit chain, masked.

use std::time::Duration;

use gpubroker::config::{ConfigStore, SetOptions};
use gpubroker::secret::MasterKey;

use crate::both_backends;
use crate::common::{Backend, TestDb};

both_backends!(config_changes_are_audited_without_secrets);

async fn config_changes_are_audited_without_secrets(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.migrated_store().await;
    let key = MasterKey::generate().unwrap();
    let config = ConfigStore::with_ttl(store.clone(), &key, Duration::ZERO).unwrap();
    let canary = format!("canary-{}", uuid::Uuid::new_v4());
    let secret = SetOptions {
        secret: Some(true),
        ..SetOptions::default()
    };
    config
        .set("vastai.api_key", &canary, secret, "cli:alice")
        .await
        .unwrap();
    config
        .set(
            "search.default_limit",
            "50",
            SetOptions::default(),
            "cli:alice",
        )
        .await
        .unwrap();
    config.reveal("vastai.api_key", "cli:bob").await.unwrap();
    config.rotate_key("cli:carol").await.unwrap();

    let log = store.audit_list(0, 100).await.unwrap();
    let actions: Vec<(&str, &str, Option<&str>)> = log
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_deref()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("cli:alice", "config.set", Some("vastai.api_key")),
            ("cli:alice", "config.set", Some("search.default_limit")),
            ("cli:bob", "config.reveal", Some("vastai.api_key")),
            ("cli:carol", "config.rotate_key", None),
        ]
    );
    assert_eq!(log[0].detail["after"]["value"], "********");
    assert_eq!(log[1].detail["after"]["value"], "50");
    assert_eq!(log[3].detail["resealed"], 1);
    for entry in &log {
        assert!(!entry.detail.to_string().contains(&canary), "{entry:?}");
    }
    assert!(store.audit_verify(None).await.unwrap().is_intact());
}
