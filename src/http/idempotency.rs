//! `Idempotency-Key` on money-moving POSTs. A request that carries the header runs at most
//! once per (caller, key):
//!
//! - a replay with the same method, path and body gets the first response again, byte for
//!   byte, with `Idempotent-Replayed: true`;
//! - the same key with a different request answers 422 and changes nothing;
//! - while the first request is still running, a duplicate answers 409;
//! - a key over 255 characters (or with control characters) answers 400;
//! - keys are scoped per user: two users may use the same key.
//!
//! Responses below 500 are stored; after a server error the key is released so the
//! client can retry. A claim left by a crashed process is taken over after
//! [`STALE_CLAIM_SECS`].

use std::future::Future;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::auth::sha256_hex;
use crate::error::ApiError;
use crate::store::idempotency::IdempotencyClaim;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header marking a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key, characters.
pub const MAX_KEY_LEN: usize = 255;
/// After this long an unfinished claim is considered abandoned.
pub const STALE_CLAIM_SECS: i64 = 120;
/// Largest stored response body.
const MAX_STORED_BODY: usize = 256 * 1024;

/// The key of a request, if it has one; 400 for an unusable one.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be printable ASCII".into()))?;
    if key.is_empty() || key.chars().count() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

/// Runs `handler` at most once for the caller's `Idempotency-Key` (when the request has
/// one). `fingerprint` identifies the request (method, route and canonical body).
pub async fn run<F, Fut>(
    state: &AppState,
    user_id: &str,
    headers: &HeaderMap,
    fingerprint: &str,
    handler: F,
) -> Result<Response, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Response, ApiError>>,
{
    let Some(key) = key_of(headers)? else {
        return handler().await;
    };
    let fingerprint = sha256_hex(fingerprint.as_bytes());
    match state
        .store
        .idempotency_claim(user_id, &key, &fingerprint, STALE_CLAIM_SECS)
        .await?
    {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::InProgress => {
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry later".into(),
            ))
        }
        IdempotencyClaim::Mismatch => {
            return Err(ApiError::Validation(
                "this Idempotency-Key was used for a different request".into(),
            ))
        }
        IdempotencyClaim::Done { status, body } => return Ok(replay(status, body)),
    }
    let response = match handler().await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    let status = response.status();
    if status.is_server_error() {
        if let Err(err) = state.store.idempotency_release(user_id, &key).await {
            tracing::warn!(error = %err, "cannot release an idempotency key");
        }
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_STORED_BODY)
        .await
        .map_err(ApiError::internal)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    state
        .store
        .idempotency_complete(user_id, &key, status.as_u16(), &text)
        .await?;
    Ok(Response::from_parts(parts, Body::from(bytes)))
}

fn replay(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}
