//! Limits of the ledger on both backends: arithmetic overflow applies nothing (I12) and
//! concurrent debits on one wallet are serialisable (I14).

use chrono::{Duration, Utc};
use gpubroker::ledger::LedgerError;
use serde_json::json;

use super::{assert_clean, key, setup, snapshot, usd, user};
use crate::both_backends;
use crate::common::Backend;

both_backends!(
    ledger_i12_overflow_applies_nothing,
    ledger_i14_concurrent_debits_are_serialisable,
);

async fn ledger_i12_overflow_applies_nothing(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let (eve, fay) = (user(&store).await, user(&store).await);
    ledger
        .top_up(&key(&eve, "big"), &eve, usd(i64::MAX - 5), json!({}))
        .await
        .unwrap();
    let before = snapshot(&store, &ledger, &eve).await;
    // The wallet's balance would pass i64::MAX.
    assert!(matches!(
        ledger
            .top_up(&key(&eve, "more"), &eve, usd(10), json!({}))
            .await,
        Err(LedgerError::Overflow)
    ));
    // Payment clearing (at -(MAX - 5)) would pass i64::MIN.
    assert!(matches!(
        ledger
            .top_up(&key(&fay, "big"), &fay, usd(i64::MAX), json!({}))
            .await,
        Err(LedgerError::Overflow)
    ));
    assert_eq!(snapshot(&store, &ledger, &eve).await, before);
    assert_eq!(ledger.balance(&fay).await.unwrap().posted, usd(0));
    let hold = ledger
        .place_hold(
            &key(&eve, "h"),
            &eve,
            usd(i64::MAX - 5),
            Utc::now() + Duration::hours(1),
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(hold.amount, usd(i64::MAX - 5));
    assert!(matches!(
        ledger
            .place_hold(
                &key(&eve, "h2"),
                &eve,
                usd(1),
                Utc::now() + Duration::hours(1),
                json!({})
            )
            .await,
        Err(LedgerError::InsufficientFunds { .. })
    ));
    assert_eq!(assert_clean(&store).await, 2);
}

async fn ledger_i14_concurrent_debits_are_serialisable(backend: Backend) {
    let Some((_db, store, ledger)) = setup(backend).await else {
        return;
    };
    let gus = user(&store).await;
    ledger
        .top_up(&key(&gus, "t"), &gus, usd(10_000), json!({}))
        .await
        .unwrap();
    // 24 concurrent debits of 1,000 (charges, refunds and holds) against 10,000.
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let (ledger, gus) = (ledger.clone(), gus.clone());
            tokio::spawn(async move {
                let k = key(&gus, &format!("debit-{i}"));
                let amount = usd(1_000);
                match i % 3 {
                    0 => ledger.charge(&k, &gus, amount, json!({})).await.map(|_| ()),
                    1 => ledger.refund(&k, &gus, amount, json!({})).await.map(|_| ()),
                    _ => ledger
                        .place_hold(&k, &gus, amount, Utc::now() + Duration::hours(1), json!({}))
                        .await
                        .map(|_| ()),
                }
            })
        })
        .collect();
    let (mut ok, mut short) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(LedgerError::InsufficientFunds { .. }) => short += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(
        (ok, short),
        (10, 14),
        "exactly the affordable debits succeed"
    );
    let b = ledger.balance(&gus).await.unwrap();
    assert_eq!(b.available, usd(0));
    assert_eq!(b.posted.0 - b.held.0, 0);
    assert_eq!(assert_clean(&store).await, 11);
}
