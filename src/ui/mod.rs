//! The embedded web UI: one HTML page, its script, style and icon, compiled into the
//! binary (no build step, no CDN) and served at `/` and `/ui/{file}`.
//!
//! The page is a small single-page app of plain custom elements with hash routing
//! (`/#/offers/{id}`), so the server needs no fallback route. Every UI response carries a
//! Content-Security-Policy that allows only this origin's scripts, styles and connections
//! (plus the same-origin WebSocket) and no framing.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::AppState;
use crate::error::ApiError;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("assets/index.html"),
};

/// The files under `/ui/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/app.js"),
    },
    Asset {
        name: "lib.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/lib.js"),
    },
    Asset {
        name: "views.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/views.js"),
    },
    Asset {
        name: "account.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/account.js"),
    },
    Asset {
        name: "assistant.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/assistant.js"),
    },
    Asset {
        name: "pods.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/pods.js"),
    },
    Asset {
        name: "plans.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/plans.js"),
    },
    Asset {
        name: "admin.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/admin.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/style.css"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/icon.svg"),
    },
];

/// Route templates served by [`router`] (declared public in the policy table).
pub const ROUTES: &[&str] = &["/", "/ui/{file}"];

/// The UI routes; they are not part of the OpenAPI document.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{file}", get(asset))
}

async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    serve(&INDEX, &state, &headers)
}

async fn asset(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let found = ASSETS
        .iter()
        .find(|a| a.name == file)
        .ok_or_else(|| ApiError::NotFound(format!("no UI file {file:?}")))?;
    Ok(serve(found, &state, &headers))
}

/// The file with its content type, CSP and a content-hash `ETag` (304 when it matches
/// `If-None-Match`); `no-cache` so a new binary's assets are picked up at once.
fn serve(asset: &Asset, state: &AppState, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", &crate::auth::sha256_hex(asset.body)[..20]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, value);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(state, headers)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The UI's policy: scripts, styles, images and connections from this origin only, the
/// WebSocket of the same host, nothing inline, no plugins, no framing.
pub fn content_security_policy(state: &AppState, headers: &HeaderMap) -> String {
    let mut connect = String::from("'self'");
    let host = state
        .settings
        .public_url
        .as_ref()
        .and_then(|u| {
            let host = u.host_str()?;
            Some(
                u.port()
                    .map_or_else(|| host.to_owned(), |p| format!("{host}:{p}")),
            )
        })
        .or_else(|| {
            headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .filter(|h| is_sane_host(h));
    if let Some(host) = host {
        connect.push_str(&format!(" ws://{host} wss://{host}"));
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'"
    )
}

/// A `Host` value safe to copy into a header: name or address characters and a port.
fn is_sane_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_hosts_reach_the_policy() {
        assert!(is_sane_host("127.0.0.1:10355"));
        assert!(is_sane_host("[::1]:8080"));
        assert!(!is_sane_host("evil.example; script-src *"));
        assert!(!is_sane_host(""));
    }
}
