//! `gpubroker ledger verify` on a live database (both backends): exit 0 on a healthy
//! ledger; exit 1 naming the breach after a cached balance (I3) or a posted entry's amount
//! (I5, caught against the audit chain) is changed with raw SQL.

use std::process::{Command, Output};

use chrono::{Duration, Utc};
use gpubroker::ledger::verify::LedgerProblem;
use serde_json::json;

use super::{key, raw, setup, usd, user};
use crate::both_backends;
use crate::common::{binary, Backend, TestDb};

both_backends!(ledger_i3_i5_verify_cli_passes_then_fails_after_tampering);

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

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

async fn ledger_i3_i5_verify_cli_passes_then_fails_after_tampering(backend: Backend) {
    let Some((db, store, ledger)) = setup(backend).await else {
        return;
    };
    let u = user(&store).await;
    let top_up = ledger
        .top_up(&key(&u, "t"), &u, usd(9_000), json!({}))
        .await
        .unwrap();
    let hold = ledger
        .place_hold(
            &key(&u, "h"),
            &u,
            usd(4_000),
            Utc::now() + Duration::hours(1),
            json!({}),
        )
        .await
        .unwrap();
    ledger
        .capture_hold(&key(&u, "c"), &hold.id, usd(2_500), json!({}))
        .await
        .unwrap();
    let ok = gpubroker(&db, &["ledger", "verify"]);
    let (out, err) = text(&ok);
    assert_eq!(ok.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("2 transactions, 4 entries, 1 holds"), "{out}");
    assert!(out.contains("I1–I5 hold"), "{out}");

    // I3: one cached balance edited.
    raw(
        &db,
        &format!("UPDATE ledger_accounts SET balance = balance + 1 WHERE id = 'wallet:{u}'"),
    )
    .await;
    let broken = gpubroker(&db, &["ledger", "verify"]);
    let (out, err) = text(&broken);
    assert_eq!(broken.status.code(), Some(1), "{out}{err}");
    assert!(
        out.contains(&format!("I3 account wallet:{u}: cached balance 6501")),
        "{out}"
    );
    assert!(
        err.contains("ledger verification failed: 1 problems"),
        "{err}"
    );
    raw(
        &db,
        &format!("UPDATE ledger_accounts SET balance = balance - 1 WHERE id = 'wallet:{u}'"),
    )
    .await;
    assert!(store.ledger_verify().await.unwrap().is_clean());

    // I5: one entry amount edited together with its transaction's other leg and both
    // cached balances, so I1–I3 still hold: only the audit chain gives it away.
    raw(
        &db,
        &format!(
            "UPDATE ledger_entries SET amount = 19000 WHERE transaction_id = '{id}';
             UPDATE ledger_accounts SET balance = balance + 10000 WHERE id = 'wallet:{u}';
             UPDATE ledger_accounts SET balance = balance - 10000 WHERE id = 'sys:payment_clearing';",
            id = top_up.id
        ),
    )
    .await;
    let report = store.ledger_verify().await.unwrap();
    assert_eq!(
        report.problems,
        vec![LedgerProblem::EntriesAltered {
            transaction: top_up.id.clone()
        }],
        "{report}"
    );
    let json_out = gpubroker(&db, &["ledger", "verify", "--json"]);
    assert_eq!(json_out.status.code(), Some(1));
    let parsed: serde_json::Value = serde_json::from_str(&text(&json_out).0).unwrap();
    assert_eq!(parsed["problems"][0]["problem"], "entries_altered");
    assert_eq!(parsed["problems"][0]["transaction"], top_up.id.as_str());

    // A deleted transaction (entries and row) is caught as missing.
    raw(
        &db,
        &format!(
            "UPDATE ledger_entries SET amount = 9000 WHERE transaction_id = '{id}';
             UPDATE ledger_accounts SET balance = balance - 10000 WHERE id = 'wallet:{u}';
             UPDATE ledger_accounts SET balance = balance + 10000 WHERE id = 'sys:payment_clearing';",
            id = top_up.id
        ),
    )
    .await;
    assert!(store.ledger_verify().await.unwrap().is_clean());
    let capture_tx: String = {
        let page = ledger.transactions(&u, None, 10).await.unwrap();
        page.items[0].id.clone()
    };
    raw(
        &db,
        &format!(
            "UPDATE ledger_holds SET capture_transaction_id = NULL WHERE id = '{hold}';
             DELETE FROM ledger_entries WHERE transaction_id = '{capture_tx}';
             DELETE FROM ledger_transactions WHERE id = '{capture_tx}';",
            hold = hold.id
        ),
    )
    .await;
    let report = store.ledger_verify().await.unwrap();
    assert!(
        report
            .problems
            .contains(&LedgerProblem::TransactionMissing {
                transaction: capture_tx
            }),
        "{report}"
    );
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, LedgerProblem::CachedBalance { .. })));
}
