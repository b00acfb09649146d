//! The JSON messages of `/ws` (see `docs/websocket.md`): what clients send, and builders
//! for what the server sends. Server messages are built as strings because one event is
//! written to many connections: the offer's JSON is rendered once and spliced in.

use serde::Deserialize;
use serde_json::json;

/// Longest accepted subscription id.
pub const MAX_ID_CHARS: usize = 64;

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Sign in on a connection opened without a credential; only as the first message.
    Auth { token: String },
    /// Start (or replace) the subscription `id` with a catalog query.
    Subscribe { id: String, query: String },
    /// Stop the subscription `id`.
    Unsubscribe { id: String },
    /// Application-level ping; answered with `pong`.
    Ping,
}

/// Stable codes of `error` messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Not JSON, or not one of the known messages.
    BadMessage,
    /// The query did not parse; the message is the parser's.
    BadQuery,
    /// The subscription id is empty or too long.
    BadId,
    /// The connection already holds the maximum number of subscriptions.
    TooManySubscriptions,
    /// `unsubscribe` for an id that is not subscribed.
    UnknownSubscription,
    /// The credential of an `auth` message is invalid (the connection then closes).
    Unauthorized,
    /// `auth` after other messages, or on an already signed-in connection.
    AuthNotFirst,
    /// The user already has the maximum number of open connections.
    TooManyConnections,
}

impl ErrorCode {
    /// The code on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::BadQuery => "bad_query",
            ErrorCode::BadId => "bad_id",
            ErrorCode::TooManySubscriptions => "too_many_subscriptions",
            ErrorCode::UnknownSubscription => "unknown_subscription",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::AuthNotFirst => "auth_not_first",
            ErrorCode::TooManyConnections => "too_many_connections",
        }
    }
}

/// `{"type":"error",…}`, tied to a subscription id when there is one.
pub fn error(id: Option<&str>, code: ErrorCode, message: &str) -> String {
    json!({"type": "error", "id": id, "code": code.as_str(), "message": message}).to_string()
}

/// `{"type":"welcome",…}`: sent once the connection is open.
pub fn welcome(
    user_id: Option<&str>,
    max_subscriptions: usize,
    max_message_bytes: usize,
) -> String {
    json!({
        "type": "welcome",
        "user_id": user_id,
        "max_subscriptions": max_subscriptions,
        "max_message_bytes": max_message_bytes,
    })
    .to_string()
}

/// `{"type":"authenticated","user_id":…}`: the answer to a good `auth` message.
pub fn authenticated(user_id: &str) -> String {
    json!({"type": "authenticated", "user_id": user_id}).to_string()
}

/// `{"type":"unsubscribed","id":…}`.
pub fn unsubscribed(id: &str) -> String {
    json!({"type": "unsubscribed", "id": id}).to_string()
}

/// `{"type":"pong"}`.
pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_owned()
}

/// `{"type":"resync_required",…}`: events were dropped for this client; fresh snapshots of
/// every subscription follow.
pub fn resync_required(dropped: u64) -> String {
    json!({"type": "resync_required", "reason": "queue_overflow", "dropped_events": dropped})
        .to_string()
}

/// `{"type":"notification",…}` for the signed-in user.
pub fn notification(kind: &str, at: &str, payload: &serde_json::Value) -> String {
    json!({"type": "notification", "kind": kind, "at": at, "payload": payload}).to_string()
}

/// `{"type":"event","id":…,"kind":…,"at":…,<body>}` where `id_json` is the subscription
/// id already encoded as JSON, `at` when the event was published (RFC 3339) and `body`
/// the pre-rendered fields of the event.
pub fn event(id_json: &str, kind: &str, transition: Option<&str>, at: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + id_json.len() + 64);
    out.push_str(r#"{"type":"event","id":"#);
    out.push_str(id_json);
    out.push_str(r#","kind":""#);
    out.push_str(kind);
    out.push('"');
    if let Some(t) = transition {
        out.push_str(r#","transition":""#);
        out.push_str(t);
        out.push('"');
    }
    out.push_str(r#","at":""#);
    out.push_str(at);
    out.push_str(r#"","#);
    out.push_str(body);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_and_unknown_ones_fail() {
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","id":"a","query":"gpu=H100"}"#).unwrap();
        assert!(
            matches!(m, ClientMessage::Subscribe { ref id, ref query } if id == "a" && query == "gpu=H100")
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"launch"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"subscribe","id":"a"}"#).is_err());
    }

    #[test]
    fn spliced_events_are_valid_json() {
        let id = serde_json::to_string("s\"1").unwrap();
        let text = event(
            &id,
            "offer.price_changed",
            Some("entered"),
            "2026-01-01T00:00:00.000001Z",
            r#""offer":{"id":"x"}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], "s\"1");
        assert_eq!(v["transition"], "entered");
        assert_eq!(v["offer"]["id"], "x");
        assert_eq!(v["at"], "2026-01-01T00:00:00.000001Z");
        assert_eq!(v["at"], "2026-01-01T00:00:00.000001Z");
        let plain: serde_json::Value =
            serde_json::from_str(&event(&id, "offer.added", None, "t", r#""offer":{}"#)).unwrap();
        assert!(plain.get("transition").is_none());
    }
}
