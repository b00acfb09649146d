//! Migrations on both backends and the storage story.

use gpubroker::store::BackendKind;

use crate::both_backends;
use crate::common::{Backend, TestDb};

both_backends!(migrations_are_idempotent_and_recorded, metadata_story);

#[tokio::test]
async fn both_backends_produce_the_same_tables_and_columns() {
    let Some(pg) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let sqlite = TestDb::new(Backend::Sqlite).await.unwrap();
    let (sqlite, pg) = (sqlite.migrated_store().await, pg.migrated_store().await);
    assert_eq!(sqlite.kind(), BackendKind::Sqlite);
    assert_eq!(pg.kind(), BackendKind::Postgres);
    let shape = |tables: Vec<gpubroker::store::schema::TableSchema>| {
        tables
            .into_iter()
            .map(|t| (t.name, t.columns))
            .collect::<Vec<_>>()
    };
    let sqlite_schema = sqlite.schema().await.unwrap();
    let pg_schema = pg.schema().await.unwrap();
    assert!(!sqlite_schema.is_empty());
    for table in sqlite_schema.iter().chain(&pg_schema) {
        for (column, ty) in table.columns.iter().zip(&table.types) {
            assert!(
                !matches!(ty.as_str(), "blob" | "bytea"),
                "{}.{column} is binary ({ty}): store base64 text so backups stay portable",
                table.name
            );
        }
    }
    assert_eq!(shape(sqlite_schema), shape(pg_schema));
    assert_eq!(sqlite.latest_migration(), pg.latest_migration());
    assert_eq!(
        sqlite.applied_migration().await.unwrap(),
        pg.applied_migration().await.unwrap()
    );
}

async fn migrations_are_idempotent_and_recorded(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    assert_eq!(
        store.applied_migration().await.unwrap(),
        0,
        "fresh database has no schema"
    );
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        store.applied_migration().await.unwrap(),
        store.latest_migration()
    );
    assert!(store.latest_migration() >= 1);
}

async fn metadata_story(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.migrated_store().await;
    assert_eq!(store.meta_get("installation_id").await.unwrap(), None);
    let first = store
        .meta_get_or_insert("installation_id", "one")
        .await
        .unwrap();
    let second = store
        .meta_get_or_insert("installation_id", "two")
        .await
        .unwrap();
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("one", "one"),
        "first writer wins"
    );
    store
        .meta_set("note", "héllo \"quoted\"\nline")
        .await
        .unwrap();
    store.meta_set("note", "replaced").await.unwrap();
    let entries = store.meta_list().await.unwrap();
    let pairs: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e.key.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(pairs, [("installation_id", "one"), ("note", "replaced")]);
    let stats = store.pool_stats();
    assert_eq!(stats.max, 5);
    assert!(stats.size >= 1);
}

#[tokio::test]
async fn sqlite_file_is_in_wal_mode_inside_the_data_dir() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let store = db.migrated_store().await;
    store.meta_set("k", "v").await.unwrap();
    assert!(db.path().join("gpubroker.db").exists());
    assert!(
        db.path().join("gpubroker.db-wal").exists(),
        "WAL file exists while open"
    );
    store.close().await;
}
