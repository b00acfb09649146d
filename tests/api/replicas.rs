//! Two real `gpubroker serve` replicas on one PostgreSQL database: a price change ingested
//! by the lease holder reaches a WebSocket client of the other replica (through
//! LISTEN/NOTIFY), the holder's own client gets it once, and when the holder is killed
//! the other replica takes the ingest lease within the TTL plus one renewal interval.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use gpubroker::catalog::live::ingest_report;
use gpubroker::settings::DatabaseTarget;

use crate::common::{create_pg_database, pg_admin_url, spawn_app, Backend, TestApp};
use crate::process::{client, start_server, Server};
use crate::ws_support::{self, recv, recv_type, send, try_connect_to, until_pong, Ws};

/// Lease timing of both replicas: a dead holder's lease is free after at most 3 s and the
/// other replica retries every second.
const LEASE_TTL: &str = "3s";
const LEASE_RENEW: &str = "1s";
/// The longest a failover may take: TTL + one renewal interval + the first fetch, with
/// generous slack for a loaded CI machine.
const FAILOVER_LIMIT: Duration = Duration::from_secs(10);
/// The lease of the file source `offers.csv`.
const INGEST_LEASE: &str = "ingest:file:offers";

fn write_offers(path: &Path, price: &str) {
    let csv = format!(
        "provider,instance_type,region,gpu,gpu_count,price_per_hour,availability\n\
         acme,h100x1,us-east,H100 SXM,1,{price},available\n"
    );
    // Write then rename, so a fetch never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, csv).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn health(server: &Server) -> Value {
    client()
        .get(format!("{}/health/", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `check` every 100 ms until it holds; false after `limit`.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

async fn subscribe(base: &str) -> (Ws, Value) {
    let mut ws = try_connect_to(base, "", &[]).await.unwrap();
    assert_eq!(recv(&mut ws).await["type"], "welcome");
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "s", "query": "provider=acme"}),
    )
    .await;
    let snapshot = recv_type(&mut ws, "snapshot").await;
    (ws, snapshot)
}

/// The next `offer.price_changed` event's new price.
async fn next_price(ws: &mut Ws) -> Value {
    loop {
        let event = recv_type(ws, "event").await;
        if event["kind"] == "offer.price_changed" {
            return event["offer"]["price_per_hour"].clone();
        }
    }
}

fn log_of(server: &Server) -> String {
    std::fs::read_to_string(&server.log).unwrap_or_default()
}

#[tokio::test]
async fn two_replicas_share_price_changes_and_fail_over_the_ingest_lease() {
    let Some(admin) = pg_admin_url() else { return };
    let url = create_pg_database(&admin).await;
    let shared = tempfile::tempdir().unwrap();
    let offers = shared.path().join("offers.csv");
    write_offers(&offers, "2.50");
    let sources = format!("file:{}", offers.display());
    let envs = [
        ("DATABASE_URL", url.as_str()),
        (
            "GPUBROKER_MASTER_KEY",
            "c2VjcmV0LWtleS1jYW5hcnktMzItYnl0ZXMtbG9uZyE=",
        ),
        ("GPUBROKER_SOURCES", sources.as_str()),
        ("GPUBROKER_LEASE_TTL", LEASE_TTL),
        ("GPUBROKER_LEASE_RENEW", LEASE_RENEW),
    ];
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // Replica A starts alone, takes the ingest lease and ingests the file.
    let mut a = start_server(dir_a.path(), &envs);
    a.wait_healthy().await;
    let a_holds = eventually(Duration::from_secs(15), || async {
        health(&a).await["leases"][INGEST_LEASE].is_i64()
    })
    .await;
    assert!(a_holds, "A never took the lease:\n{}", log_of(&a));
    let ingested = eventually(Duration::from_secs(15), || async {
        let page: Value = client()
            .get(format!("{}/api/v2/offers?q=provider%3Dacme", a.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["total"] == 1
    })
    .await;
    assert!(ingested, "A never ingested the file:\n{}", log_of(&a));
    let (mut ws_a, snapshot) = subscribe(&a.base).await;
    assert_eq!(snapshot["total"], 1, "{snapshot}");
    let token_a = health(&a).await["leases"][INGEST_LEASE].as_i64().unwrap();

    // Replica B joins: it loads the catalog but does not ingest.
    let mut b = start_server(dir_b.path(), &envs);
    b.wait_healthy().await;
    let b_ready = eventually(Duration::from_secs(15), || async {
        let ready = client().get(format!("{}/ready", b.base)).send().await;
        ready.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(b_ready, "B never became ready:\n{}", log_of(&b));
    let (mut ws_b, snapshot) = subscribe(&b.base).await;
    assert_eq!(
        snapshot["offers"][0]["price_per_hour"],
        json!(2.5),
        "{snapshot}"
    );
    let b_health = health(&b).await;
    assert!(b_health["leases"].get(INGEST_LEASE).is_none(), "{b_health}");
    assert_ne!(b_health["replica"], health(&a).await["replica"]);

    // A ingests a price change; B's client sees it, A's client sees it exactly once.
    write_offers(&offers, "1.75");
    signal(&a, "USR1");
    signal(&b, "USR1"); // no effect: B runs no ingest loop
    assert_eq!(next_price(&mut ws_b).await, json!(1.75));
    assert_eq!(next_price(&mut ws_a).await, json!(1.75));
    // A's own notice has come back by now (B got it through the same channel).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rest = until_pong(&mut ws_a).await;
    assert!(
        !rest.iter().any(|m| m["kind"] == "offer.price_changed"),
        "A delivered its own event twice: {rest:?}"
    );

    // The holder dies without releasing its lease; B takes over within the limit.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    write_offers(&offers, "3.10");
    let b_took_over = eventually(FAILOVER_LIMIT, || async {
        health(&b).await["leases"][INGEST_LEASE].is_i64()
    })
    .await;
    let failover = killed.elapsed();
    eprintln!("failover: B held {INGEST_LEASE} {failover:?} after A was killed");
    assert!(
        b_took_over,
        "B did not take the lease within {FAILOVER_LIMIT:?}:\n{}",
        log_of(&b)
    );
    assert!(failover <= FAILOVER_LIMIT, "failover took {failover:?}");
    let token_b = health(&b).await["leases"][INGEST_LEASE].as_i64().unwrap();
    assert!(
        token_b > token_a,
        "fencing token must rise: {token_a} then {token_b}"
    );
    // B's first fetch as leader publishes the change to its own clients.
    assert_eq!(next_price(&mut ws_b).await, json!(3.1));
    assert!(
        killed.elapsed() <= FAILOVER_LIMIT + Duration::from_secs(5),
        "the new leader ingested too late: {:?}",
        killed.elapsed()
    );

    let (ok, _, log) = b.terminate();
    assert!(ok, "{log}");
    assert!(log.contains("lease acquired"), "{log}");
}

/// Runs `sql` on the app's PostgreSQL database and returns the first column as text.
async fn pg_scalar(app: &TestApp, sql: &str) -> Option<String> {
    use sqlx::Connection;
    let DatabaseTarget::Postgres(url) = &app.state.settings.database.target else {
        panic!("a PostgreSQL app");
    };
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let value = sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_optional(&mut conn)
        .await
        .unwrap()
        .flatten();
    conn.close().await.ok();
    value
}

async fn notify(app: &TestApp, notice: &Value) {
    let sql = format!(
        "SELECT pg_notify('gpubroker_events', '{}')::text",
        notice.to_string().replace('\'', "''")
    );
    pg_scalar(app, &sql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_from_another_replica_reloads_the_source_and_own_notices_are_ignored() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let mut ws = subscribe(&app.base).await.0;
    let mut lambda = subscribe(&app.base).await.0;
    send(
        &mut lambda,
        &json!({"type": "subscribe", "id": "l", "query": "provider=lambda"}),
    )
    .await;
    assert_eq!(recv_type(&mut lambda, "snapshot").await["total"], 0);
    // Another replica's ingest: in the database, not in this replica's catalog.
    ingest_report(
        &app.state.store,
        None,
        "skypilot:lambda",
        ws_support::lambda(),
        0,
    )
    .await
    .unwrap();
    // Our own notice is skipped: its events were delivered locally already.
    let own =
        json!({"origin": app.state.replica_id, "kind": "offers", "source": "skypilot:lambda"});
    notify(&app, &own).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        until_pong(&mut lambda).await.is_empty(),
        "own notice applied"
    );
    let other = json!({"origin": "another-replica", "kind": "offers", "source": "skypilot:lambda"});
    notify(&app, &other).await;
    let event = recv_type(&mut lambda, "event").await;
    assert_eq!(event["kind"], "offer.added", "{event}");
    assert_eq!(event["offer"]["provider"], "lambda", "{event}");
    assert!(
        !app.state.catalog.snapshot().is_empty(),
        "the catalog was reloaded"
    );
    // The acme subscription matches none of them.
    assert!(!until_pong(&mut ws)
        .await
        .iter()
        .any(|m| m["type"] == "event"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_reconnects_and_clients_resync() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let (mut ws, _) = subscribe(&app.base).await;
    // Kill the listening connection (as a network failure or a database restart would).
    let kill = "SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity \
                WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    let killed = eventually(Duration::from_secs(10), || async {
        pg_scalar(&app, kill).await.as_deref() != Some("0")
    })
    .await;
    assert!(killed, "no listening connection found");
    let resync = recv_type(&mut ws, "resync_required").await;
    assert_eq!(resync["type"], "resync_required");
    let snapshot = recv_type(&mut ws, "snapshot").await;
    assert_eq!(snapshot["id"], "s", "{snapshot}");
    // Listening again: another replica's notices are applied.
    let relistening = eventually(Duration::from_secs(10), || async {
        pg_scalar(&app, "SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'")
            .await
            .as_deref()
            != Some("0")
    })
    .await;
    assert!(relistening, "the listener did not reconnect");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_notice_makes_the_replica_reload_its_signing_keys_at_once() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let kids = |body: Value| -> Vec<String> {
        body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let jwks = || async {
        let r = client()
            .get(format!("{}/.well-known/jwks.json", app.base))
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()
    };
    let before = kids(jwks().await); // cached for a minute from now
                                     // Another process (a replica or `gpubroker config`) rotates the key, then notifies.
    let other = gpubroker::auth::Auth::new(
        app.state.store.clone(),
        app.state.master_key.clone(),
        &app.state.settings,
    );
    let rotation = other.rotate_signing_key("replica-b").await.unwrap();
    assert!(!before.contains(&rotation.kid));
    let pool = app.state.store.pg_pool().unwrap();
    gpubroker::events::replica::notify_config_changed(pool, "replica-b").await;
    let picked_up = eventually(Duration::from_secs(5), || async {
        kids(jwks().await).contains(&rotation.kid)
    })
    .await;
    assert!(
        picked_up,
        "the new key was not published before the cache expired"
    );
    app.stop().await.unwrap();
}
