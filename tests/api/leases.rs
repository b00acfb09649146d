//! Leader leases on both backends: one holder at a time, renewal keeps the fencing token,
//! an expired lease passes to another holder with a higher token, release frees it at
//! once, and `run_while_leader` hands the work over when its holder stops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gpubroker::settings::LeaseSettings;
use gpubroker::workers::lease::Leases;
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::common::{Backend, TestDb};

both_backends!(lease_story, run_while_leader_hands_work_over);

async fn lease_story(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.migrated_store().await;
    let t0 = gpubroker::store::now();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    let take = |holder: &'static str, now: i64| {
        let store = store.clone();
        async move {
            store
                .lease_acquire("ingest:x", holder, at(now), at(now + 15))
                .await
                .unwrap()
        }
    };
    assert_eq!(take("a", 0).await, Some(1), "a free lease is taken");
    assert_eq!(take("b", 1).await, None, "one holder at a time");
    assert_eq!(take("a", 5).await, Some(1), "renewal keeps the token");
    assert_eq!(take("b", 19).await, None, "renewed until 20");
    assert_eq!(
        take("b", 20).await,
        Some(2),
        "expired: another holder, a higher token"
    );
    assert_eq!(take("a", 21).await, None, "the old holder is deposed");
    let rows = store.leases().await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].holder.as_str(), rows[0].token), ("b", 2));
    assert!(
        !store
            .lease_release("ingest:x", "a", 1, at(22))
            .await
            .unwrap(),
        "not a's to release"
    );
    assert!(store
        .lease_release("ingest:x", "b", 2, at(22))
        .await
        .unwrap());
    assert_eq!(take("a", 22).await, Some(3), "released: free at once");
    assert_eq!(
        store
            .lease_acquire("other", "b", at(22), at(37))
            .await
            .unwrap(),
        Some(1),
        "leases are independent"
    );
}

async fn run_while_leader_hands_work_over(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.migrated_store().await;
    let settings = LeaseSettings {
        ttl: Duration::from_millis(900),
        renew_every: Duration::from_millis(300),
    };
    let running = Arc::new(AtomicUsize::new(0));
    let starts = Arc::new(AtomicUsize::new(0));
    let replica = |id: &str| {
        let leases = Leases::new(store.clone(), id.to_owned(), settings);
        let shutdown = CancellationToken::new();
        let (running, starts) = (running.clone(), starts.clone());
        let task = tokio::spawn({
            let (leases, shutdown) = (leases.clone(), shutdown.clone());
            async move {
                leases
                    .run_while_leader("singleton", shutdown, |lead| {
                        let (running, starts) = (running.clone(), starts.clone());
                        async move {
                            starts.fetch_add(1, Ordering::SeqCst);
                            // Counted, not asserted: a panic here would vanish with its task.
                            if running.fetch_add(1, Ordering::SeqCst) > 0 {
                                starts.fetch_add(100, Ordering::SeqCst);
                            }
                            lead.token.cancelled().await;
                            running.fetch_sub(1, Ordering::SeqCst);
                        }
                    })
                    .await;
            }
        });
        (leases, shutdown, task)
    };
    let (a, stop_a, task_a) = replica("a");
    let (b, stop_b, task_b) = replica("b");
    let one_leader = wait_for(|| a.held().len() + b.held().len() == 1).await;
    assert!(one_leader, "exactly one replica leads");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        starts.load(Ordering::SeqCst),
        1,
        "the leader keeps its lease by renewing"
    );
    let (leader, follower, stop_leader, task_leader) = if a.held().is_empty() {
        (b, a, stop_b, task_b)
    } else {
        (a, b, stop_a, task_a)
    };
    let first_token = leader.held()["singleton"];
    // A clean stop releases the lease: the follower leads within one retry interval.
    stop_leader.cancel();
    task_leader.await.unwrap();
    assert!(leader.held().is_empty());
    assert!(
        wait_for(|| follower.held().contains_key("singleton")).await,
        "no failover"
    );
    assert!(
        follower.held()["singleton"] > first_token,
        "the fencing token rises"
    );
    assert_eq!(
        starts.load(Ordering::SeqCst),
        2,
        "two terms, never two leaders at once"
    );
}

/// Polls `check` every 50 ms for up to 5 s.
async fn wait_for(check: impl Fn() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
