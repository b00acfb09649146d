//! Ledger transfers per second on SQLite and PostgreSQL (target in `shared/RELIABILITY.md`:
//! ≥ 1k/s on each). Each transfer is one full ledger operation: idempotency check, row
//! locks, two entries, two cached balances, one audit entry, the idempotency record, commit.
//!
//! - `sequential/top_up`: payment clearing → wallet, one at a time;
//! - `concurrent8/wallet_to_wallet`: 8 tasks, each moving 1 µUSD between its own two
//!   wallets (criterion's time per element is wall time / transfers).
//!
//! PostgreSQL runs when `GPUBROKER_TEST_PG_URL` names a cluster (scripts/pg-test-cluster.sh);
//! a fresh database is created on it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpubroker::domain::money::MicroUsd;
use gpubroker::ledger::{wallet_id, IdempotencyKey, Ledger, Leg, Side, TransferKind};
use gpubroker::settings::Settings;
use gpubroker::store::users::UserRow;
use gpubroker::store::Store;
use serde_json::json;
use tokio::runtime::Runtime;

const TASKS: u64 = 8;

async fn store(dir: &std::path::Path, url: Option<String>) -> Store {
    let mut settings = Settings::for_data_dir(dir, url).unwrap();
    settings.database.pool_max = 16;
    let store = Store::connect(&settings.database).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn pg_database(admin_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

async fn funded_users(store: &Store, ledger: &Ledger, n: u64) -> Vec<String> {
    let mut users = Vec::new();
    for i in 0..n {
        let id = format!("bench_{i}_{}", uuid::Uuid::now_v7().simple());
        let now = gpubroker::store::now();
        store
            .user_insert(&UserRow {
                id: id.clone(),
                email: format!("{id}@example.com"),
                password_hash: "x".into(),
                role: "user".into(),
                disabled: false,
                session_epoch: 0,
                email_verified_at: None,
                created_at: now,
                updated_at: now,
            })
            .await
            .unwrap();
        let key = IdempotencyKey::new("bench", &format!("fund-{id}")).unwrap();
        ledger
            .top_up(&key, &id, MicroUsd(1_000_000_000_000), json!({}))
            .await
            .unwrap();
        users.push(id);
    }
    users
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, name: &str, store: &Store) {
    let ledger = Ledger::new(store.clone());
    let users = rt.block_on(funded_users(store, &ledger, TASKS * 2));
    let counter = Arc::new(AtomicU64::new(0));
    let mut group = c.benchmark_group(format!("ledger_{name}"));
    group.throughput(Throughput::Elements(1));
    group.bench_function("sequential/top_up", |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            let key = IdempotencyKey::new("bench", &format!("t{n}")).unwrap();
            rt.block_on(ledger.top_up(&key, &users[0], MicroUsd(1), json!({})))
                .unwrap()
        });
    });
    group.bench_function("concurrent8/wallet_to_wallet", |b| {
        b.iter_custom(|iters| {
            let per_task = iters.div_ceil(TASKS);
            let start = Instant::now();
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS as usize)
                    .map(|t| {
                        let (ledger, counter) = (ledger.clone(), counter.clone());
                        let from = wallet_id(&users[2 * t]);
                        let to = wallet_id(&users[2 * t + 1]);
                        tokio::spawn(async move {
                            for _ in 0..per_task {
                                let n = counter.fetch_add(1, Ordering::Relaxed);
                                let key = IdempotencyKey::new("bench", &format!("w{n}")).unwrap();
                                let legs = vec![
                                    Leg {
                                        account_id: from.clone(),
                                        side: Side::Debit,
                                        amount: MicroUsd(1),
                                    },
                                    Leg {
                                        account_id: to.clone(),
                                        side: Side::Credit,
                                        amount: MicroUsd(1),
                                    },
                                ];
                                ledger
                                    .post(&key, TransferKind::Transfer, legs, json!({}))
                                    .await
                                    .unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            });
            // Time per transfer actually made, scaled to the iterations asked for.
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_task * TASKS) as f64)
        });
    });
    group.finish();
    let report = rt.block_on(store.ledger_verify()).unwrap();
    assert!(report.is_clean(), "{report}");
    eprintln!("{name}: {report}");
}

fn ledger(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt.block_on(store(dir.path(), None));
    bench_backend(c, &rt, "sqlite", &sqlite);
    match std::env::var("GPUBROKER_TEST_PG_URL") {
        Ok(admin) if !admin.is_empty() => {
            let pg_dir = tempfile::tempdir().unwrap();
            let url = rt.block_on(pg_database(&admin));
            let pg = rt.block_on(store(pg_dir.path(), Some(url)));
            bench_backend(c, &rt, "postgres", &pg);
        }
        _ => eprintln!("skipping PostgreSQL: GPUBROKER_TEST_PG_URL is not set"),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    targets = ledger
}
criterion_main!(benches);
