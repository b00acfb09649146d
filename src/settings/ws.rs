//! Limits of the WebSocket gateway (`/ws`). Defaults suit production; tests shrink them.

use std::time::Duration;

/// Caps and timers of the WebSocket gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsLimits {
    /// Largest accepted client message, bytes; a bigger one closes the connection (1009).
    pub max_message_bytes: usize,
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
    /// Open connections per signed-in user.
    pub max_connections_per_user: usize,
    /// Messages waiting to be written to one client; beyond it the client gets
    /// `resync_required` and fresh snapshots instead of the missed events.
    pub queue_size: usize,
    /// Bytes of text waiting for one client beyond which further messages are dropped the
    /// same way (a single message always fits into an empty queue).
    pub max_queue_bytes: usize,
    /// How often the server pings the client.
    pub heartbeat: Duration,
    /// A connection silent for this long (no message, no pong) is closed.
    pub idle_timeout: Duration,
    /// Offers in one snapshot when the query sets no `limit=`.
    pub snapshot_limit: usize,
}

impl Default for WsLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 16 * 1024,
            max_subscriptions: 20,
            max_connections_per_user: 20,
            queue_size: 256,
            max_queue_bytes: 1024 * 1024,
            heartbeat: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(75),
            snapshot_limit: 50,
        }
    }
}
