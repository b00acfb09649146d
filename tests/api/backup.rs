//! `backup` / `restore`: round trips on both backends, across backends, and refusals.

use gpubroker::store::Store;

use crate::both_backends;
use crate::common::{Backend, TestDb};

both_backends!(
    backup_round_trip_reproduces_every_row,
    restore_refuses_a_non_empty_database_unless_forced,
    restore_refuses_a_truncated_backup_and_changes_nothing,
);

const ODD_VALUES: [(&str, &str); 4] = [
    ("ascii", "plain"),
    ("quotes", "it's \"quoted\" \\ back\\slash"),
    ("unicode", "Zürich 東京 🚀"),
    ("newlines", "line one\nline two\r\n\ttab"),
];

async fn seeded(backend: Backend) -> Option<(TestDb, Store)> {
    let db = TestDb::new(backend).await?;
    let store = db.migrated_store().await;
    for (k, v) in ODD_VALUES {
        store.meta_set(k, v).await.unwrap();
    }
    Some((db, store))
}

async fn backup_bytes(store: &Store) -> Vec<u8> {
    let mut out = Vec::new();
    store.backup_to(&mut out).await.unwrap();
    out
}

/// The row lines of a backup (header and trailer carry times and backend names).
fn rows(backup: &[u8]) -> Vec<String> {
    let text = String::from_utf8(backup.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines[1..lines.len() - 1]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

async fn backup_round_trip_reproduces_every_row(backend: Backend) {
    let Some((_db, source)) = seeded(backend).await else {
        return;
    };
    let backup = backup_bytes(&source).await;
    assert_eq!(rows(&backup).len(), ODD_VALUES.len());

    let target_db = TestDb::new(backend).await.unwrap();
    let target = target_db.migrated_store().await;
    let counts = target.restore_from(&backup[..], false).await.unwrap();
    assert_eq!(counts["app_meta"], ODD_VALUES.len() as u64);
    assert_eq!(
        target.meta_list().await.unwrap(),
        source.meta_list().await.unwrap()
    );
    assert_eq!(
        rows(&backup_bytes(&target).await),
        rows(&backup),
        "second backup is identical"
    );
}

async fn restore_refuses_a_non_empty_database_unless_forced(backend: Backend) {
    let Some((_db, source)) = seeded(backend).await else {
        return;
    };
    let backup = backup_bytes(&source).await;
    let target_db = TestDb::new(backend).await.unwrap();
    let target = target_db.migrated_store().await;
    target
        .meta_set("existing", "keep me unless forced")
        .await
        .unwrap();

    let err = target
        .restore_from(&backup[..], false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        target.meta_get("existing").await.unwrap().as_deref(),
        Some("keep me unless forced")
    );

    target.restore_from(&backup[..], true).await.unwrap();
    assert_eq!(
        target.meta_get("existing").await.unwrap(),
        None,
        "forced restore replaces contents"
    );
    assert_eq!(
        target.meta_list().await.unwrap(),
        source.meta_list().await.unwrap()
    );
}

async fn restore_refuses_a_truncated_backup_and_changes_nothing(backend: Backend) {
    let Some((_db, source)) = seeded(backend).await else {
        return;
    };
    let backup = backup_bytes(&source).await;
    let text = String::from_utf8(backup).unwrap();
    let truncated: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    let target_db = TestDb::new(backend).await.unwrap();
    let target = target_db.migrated_store().await;
    target.meta_set("before", "untouched").await.unwrap();
    let err = target
        .restore_from(truncated.as_bytes(), true)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated"), "{err}");
    let keys: Vec<String> = target
        .meta_list()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(keys, ["before"], "a failed restore rolls back entirely");

    let err = target
        .restore_from(&b"{\"hello\":1}\n"[..], true)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a gpubroker backup"), "{err}");
}

#[tokio::test]
async fn backups_move_between_sqlite_and_postgresql() {
    let Some(pg_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (_sqlite_db, sqlite) = seeded(Backend::Sqlite).await.unwrap();
    let pg = pg_db.migrated_store().await;
    pg.restore_from(&backup_bytes(&sqlite).await[..], false)
        .await
        .unwrap();
    assert_eq!(
        pg.meta_list().await.unwrap(),
        sqlite.meta_list().await.unwrap()
    );

    let back_db = TestDb::new(Backend::Sqlite).await.unwrap();
    let back = back_db.migrated_store().await;
    back.restore_from(&backup_bytes(&pg).await[..], false)
        .await
        .unwrap();
    assert_eq!(
        back.meta_list().await.unwrap(),
        sqlite.meta_list().await.unwrap()
    );
}
