//! WebSocket gateway (`GET /ws`): live catalog subscriptions and per-user notifications.
//!
//! The upgrade checks the Origin allowlist, the optional credential (header or `?token=`)
//! and the per-user connection cap; each connection then runs one task (see
//! [`connection`]) that reads client messages, filters bus events against its
//! subscriptions and writes through a bounded queue. The protocol is documented in
//! `docs/websocket.md`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Deserialize;
use tokio_util::task::TaskTracker;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::ApiError;
use crate::http::auth::{authenticate, authenticate_request, AuthUser};

mod connection;
mod protocol;
mod subscriptions;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(connect))
}

/// Query parameters of the upgrade request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectParams {
    /// An access token or `gpuk_` API key, for clients that cannot set headers (browsers).
    pub token: Option<String>,
}

/// Open the live stream: subscribe to catalog queries and receive matching offer and
/// provider events; signed-in clients also receive their own notifications. The protocol
/// (JSON text messages) is described in `docs/websocket.md`. Public: anonymous clients may
/// subscribe to prices; a credential (header, `?token=` or a first `auth` message) adds
/// the caller's notifications.
#[utoipa::path(get, path = "/ws", tag = "stream",
    params(ConnectParams),
    security((), ("bearer" = []), ("api_key" = [])),
    responses(
        (status = 101, description = "Switching protocols: the WebSocket is open"),
        (status = 400, description = "Not a WebSocket upgrade request", body = crate::error::ErrorBody),
        (status = 401, description = "A credential was given and is invalid", body = crate::error::ErrorBody),
        (status = 403, description = "The Origin is not allowed", body = crate::error::ErrorBody),
        (status = 429, description = "Too many open connections for this user", body = crate::error::ErrorBody)
    ))]
pub async fn connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ConnectParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if !origin_allowed(&headers, &state) {
        return Err(ApiError::Forbidden(
            "this Origin may not open a WebSocket here".into(),
        ));
    }
    let upgrade = upgrade.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let user = match params.token.as_deref() {
        Some(token) => authenticate_token(token, &state).await?,
        // The upgrade is a GET: a browser's session cookie is enough (no CSRF token can
        // ride on it), and the Origin check above keeps foreign pages out.
        None => authenticate_request(&axum::http::Method::GET, &headers, &state).await?,
    };
    let seat = match &user {
        Some(u) => Some(
            state
                .ws
                .claim(&u.id, state.settings.ws.max_connections_per_user)
                .ok_or(ApiError::RateLimited {
                    retry_after_secs: 5,
                })?,
        ),
        None => None,
    };
    let limits = &state.settings.ws;
    let tracker = state.ws.tasks.clone();
    Ok(upgrade
        .max_message_size(limits.max_message_bytes.saturating_mul(4))
        .max_frame_size(limits.max_message_bytes.saturating_mul(4))
        .read_buffer_size(1024)
        .write_buffer_size(8192)
        .on_upgrade(move |socket| tracker.track_future(connection::run(socket, state, user, seat))))
}

/// Authenticates a bare token (query parameter or `auth` message) like a bearer header.
pub(crate) async fn authenticate_token(
    token: &str,
    state: &AppState,
) -> Result<Option<AuthUser>, ApiError> {
    let value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
        .map_err(|_| ApiError::Unauthorized("invalid token".into()))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    authenticate(&headers, state).await
}

/// Browsers always send `Origin` on a WebSocket upgrade; other clients usually do not and
/// are allowed. A browser origin must be the public URL's, one of `cors_origins`, or the
/// server's own (the `Host` the request was sent to), which a foreign page cannot forge.
fn origin_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if state.settings.cors_origins.iter().any(|o| o == origin) {
        return true;
    }
    if let Some(public) = &state.settings.public_url {
        if public.origin().ascii_serialization() == origin {
            return true;
        }
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (host, url::Url::parse(origin)) {
        (Some(host), Ok(url)) => {
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            url.host_str()
                .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(host))
        }
        _ => false,
    }
}

/// Open connections: the tasks (awaited on shutdown) and the count per signed-in user.
#[derive(Debug, Default)]
pub struct Registry {
    /// Every connection task; `serve` waits for them after shutdown.
    pub tasks: TaskTracker,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

impl Registry {
    /// A seat for `user` when fewer than `max` of their connections are open.
    pub fn claim(&self, user: &str, max: usize) -> Option<Seat> {
        let mut counts = self.per_user.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(user.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Seat {
            user: user.to_owned(),
            per_user: Arc::clone(&self.per_user),
        })
    }
}

/// One signed-in connection's place in the per-user count; freed on drop.
#[derive(Debug)]
pub struct Seat {
    user: String,
    per_user: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut counts = self.per_user.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.user);
            }
        }
    }
}
