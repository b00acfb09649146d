//! Request context: request id, span, metrics and the uniform error body.
//!
//! Every response passes here: it gets an `x-request-id` (the client's, when it is a sane
//! token, otherwise a fresh UUID v7), is counted and timed by matched route and status,
//! and any error response that is not already our JSON shape (router 404/405, extractor
//! rejections, panics) is rewritten into `{"error":{code,message,request_id}}`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::error::{code_for_status, error_response};
use crate::telemetry::with_request_id;

/// Header carrying the request id in both directions.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Largest plain-text rejection body copied into an error message.
const MAX_MESSAGE_BYTES: usize = 1024;

/// The request-context middleware; see the module docs.
pub async fn request_context(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane_request_id(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        method = %method,
        route = %route,
        request_id = %request_id,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = with_request_id(request_id.clone(), async {
        let response = next.run(req).await;
        normalize_error(response).await
    })
    .instrument(span.clone())
    .await;
    let mut response = response;
    let status = response.status();
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    span.record("status", status.as_u16());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if is_probe(&route) {
            tracing::debug!(status = status.as_u16(), latency_ms, "request finished");
        } else if status.is_server_error() {
            tracing::warn!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Probe endpoints are logged at debug level so they do not drown the log.
fn is_probe(route: &str) -> bool {
    matches!(route, "/health/" | "/health" | "/ready" | "/metrics")
}

/// A client-supplied request id is kept only if it is short and plain (no log injection).
fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Rewrites an error response that is not JSON into the uniform error body.
async fn normalize_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_MESSAGE_BYTES * 4)
        .await
        .unwrap_or_default();
    let message = if status.is_client_error() && !text.is_empty() && text.len() <= MAX_MESSAGE_BYTES
    {
        String::from_utf8_lossy(&text).trim().to_owned()
    } else {
        default_message(status)
    };
    let mut rewritten = error_response(status, code_for_status(status), message);
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/json") || ct.starts_with("application/problem+json")
        })
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "no such resource".into(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed for this resource".into(),
        StatusCode::PAYLOAD_TOO_LARGE => "request body is too large".into(),
        s if s.is_server_error() => "internal error; quote the request id when reporting it".into(),
        s => s
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}

/// Response used by the panic catcher: a bare 500 that [`normalize_error`] turns into JSON.
pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_with_odd_characters_are_replaced() {
        assert!(is_sane_request_id("abc-123_x.y:z"));
        assert!(!is_sane_request_id(""));
        assert!(!is_sane_request_id("a b"));
        assert!(!is_sane_request_id("line\nbreak"));
        assert!(!is_sane_request_id(&"x".repeat(129)));
    }
}
