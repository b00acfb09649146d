//! One WebSocket connection: a reader that handles client messages and filters bus events
//! into a bounded queue, and a writer that drains the queue to the socket, both driven by
//! the connection's single task.
//!
//! The reader never waits for the client: when the queue is full (by count, or by bytes:
//! a message is refused when others wait and it would pass `max_queue_bytes`) the message
//! is dropped and the connection is marked overflowed; once the queue has drained the
//! client gets `resync_required` and a fresh snapshot of every subscription. A slow client
//! thus costs at most one queue of memory plus one set of snapshots.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::time::{interval, interval_at, Instant, MissedTickBehavior};

use super::protocol::{self, ClientMessage, ErrorCode};
use super::subscriptions::{snapshot, Subscriptions};
use super::{authenticate_token, Seat};
use crate::app::AppState;
use crate::events::{Event, EventBatch};
use crate::http::auth::AuthUser;

/// Normal closure (idle timeout).
pub const CLOSE_NORMAL: u16 = 1000;
/// The server is going away (shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Policy violation (bad credential, too many connections).
pub const CLOSE_POLICY: u16 = 1008;
/// A client message over the size cap.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// How often an overflowed connection checks whether its queue has room again.
const RESYNC_RETRY: Duration = Duration::from_millis(200);
/// How long queued messages may take to flush when the connection ends.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// Queued messages written before one flush.
const WRITE_BATCH: usize = 64;

/// Serves one upgraded connection until either side ends it.
pub(super) async fn run(
    socket: WebSocket,
    state: AppState,
    user: Option<AuthUser>,
    seat: Option<Seat>,
) {
    let _open = OpenConnection::new();
    let limits = &state.settings.ws;
    // A resync needs room for `resync_required` plus one snapshot per subscription.
    let queue = limits.queue_size.max(limits.max_subscriptions + 2);
    let (mut sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Message>(queue);
    let queued = Arc::new(AtomicUsize::new(0));
    let frame = {
        let writer = write_loop(&mut sink, rx, &queued);
        tokio::pin!(writer);
        let out = Outbox {
            tx,
            queued: Arc::clone(&queued),
        };
        let session = Session::new(state.clone(), user, seat, out);
        let reader = session.run(stream);
        tokio::pin!(reader);
        let frame = tokio::select! {
            frame = &mut reader => frame,
            () = &mut writer => return,
        };
        // The reader has ended and dropped its sender: flush what it queued, briefly.
        let _ = tokio::time::timeout(FLUSH_TIMEOUT, &mut writer).await;
        frame
    };
    let closing = async {
        match frame {
            Some(frame) => sink.send(Message::Close(Some(frame))).await,
            None => sink.close().await,
        }
    };
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, closing).await;
}

/// Writes queued messages, flushing after each burst; ends when the queue closes or the
/// socket fails.
async fn write_loop(
    sink: &mut SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    queued: &AtomicUsize,
) {
    while let Some(message) = rx.recv().await {
        queued.fetch_sub(text_len(&message), Ordering::Relaxed);
        if sink.feed(message).await.is_err() {
            return;
        }
        for _ in 0..WRITE_BATCH {
            let Ok(message) = rx.try_recv() else { break };
            queued.fetch_sub(text_len(&message), Ordering::Relaxed);
            if sink.feed(message).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}

fn text_len(message: &Message) -> usize {
    match message {
        Message::Text(t) => t.len(),
        _ => 0,
    }
}

/// The sending end of a connection's queue, with the bytes of text waiting in it.
struct Outbox {
    tx: mpsc::Sender<Message>,
    queued: Arc<AtomicUsize>,
}

/// The `ws_connections` gauge, held for the life of a connection.
struct OpenConnection;

impl OpenConnection {
    fn new() -> Self {
        metrics::gauge!("ws_connections").increment(1.0);
        Self
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::gauge!("ws_connections").decrement(1.0);
    }
}

fn close(code: u16, reason: &'static str) -> Option<CloseFrame> {
    Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    })
}

/// The reader side of one connection.
struct Session {
    state: AppState,
    user: Option<AuthUser>,
    /// This connection's place in its user's connection count.
    seat: Option<Seat>,
    out: Outbox,
    subs: Subscriptions,
    /// No client message was handled yet (`auth` is only accepted then).
    first: bool,
    /// Messages were dropped; a resync is owed.
    overflowed: bool,
    dropped: u64,
    /// Sending a resync's snapshots, which may pass the byte cap (the queue was empty).
    resyncing: bool,
    last_heard: Instant,
}

impl Session {
    fn new(state: AppState, user: Option<AuthUser>, seat: Option<Seat>, out: Outbox) -> Self {
        Self {
            state,
            user,
            seat,
            out,
            subs: Subscriptions::default(),
            first: true,
            overflowed: false,
            dropped: 0,
            resyncing: false,
            last_heard: Instant::now(),
        }
    }

    /// Runs until the client leaves (`None`) or the server closes (the close frame).
    async fn run(mut self, mut stream: SplitStream<WebSocket>) -> Option<CloseFrame> {
        let limits = self.state.settings.ws.clone();
        let mut events = self.state.events.subscribe();
        let shutdown = self.state.shutdown.clone();
        let mut heartbeat = interval_at(Instant::now() + limits.heartbeat, limits.heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut retry = interval(RESYNC_RETRY);
        retry.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let user_id = self.user.as_ref().map(|u| u.id.clone());
        self.send(protocol::welcome(
            user_id.as_deref(),
            limits.max_subscriptions,
            limits.max_message_bytes,
        ));
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return close(CLOSE_GOING_AWAY, "server shutting down"),
                message = stream.next() => {
                    let Some(Ok(message)) = message else { return None };
                    self.last_heard = Instant::now();
                    let size = match &message {
                        Message::Text(t) => t.len(),
                        Message::Binary(b) => b.len(),
                        _ => 0,
                    };
                    if size > limits.max_message_bytes {
                        return close(CLOSE_TOO_BIG, "message too big");
                    }
                    match message {
                        Message::Text(text) => {
                            if let Some(frame) = self.handle(text.as_str()).await {
                                return Some(frame);
                            }
                        }
                        Message::Binary(_) => self.send(protocol::error(
                            None,
                            ErrorCode::BadMessage,
                            "binary messages are not supported; send JSON text",
                        )),
                        Message::Close(_) => return None,
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
                batch = events.recv() => match batch {
                    Ok(batch) => self.dispatch(&batch),
                    Err(RecvError::Lagged(missed)) => {
                        self.overflowed = true;
                        self.dropped += missed;
                    }
                    Err(RecvError::Closed) => return close(CLOSE_GOING_AWAY, "event stream closed"),
                },
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() >= limits.idle_timeout {
                        return close(CLOSE_NORMAL, "idle timeout");
                    }
                    // A full queue already means a resync is owed; the ping can wait.
                    let _ = self.out.tx.try_send(Message::Ping(Default::default()));
                }
                _ = retry.tick(), if self.overflowed => self.try_resync(),
            }
        }
    }

    /// Handles one client text message; `Some` closes the connection with that frame.
    async fn handle(&mut self, text: &str) -> Option<CloseFrame> {
        let first = std::mem::replace(&mut self.first, false);
        let message = match serde_json::from_str::<ClientMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                self.send(protocol::error(None, ErrorCode::BadMessage, &e.to_string()));
                return None;
            }
        };
        let limits = &self.state.settings.ws;
        match message {
            ClientMessage::Auth { token } => return self.sign_in(first, &token).await,
            ClientMessage::Subscribe { id, query } => {
                let text = match self.subs.subscribe(&id, &query, limits.max_subscriptions) {
                    Ok(sub) => snapshot(&self.state, sub, limits.snapshot_limit),
                    Err((code, message)) => protocol::error(Some(&id), code, &message),
                };
                self.send(text);
            }
            ClientMessage::Unsubscribe { id } => {
                let text = if self.subs.unsubscribe(&id) {
                    protocol::unsubscribed(&id)
                } else {
                    protocol::error(
                        Some(&id),
                        ErrorCode::UnknownSubscription,
                        "no such subscription",
                    )
                };
                self.send(text);
            }
            ClientMessage::Ping => self.reply(protocol::pong()),
        }
        None
    }

    /// An `auth` message: only first, only once; a bad credential closes the connection.
    async fn sign_in(&mut self, first: bool, token: &str) -> Option<CloseFrame> {
        if !first || self.user.is_some() {
            self.send(protocol::error(
                None,
                ErrorCode::AuthNotFirst,
                "auth must be the first message of an anonymous connection",
            ));
            return None;
        }
        let Ok(Some(user)) = authenticate_token(token, &self.state).await else {
            self.send(protocol::error(
                None,
                ErrorCode::Unauthorized,
                "invalid or expired credential",
            ));
            return close(CLOSE_POLICY, "invalid credential");
        };
        let max = self.state.settings.ws.max_connections_per_user;
        let Some(seat) = self.state.ws.claim(&user.id, max) else {
            self.send(protocol::error(
                None,
                ErrorCode::TooManyConnections,
                &format!("at most {max} open connections per user"),
            ));
            return close(CLOSE_POLICY, "too many connections");
        };
        self.seat = Some(seat);
        self.send(protocol::authenticated(&user.id));
        self.user = Some(user);
        None
    }

    /// Queues the messages `batch` produces for this connection.
    fn dispatch(&mut self, batch: &EventBatch) {
        if batch.events.iter().any(|e| matches!(e, Event::Resync)) {
            // Events may have been missed upstream (another replica's): resync like a lag.
            self.overflowed = true;
        }
        if self.overflowed {
            // The snapshots of a resync already show this batch's offers; its messages
            // follow them (harmless repeats), so notifications are not lost.
            self.try_resync();
            if self.overflowed {
                self.dropped += 1;
                return;
            }
        }
        let user = self.user.as_ref().map(|u| u.id.as_str());
        let messages = self.subs.messages(&self.state, batch, user);
        for text in messages {
            self.send(text);
        }
    }

    /// Sends `resync_required` and fresh snapshots once the queue has room for them all.
    fn try_resync(&mut self) {
        let drained = self.out.queued.load(Ordering::Relaxed) == 0;
        if !drained || self.out.tx.capacity() < self.subs.len() + 1 {
            return;
        }
        self.overflowed = false;
        let dropped = std::mem::take(&mut self.dropped);
        self.send(protocol::resync_required(dropped));
        let limit = self.state.settings.ws.snapshot_limit;
        let snapshots: Vec<String> = self
            .subs
            .iter()
            .map(|sub| snapshot(&self.state, sub, limit))
            .collect();
        self.resyncing = true;
        for text in snapshots {
            self.send(text);
        }
        self.resyncing = false;
    }

    /// Queues `text`, or marks the connection overflowed when the queue is full.
    fn send(&mut self, text: String) {
        if self.overflowed {
            self.dropped += 1;
            return;
        }
        let len = text.len();
        let queued = self.out.queued.load(Ordering::Relaxed);
        let max = self.state.settings.ws.max_queue_bytes;
        if queued > 0 && queued + len > max && !self.resyncing {
            self.overflow();
            return;
        }
        self.out.queued.fetch_add(len, Ordering::Relaxed);
        match self.out.tx.try_send(Message::text(text)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.out.queued.fetch_sub(len, Ordering::Relaxed);
                self.overflow();
            }
            // The writer has stopped: the connection is ending anyway.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Queues a small answer to the client's own request (`pong`) outside the byte cap and
    /// the overflow state: the client is waiting for it, and a queue that still counts a
    /// snapshot the socket has already delivered must not swallow it. The channel's length
    /// still bounds it; when even that is full the client is not reading and the answer
    /// is dropped.
    fn reply(&mut self, text: String) {
        let len = text.len();
        self.out.queued.fetch_add(len, Ordering::Relaxed);
        if self.out.tx.try_send(Message::text(text)).is_err() {
            self.out.queued.fetch_sub(len, Ordering::Relaxed);
        }
    }

    /// Marks the connection overflowed: this and later messages are dropped until a resync.
    fn overflow(&mut self) {
        metrics::counter!("ws_queue_overflows_total").increment(1);
        self.overflowed = true;
        self.dropped += 1;
    }
}
