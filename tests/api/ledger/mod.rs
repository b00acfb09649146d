//! The double-entry ledger on both backends: the money story, idempotency (I6), failure
//! injection at every step (I7), holds resolving once (I8), overflow (I12), concurrent
//! debits (I14) and one audit entry per change (I15). Overflow and concurrency are in
//! `limits.rs`, the random-sequence model test in `model.rs`, `gpubroker ledger verify` in
//! `verify.rs`.

mod limits;
mod model;
mod verify;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{Duration, Utc};
use gpubroker::domain::money::MicroUsd;
use gpubroker::ledger::{HoldStatus, IdempotencyKey, Ledger, LedgerError, Side, TransferKind};
use gpubroker::settings::DatabaseTarget;
use gpubroker::store::users::UserRow;
use gpubroker::store::Store;
use serde_json::json;

use crate::both_backends;
use crate::common::{Backend, TestDb};

both_backends!(
    ledger_story_top_up_hold_capture_void_refund_and_pages,
    ledger_i6_same_key_replays_and_a_different_body_is_rejected,
    ledger_i7_injected_failure_at_every_step_applies_nothing,
    ledger_i8_hold_resolves_at_most_once,
);

/// A migrated store and its ledger; `None` when PostgreSQL is unavailable outside CI.
pub async fn setup(backend: Backend) -> Option<(TestDb, Store, Ledger)> {
    let db = TestDb::new(backend).await?;
    let store = db.migrated_store().await;
    let ledger = Ledger::new(store.clone());
    Some((db, store, ledger))
}

/// Inserts a user (no password) and returns its id.
pub async fn user(store: &Store) -> String {
    let id = format!("u_{}", uuid::Uuid::now_v7().simple());
    let now = gpubroker::store::now();
    let row = UserRow {
        id: id.clone(),
        email: format!("{id}@example.com"),
        password_hash: "x".into(),
        role: "user".into(),
        disabled: false,
        session_epoch: 0,
        email_verified_at: None,
        created_at: now,
        updated_at: now,
    };
    assert!(store.user_insert(&row).await.unwrap());
    id
}

/// A key in scope `scope`.
pub fn key(scope: &str, key: &str) -> IdempotencyKey {
    IdempotencyKey::new(scope, key).unwrap()
}

/// Runs `sql` on the test database outside the store (as an attacker would).
pub async fn raw(db: &TestDb, sql: &str) {
    use sqlx::Connection;
    match &db.settings().database.target {
        DatabaseTarget::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            conn.close().await.ok();
        }
        DatabaseTarget::Postgres(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
            conn.close().await.ok();
        }
    }
}

/// Row counts of every table plus a user's balances: equal before and after an operation
/// that applied nothing.
pub async fn snapshot(store: &Store, ledger: &Ledger, user: &str) -> String {
    let counts = store.row_counts().await.unwrap();
    let b = ledger.balance(user).await.unwrap();
    format!("{counts:?} {:?} {:?} {:?}", b.posted, b.held, b.holds)
}

/// Asserts `gpubroker ledger verify`'s checks pass and returns the audit entry count.
pub async fn assert_clean(store: &Store) -> u64 {
    let report = store.ledger_verify().await.unwrap();
    assert!(report.is_clean(), "{report}");
    let chain = store.audit_verify(None).await.unwrap();
    assert!(chain.is_intact(), "{chain:?}");
    chain.entries
}

pub fn usd(micros: i64) -> MicroUsd {
    MicroUsd(micros)
}

async fn ledger_story_top_up_hold_capture_void_refund_and_pages(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let alice = user(&store).await;
    let fresh = ledger.balance(&alice).await.unwrap();
    assert_eq!(
        (fresh.posted, fresh.held, fresh.available),
        (usd(0), usd(0), usd(0))
    );
    let t = ledger
        .top_up(
            &key(&alice, "t1"),
            &alice,
            usd(10_000_000),
            json!({"payment": "p1"}),
        )
        .await
        .unwrap();
    assert_eq!(t.kind, TransferKind::TopUp);
    assert_eq!(t.entries.len(), 2);
    let expires = Utc::now() + Duration::hours(1);
    let hold = ledger
        .place_hold(
            &key(&alice, "h1"),
            &alice,
            usd(4_000_000),
            expires,
            json!({}),
        )
        .await
        .unwrap();
    let b = ledger.balance(&alice).await.unwrap();
    assert_eq!(
        (b.posted, b.held, b.available),
        (usd(10_000_000), usd(4_000_000), usd(6_000_000))
    );
    assert_eq!(b.holds, vec![hold.clone()]);
    assert!(matches!(
        ledger
            .refund(&key(&alice, "r0"), &alice, usd(6_000_001), json!({}))
            .await,
        Err(LedgerError::InsufficientFunds {
            available: MicroUsd(6_000_000),
            ..
        })
    ));
    let capture = ledger
        .capture_hold(
            &key(&alice, "c1"),
            &hold.id,
            usd(1_500_000),
            json!({"pod": "p"}),
        )
        .await
        .unwrap();
    assert_eq!(capture.hold.status, HoldStatus::Captured);
    assert_eq!(capture.hold.captured, usd(1_500_000));
    let b = ledger.balance(&alice).await.unwrap();
    assert_eq!(
        (b.posted, b.held, b.available),
        (usd(8_500_000), usd(0), usd(8_500_000))
    );
    let h2 = ledger
        .place_hold(
            &key(&alice, "h2"),
            &alice,
            usd(8_500_000),
            expires,
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(ledger.balance(&alice).await.unwrap().available, usd(0));
    let voided = ledger.void_hold(&key(&alice, "v2"), &h2.id).await.unwrap();
    assert_eq!(voided.status, HoldStatus::Voided);
    ledger
        .refund(&key(&alice, "r1"), &alice, usd(500_000), json!({}))
        .await
        .unwrap();
    let b = ledger.balance(&alice).await.unwrap();
    assert_eq!((b.posted, b.available), (usd(8_000_000), usd(8_000_000)));

    // Three transactions touch the wallet: top-up, capture, refund; paged two at a time.
    let page = ledger.transactions(&alice, None, 2).await.unwrap();
    let kinds: Vec<&str> = page.items.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["refund", "capture"]);
    assert_eq!(page.items[0].side, Side::Debit);
    let next = ledger
        .transactions(&alice, page.next_cursor.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(next.items.len(), 1);
    assert_eq!(next.items[0].id, t.id);
    assert_eq!(next.items[0].metadata, json!({"payment": "p1"}));
    assert_eq!(next.next_cursor, None);
    assert!(matches!(
        ledger.transactions(&alice, Some("nope"), 2).await,
        Err(LedgerError::Invalid(_))
    ));
    // Changes: top-up, hold, capture, hold, void, refund (the refused refund wrote nothing).
    assert_eq!(assert_clean(&store).await, 6);
}

async fn ledger_i6_same_key_replays_and_a_different_body_is_rejected(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let bob = user(&store).await;
    let k = key(&bob, "top-up-1");
    let first = ledger.top_up(&k, &bob, usd(700), json!({})).await.unwrap();
    let before = snapshot(&store, &ledger, &bob).await;
    for _ in 0..3 {
        let again = ledger.top_up(&k, &bob, usd(700), json!({})).await.unwrap();
        assert_eq!(again, first, "a replay returns the first result");
    }
    assert!(matches!(
        ledger.top_up(&k, &bob, usd(701), json!({})).await,
        Err(LedgerError::IdempotencyConflict(_))
    ));
    assert!(matches!(
        ledger.refund(&k, &bob, usd(700), json!({})).await,
        Err(LedgerError::IdempotencyConflict(_))
    ));
    assert_eq!(snapshot(&store, &ledger, &bob).await, before);
    // The same key in another scope is another operation.
    ledger
        .top_up(&key("system", "top-up-1"), &bob, usd(700), json!({}))
        .await
        .unwrap();
    assert_eq!(ledger.balance(&bob).await.unwrap().posted, usd(1_400));
    // Concurrent duplicates apply once.
    let k2 = key(&bob, "concurrent");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (ledger, k2, bob) = (ledger.clone(), k2.clone(), bob.clone());
            tokio::spawn(async move { ledger.charge(&k2, &bob, usd(100), json!({})).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one transaction for eight duplicate requests");
    assert_eq!(ledger.balance(&bob).await.unwrap().posted, usd(1_300));
    assert_eq!(assert_clean(&store).await, 3);
}

/// A failpoint that fails at the `k`-th step reached (0-based) and counts the steps.
fn fail_at(k: usize) -> (Arc<AtomicUsize>, gpubroker::ledger::service::Failpoint) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let hook = Arc::new(move |_step: &'static str| counter.fetch_add(1, Ordering::SeqCst) == k);
    (calls, hook)
}

async fn ledger_i7_injected_failure_at_every_step_applies_nothing(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let carol = user(&store).await;
    let expires = Utc::now() + Duration::hours(1);
    let mut hold_id = String::new();
    let mut audited = 0;
    for op in [
        "top_up", "charge", "hold", "capture", "hold2", "void", "refund",
    ] {
        let mut k = 0;
        loop {
            let before = snapshot(&store, &ledger, &carol).await;
            let (calls, hook) = fail_at(k);
            let failing = ledger.clone().with_failpoint(hook);
            let id = key(&carol, op);
            let result: Result<Option<String>, LedgerError> = match op {
                "top_up" => failing
                    .top_up(&id, &carol, usd(5_000), json!({}))
                    .await
                    .map(|_| None),
                "charge" => failing
                    .charge(&id, &carol, usd(1_000), json!({}))
                    .await
                    .map(|_| None),
                "hold" | "hold2" => failing
                    .place_hold(&id, &carol, usd(2_000), expires, json!({}))
                    .await
                    .map(|h| Some(h.id)),
                "capture" => failing
                    .capture_hold(&id, &hold_id, usd(1_500), json!({}))
                    .await
                    .map(|_| None),
                "void" => failing.void_hold(&id, &hold_id).await.map(|_| None),
                _ => failing
                    .refund(&id, &carol, usd(500), json!({}))
                    .await
                    .map(|_| None),
            };
            if calls.load(Ordering::SeqCst) <= k {
                // The failpoint was never reached: the operation ran to completion.
                if let Some(id) = result.unwrap() {
                    hold_id = id;
                }
                audited += 1;
                break;
            }
            assert!(
                matches!(result, Err(LedgerError::Injected(_))),
                "{op} at {k}: {result:?}"
            );
            assert_eq!(
                snapshot(&store, &ledger, &carol).await,
                before,
                "{op} failed at step {k}"
            );
            k += 1;
        }
        assert!(k >= 4, "{op} passed only {k} failpoints");
    }
    let b = ledger.balance(&carol).await.unwrap();
    assert_eq!(
        (b.posted, b.held),
        (usd(5_000 - 1_000 - 1_500 - 500), usd(0))
    );
    assert_eq!(assert_clean(&store).await, audited);
}

async fn ledger_i8_hold_resolves_at_most_once(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let dan = user(&store).await;
    ledger
        .top_up(&key(&dan, "t"), &dan, usd(1_000), json!({}))
        .await
        .unwrap();
    let soon = Utc::now() + Duration::hours(1);
    let hold = |n: &str, amount: i64| {
        let (ledger, dan) = (ledger.clone(), dan.clone());
        let n = n.to_owned();
        async move {
            ledger
                .place_hold(&key(&dan, &n), &dan, usd(amount), soon, json!({}))
                .await
                .unwrap()
        }
    };
    let a = hold("a", 300).await;
    assert!(matches!(
        ledger
            .capture_hold(&key(&dan, "ca0"), &a.id, usd(301), json!({}))
            .await,
        Err(LedgerError::CaptureExceedsHold { .. })
    ));
    ledger
        .capture_hold(&key(&dan, "ca"), &a.id, usd(300), json!({}))
        .await
        .unwrap();
    for result in [
        ledger
            .capture_hold(&key(&dan, "ca2"), &a.id, usd(1), json!({}))
            .await
            .err(),
        ledger.void_hold(&key(&dan, "va"), &a.id).await.err(),
    ] {
        assert!(matches!(
            result,
            Some(LedgerError::HoldResolved {
                status: HoldStatus::Captured,
                ..
            })
        ));
    }
    let b = hold("b", 200).await;
    ledger.void_hold(&key(&dan, "vb"), &b.id).await.unwrap();
    assert!(matches!(
        ledger
            .capture_hold(&key(&dan, "cb"), &b.id, usd(1), json!({}))
            .await,
        Err(LedgerError::HoldResolved {
            status: HoldStatus::Voided,
            ..
        })
    ));
    let c = hold("c", 700).await;
    assert_eq!(ledger.balance(&dan).await.unwrap().available, usd(0));
    // Not due yet: the sweep leaves it; two hours later it expires exactly once.
    assert!(ledger
        .expire_holds(Utc::now(), 100)
        .await
        .unwrap()
        .is_empty());
    let later = Utc::now() + Duration::hours(2);
    let expired = ledger.expire_holds(later, 100).await.unwrap();
    assert_eq!(expired.iter().map(|h| &h.id).collect::<Vec<_>>(), [&c.id]);
    assert_eq!(expired[0].status, HoldStatus::Expired);
    assert!(ledger.expire_holds(later, 100).await.unwrap().is_empty());
    assert!(matches!(
        ledger
            .capture_hold(&key(&dan, "cc"), &c.id, usd(1), json!({}))
            .await,
        Err(LedgerError::HoldResolved {
            status: HoldStatus::Expired,
            ..
        })
    ));
    assert!(matches!(
        ledger.void_hold(&key(&dan, "vx"), "hold_missing").await,
        Err(LedgerError::HoldNotFound(_))
    ));
    let bal = ledger.balance(&dan).await.unwrap();
    assert_eq!(
        (bal.posted, bal.held, bal.available),
        (usd(700), usd(0), usd(700))
    );
    // top-up, 3 holds, capture, void, expire.
    assert_eq!(assert_clean(&store).await, 7);
}
