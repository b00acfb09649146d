//! WebSocket test client helpers: connect with headers, read JSON messages, await closes.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gpubroker::catalog::live::ingest_report;
use gpubroker::providers::{skypilot, ParseReport};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::TestApp;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

/// How long a test waits for one message.
const WAIT: Duration = Duration::from_secs(10);

/// The Lambda catalog (374 GPU offers).
pub fn lambda() -> ParseReport {
    let text =
        std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv")).unwrap();
    skypilot::parse(&text, "lambda").unwrap()
}

/// Ingests `report` the way the ingest worker does (store, catalog, events, freshness).
pub async fn ingest(app: &TestApp, source: &str, report: ParseReport) {
    ingest_report(
        &app.state.store,
        Some(&app.state.catalog),
        source,
        report,
        5,
    )
    .await
    .unwrap();
    app.state
        .catalog
        .refresh_freshness(&app.state.store, &app.state.stale_windows())
        .await
        .unwrap();
}

/// Opens `/ws{suffix}` with extra `headers`; the HTTP status on a refused handshake.
pub async fn try_connect(app: &TestApp, suffix: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    try_connect_to(&app.base, suffix, headers).await
}

/// Opens `/ws{suffix}` on the server at `base` (`http://host:port`).
pub async fn try_connect_to(base: &str, suffix: &str, headers: &[(&str, &str)]) -> Result<Ws, u16> {
    let url = format!("{}/ws{suffix}", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("websocket connect failed: {e}"),
    }
}

/// Opens `/ws{suffix}` and reads the `welcome` message.
pub async fn connect(app: &TestApp, suffix: &str, headers: &[(&str, &str)]) -> (Ws, Value) {
    let mut ws = try_connect(app, suffix, headers).await.unwrap();
    let welcome = recv(&mut ws).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    (ws, welcome)
}

/// Sends one JSON message.
pub async fn send(ws: &mut Ws, message: &Value) {
    ws.send(Message::text(message.to_string())).await.unwrap();
}

/// The next JSON message (pings and pongs skipped); panics on a close or a timeout.
pub async fn recv(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the connection is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a JSON message, got {other:?}"),
        }
    }
}

/// The next message of `kind`, skipping others.
pub async fn recv_type(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let message = recv(ws).await;
        if message["type"] == kind {
            return message;
        }
    }
}

/// Sends a `ping` and returns every message received before the `pong`.
pub async fn until_pong(ws: &mut Ws) -> Vec<Value> {
    send(ws, &serde_json::json!({"type": "ping"})).await;
    let mut before = Vec::new();
    loop {
        let message = recv(ws).await;
        if message["type"] == "pong" {
            return before;
        }
        before.push(message);
    }
}

/// Reads until the server's close frame and returns its code (skipping other messages).
pub async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
            Some(Ok(Message::Close(None))) => panic!("closed without a code"),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("connection failed before a close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}
