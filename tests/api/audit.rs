//! The tamper-evident audit log on both backends: appends, verification against every kind
//! of tampering done with raw SQL, concurrent appenders, and `gpubroker audit` itself.

use std::process::{Command, Output};

use gpubroker::domain::audit::{AuditEntry, AuditProblem, CheckpointSource, GENESIS_HASH};
use gpubroker::store::{Store, StoreError};
use serde_json::json;

use crate::both_backends;
use crate::common::{binary, Backend, TestDb};

both_backends!(
    appended_entries_list_back_and_verify,
    an_edited_detail_is_named_by_seq,
    a_deleted_middle_entry_is_a_gap,
    swapped_and_forged_entries_are_detected,
    a_truncated_tail_is_caught_by_checkpoints,
    fifty_concurrent_appends_make_one_gapless_chain,
    cli_verify_exits_0_then_1_after_an_edit,
);

async fn raw(db: &TestDb, sql: &str) {
    crate::common::raw_sql(&db.settings(), sql).await;
}

/// A migrated store holding `n` entries with detail `{"i": seq}`.
async fn store_with(db: &TestDb, n: i64) -> (Store, Vec<AuditEntry>) {
    let store = db.migrated_store().await;
    let mut entries = Vec::new();
    for i in 1..=n {
        let target = format!("key.{i}");
        entries.push(
            store
                .audit_append("u_1", "config.set", Some(&target), json!({ "i": i }))
                .await
                .unwrap(),
        );
    }
    (store, entries)
}

async fn appended_entries_list_back_and_verify(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.migrated_store().await;
    assert!(store.audit_verify(None).await.unwrap().is_intact());
    let first = store
        .audit_append(
            "system",
            "auth.login",
            None,
            json!({"z": [1, {"b": 2, "a": 1.5}], "a": "é\n"}),
        )
        .await
        .unwrap();
    assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH));
    let second = store
        .audit_append("cli:root", "config.set", Some("smtp.host"), json!({}))
        .await
        .unwrap();
    assert_eq!((second.seq, &second.prev_hash), (2, &first.hash));
    assert!(matches!(
        store.audit_append("system", "x.y", None, json!([1])).await,
        Err(StoreError::Invalid(_))
    ));

    let listed = store.audit_list(0, 10).await.unwrap();
    assert_eq!(
        listed,
        vec![first.clone(), second.clone()],
        "read back unchanged"
    );
    assert_eq!(store.audit_list(1, 10).await.unwrap(), vec![second.clone()]);
    let report = store.audit_verify(None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.entries, report.head), (2, second.head()));
    let cp = store.audit_checkpoint().await.unwrap();
    assert_eq!((cp.seq, &cp.hash), (2, &second.hash));
    assert_eq!(
        store.audit_checkpoint().await.unwrap(),
        cp,
        "same head, same record"
    );
    assert!(store.audit_verify(Some(&cp)).await.unwrap().is_intact());
}

async fn an_edited_detail_is_named_by_seq(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, _) = store_with(&db, 5).await;
    raw(
        &db,
        r#"UPDATE audit_log SET detail = '{"i":99}' WHERE seq = 3"#,
    )
    .await;
    let report = store.audit_verify(None).await.unwrap();
    assert_eq!(report.problems, vec![AuditProblem::Altered { seq: 3 }]);
    assert_eq!(report.entries, 5);
}

async fn a_deleted_middle_entry_is_a_gap(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, _) = store_with(&db, 5).await;
    raw(&db, "DELETE FROM audit_log WHERE seq = 3").await;
    let report = store.audit_verify(None).await.unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Missing { first: 3, last: 3 }]
    );
}

async fn swapped_and_forged_entries_are_detected(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, entries) = store_with(&db, 5).await;
    // Swap the contents of entries 2 and 3, hashes untouched.
    raw(
        &db,
        r#"UPDATE audit_log SET detail = CASE seq WHEN 2 THEN '{"i":3}' ELSE '{"i":2}' END,
               target = CASE seq WHEN 2 THEN 'key.3' ELSE 'key.2' END
           WHERE seq IN (2, 3)"#,
    )
    .await;
    let report = store.audit_verify(None).await.unwrap();
    assert_eq!(
        report.problems,
        vec![
            AuditProblem::Altered { seq: 2 },
            AuditProblem::Altered { seq: 3 }
        ]
    );
    // Swap whole rows (positions exchanged, each row keeping its hashes).
    raw(
        &db,
        "UPDATE audit_log SET detail = CASE seq WHEN 2 THEN '{\"i\":2}' ELSE '{\"i\":3}' END,
               target = CASE seq WHEN 2 THEN 'key.2' ELSE 'key.3' END WHERE seq IN (2, 3);
         UPDATE audit_log SET seq = -2 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = -2;",
    )
    .await;
    let report = store.audit_verify(None).await.unwrap();
    assert_eq!(report.problems[0], AuditProblem::BrokenLink { seq: 2 });
    // Put them back, then replace entry 3 by a self-consistent forgery (content and hash
    // recomputed): the link from entry 4 gives it away.
    raw(
        &db,
        "UPDATE audit_log SET seq = -2 WHERE seq = 2;
         UPDATE audit_log SET seq = 2 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = -2;",
    )
    .await;
    assert!(store.audit_verify(None).await.unwrap().is_intact());
    let mut forged = entries[2].clone();
    forged.detail = json!({"forged": true});
    forged.hash = forged.computed_hash();
    raw(
        &db,
        &format!(
            r#"UPDATE audit_log SET detail = '{{"forged":true}}', hash = '{}' WHERE seq = 3"#,
            forged.hash
        ),
    )
    .await;
    let report = store.audit_verify(None).await.unwrap();
    assert_eq!(report.problems, vec![AuditProblem::BrokenLink { seq: 4 }]);
}

async fn a_truncated_tail_is_caught_by_checkpoints(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, _) = store_with(&db, 6).await;
    let exported = store.audit_checkpoint().await.unwrap();
    assert_eq!(exported.seq, 6);
    raw(&db, "DELETE FROM audit_log WHERE seq > 4").await;
    let report = store.audit_verify(None).await.unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Truncated {
            checkpoint_seq: 6,
            head_seq: 4,
            from: CheckpointSource::Database
        }]
    );
    // An attacker who also deletes the recorded checkpoints is caught by the exported one.
    raw(&db, "DELETE FROM audit_checkpoints").await;
    assert!(store.audit_verify(None).await.unwrap().is_intact());
    let report = store.audit_verify(Some(&exported)).await.unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::Truncated {
            checkpoint_seq: 6,
            head_seq: 4,
            from: CheckpointSource::File
        }]
    );
    // Re-appending to the same length does not fool the checkpoint: entry 6 differs.
    for _ in 0..2 {
        store
            .audit_append("system", "x.replay", None, json!({}))
            .await
            .unwrap();
    }
    let report = store.audit_verify(Some(&exported)).await.unwrap();
    assert_eq!(
        report.problems,
        vec![AuditProblem::CheckpointMismatch {
            seq: 6,
            from: CheckpointSource::File
        }]
    );
}

async fn fifty_concurrent_appends_make_one_gapless_chain(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.migrated_store().await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .audit_append(&format!("u_{i}"), "test.append", None, json!({ "i": i }))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let seqs: Vec<i64> = store
        .audit_list(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let report = store.audit_verify(None).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 50);
}

fn gpubroker(db: &TestDb, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(db.path())
        .env_clear()
        .env("LOG_LEVEL", "warn")
        .env("GPUBROKER_DATA_DIR", db.path());
    if let Some(url) = &db.url {
        command.env("DATABASE_URL", url);
    }
    command.output().unwrap()
}

async fn cli_verify_exits_0_then_1_after_an_edit(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let (store, entries) = store_with(&db, 3).await;
    store.close().await;
    let text = |o: &Output| {
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let ok = gpubroker(&db, &["audit", "verify"]);
    let (out, err) = text(&ok);
    assert_eq!(ok.status.code(), Some(0), "{err}");
    assert_eq!(
        out.trim(),
        format!("audit chain intact: 3 entries, head {}", entries[2].hash)
    );
    let cp_file = db.path().join("checkpoint.json");
    let cp = gpubroker(
        &db,
        &["audit", "checkpoint", "--export", cp_file.to_str().unwrap()],
    );
    assert_eq!(cp.status.code(), Some(0), "{}", text(&cp).1);
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cp_file).unwrap()).unwrap();
    assert_eq!(exported["seq"], 3);
    assert_eq!(exported["hash"], entries[2].hash.as_str());
    let list = gpubroker(&db, &["audit", "list", "--limit", "2"]);
    let (out, _) = text(&list);
    let seqs: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(seqs, ["2", "3"], "{out}");

    raw(&db, r#"UPDATE audit_log SET actor = 'u_2' WHERE seq = 2"#).await;
    let broken = gpubroker(
        &db,
        &["audit", "verify", "--checkpoint", cp_file.to_str().unwrap()],
    );
    let (_, err) = text(&broken);
    assert_eq!(broken.status.code(), Some(1), "{err}");
    assert!(err.contains("entry 2 was altered"), "{err}");
    let refused = gpubroker(&db, &["audit", "checkpoint"]);
    assert_eq!(refused.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_moved_between_backends_by_backup_still_verifies() {
    let Some(pg_db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let sqlite_db = TestDb::new(Backend::Sqlite).await.unwrap();
    let (sqlite, entries) = store_with(&sqlite_db, 4).await;
    let cp = sqlite.audit_checkpoint().await.unwrap();
    let mut backup = Vec::new();
    sqlite.backup_to(&mut backup).await.unwrap();
    let pg = pg_db.migrated_store().await;
    pg.restore_from(&backup[..], false).await.unwrap();
    assert_eq!(pg.audit_list(0, 10).await.unwrap(), entries);
    let report = pg.audit_verify(Some(&cp)).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.head, entries[3].head());
}
