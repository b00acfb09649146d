//! WebSocket gateway limits and lifecycle: Origin allowlist, message size, subscription
//! cap, slow consumers, idle clients and shutdown.

use serde_json::json;

use crate::common::{spawn_app, spawn_app_configured, Backend};
use crate::ws::ws_send_text;
use crate::ws_support::{close_code, connect, ingest, lambda, recv, send, try_connect, until_pong};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_origin_allowlist_refuses_foreign_browser_pages() {
    let app = spawn_app_configured(Backend::Sqlite, None, |s| {
        s.cors_origins = vec!["https://app.example.com".into()];
        s.public_url = Some("https://broker.example.com".parse().unwrap());
    })
    .await
    .unwrap();
    assert_eq!(
        try_connect(&app, "", &[("origin", "https://evil.example")])
            .await
            .err(),
        Some(403)
    );
    assert_eq!(
        try_connect(&app, "", &[("origin", "null")]).await.err(),
        Some(403)
    );
    let host = app.base.trim_start_matches("http://").to_owned();
    for origin in [
        "https://app.example.com".to_owned(),
        "https://broker.example.com".to_owned(),
        format!("http://{host}"),
    ] {
        assert!(
            try_connect(&app, "", &[("origin", &origin)]).await.is_ok(),
            "{origin} is allowed"
        );
    }
    assert!(
        try_connect(&app, "", &[]).await.is_ok(),
        "no Origin: not a browser"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_oversize_message_closes_with_1009() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (mut ws, welcome) = connect(&app, "", &[]).await;
    let cap = welcome["max_message_bytes"].as_u64().unwrap() as usize;
    assert_eq!(cap, 16 * 1024);
    let padding = "x".repeat(cap);
    ws_send_text(
        &mut ws,
        &json!({"type": "ping", "pad": padding}).to_string(),
    )
    .await;
    assert_eq!(close_code(&mut ws).await, 1009);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_too_many_subscriptions_is_an_error() {
    let app = spawn_app_configured(Backend::Sqlite, None, |s| s.ws.max_subscriptions = 2)
        .await
        .unwrap();
    let (mut ws, _) = connect(&app, "", &[]).await;
    for id in ["a", "b"] {
        send(
            &mut ws,
            &json!({"type": "subscribe", "id": id, "query": "gpu=H100"}),
        )
        .await;
        assert_eq!(recv(&mut ws).await["type"], "snapshot");
    }
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "c", "query": "gpu=A100"}),
    )
    .await;
    let error = recv(&mut ws).await;
    assert_eq!(
        (error["code"].clone(), error["id"].clone()),
        (json!("too_many_subscriptions"), json!("c"))
    );
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "b", "query": "gpu=A100"}),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await["type"],
        "snapshot",
        "replacing a query is not a new one"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_slow_consumer_gets_resync_required_and_a_fresh_snapshot() {
    slow_consumer(|s| {
        s.ws.max_subscriptions = 2;
        s.ws.queue_size = 4;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_queue_bytes_cap_also_triggers_resync() {
    // The count cap alone would hold every event.
    slow_consumer(|s| {
        s.ws.max_queue_bytes = 4096;
        s.ws.queue_size = 1000;
    })
    .await;
}

/// 374 new offers at once reach a client whose queue holds far fewer: events are dropped,
/// then `resync_required` and a snapshot with every offer arrive.
async fn slow_consumer(configure: impl FnOnce(&mut gpubroker::settings::Settings)) {
    let app = spawn_app_configured(Backend::Sqlite, None, configure)
        .await
        .unwrap();
    let (mut ws, _) = connect(&app, "", &[]).await;
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "all", "query": "limit=1000"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["total"], 0);
    // 374 new offers at once: far more than the client's queue holds.
    ingest(&app, "skypilot:lambda", lambda()).await;
    let mut events = 0;
    loop {
        let message = recv(&mut ws).await;
        match message["type"].as_str().unwrap() {
            "event" => events += 1,
            "resync_required" => {
                assert!(message["dropped_events"].as_u64().unwrap() > 0);
                break;
            }
            other => panic!("unexpected {other}: {message}"),
        }
    }
    assert!(events < 374, "events were dropped, not queued: {events}");
    let snapshot = recv(&mut ws).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["id"], "all");
    assert_eq!(snapshot["total"], 374, "the fresh snapshot has every offer");
    assert!(until_pong(&mut ws)
        .await
        .iter()
        .all(|m| m["type"] != "resync_required"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_server_shutdown_closes_with_1001() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let (mut ws, _) = connect(&app, "", &[]).await;
    send(
        &mut ws,
        &json!({"type": "subscribe", "id": "a", "query": ""}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "snapshot");
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("ws_connections"), "the gauge is exported");
    let stopping = tokio::spawn(app.stop());
    assert_eq!(close_code(&mut ws).await, 1001);
    stopping.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_idle_clients_are_pinged_and_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_configured(Backend::Sqlite, None, |s| {
        s.ws.heartbeat = std::time::Duration::from_millis(100);
        s.ws.idle_timeout = std::time::Duration::from_millis(350);
    })
    .await
    .unwrap();
    // A raw client that completes the handshake and then never answers a ping.
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tcp.read_to_end(&mut bytes),
    )
    .await
    .expect("the server closed the idle connection in time")
    .unwrap();
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(bytes.starts_with(b"HTTP/1.1 101"));
    // Server frames are unmasked: [FIN|opcode, length (<126 or 126 + u16), payload].
    let (mut at, mut pings, mut close) = (head_end, 0, None);
    while at + 2 <= bytes.len() {
        let opcode = bytes[at] & 0x0f;
        let (len, start) = match bytes[at + 1] & 0x7f {
            126 => (
                usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]])),
                at + 4,
            ),
            n => (usize::from(n), at + 2),
        };
        match opcode {
            0x9 => pings += 1,
            0x8 => close = Some(u16::from_be_bytes([bytes[start], bytes[start + 1]])),
            _ => {}
        }
        at = start + len;
    }
    assert!(pings >= 2, "heartbeats were sent: {pings}");
    assert_eq!(close, Some(1000), "closed for idleness");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_connections_per_user_are_capped() {
    let app = spawn_app_configured(Backend::Sqlite, None, |s| {
        s.ws.max_connections_per_user = 1;
    })
    .await
    .unwrap();
    let pair = crate::auth::register_and_login(&app, "cap@example.com").await;
    let token = pair["access_token"].as_str().unwrap();
    let bearer = format!("Bearer {token}");
    let (first, _) = connect(&app, "", &[("authorization", &bearer)]).await;
    assert_eq!(
        try_connect(&app, "", &[("authorization", &bearer)])
            .await
            .err(),
        Some(429),
        "a second connection of the same user is refused"
    );
    let (mut by_message, _) = connect(&app, "", &[]).await;
    send(&mut by_message, &json!({"type": "auth", "token": token})).await;
    assert_eq!(recv(&mut by_message).await["code"], "too_many_connections");
    assert_eq!(close_code(&mut by_message).await, 1008);
    let (_anonymous, _) = connect(&app, "", &[]).await;

    drop(first);
    let mut reopened = false;
    for _ in 0..50 {
        if try_connect(&app, "", &[("authorization", &bearer)])
            .await
            .is_ok()
        {
            reopened = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(reopened, "closing a connection frees its place");
    app.stop().await.unwrap();
}
