//! Browser sessions: sign-in sets HttpOnly, SameSite=Strict cookies instead of returning
//! tokens, and every state-changing request authenticated by cookie must carry the CSRF
//! token in `X-CSRF-Token`.
//!
//! Cookies: `gpb_access` (the access token, 15 minutes, HttpOnly), `gpb_refresh` (the
//! refresh token, 7 days, HttpOnly, sent only to `/api/v2/auth/session`) and `gpb_csrf`
//! (readable by the page's script). For requests authenticated by the access cookie the
//! CSRF token must equal the one derived from that very access token (so a token from
//! another session does not fit); refresh and sign-out compare the header with the
//! `gpb_csrf` cookie. All cookies are `Secure` when the public URL is https.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Credentials;
use super::JsonBody;
use crate::app::AppState;
use crate::auth::{sha256_hex, AuthError, TokenPair, User};
use crate::error::{ApiError, ErrorBody};

/// Cookie holding the access token.
pub const ACCESS_COOKIE: &str = "gpb_access";
/// Cookie holding the refresh token.
pub const REFRESH_COOKIE: &str = "gpb_refresh";
/// Cookie holding the CSRF token, readable by the page.
pub const CSRF_COOKIE: &str = "gpb_csrf";
/// Header that must repeat the CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
const SESSION_PATH: &str = "/api/v2/auth/session";

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, sign_out))
        .routes(routes!(refresh_session))
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The CSRF token that belongs to `access_token`.
pub fn csrf_for(access_token: &str) -> String {
    sha256_hex(format!("gpubroker-csrf:{access_token}").as_bytes())[..32].to_owned()
}

/// Whether `method` can change state (and so needs the CSRF token with cookies).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the `X-CSRF-Token` header against `expected` in constant time.
pub fn check_csrf(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let same = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "missing or wrong X-CSRF-Token header for a cookie session".into(),
        ))
    }
}

fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
) -> HeaderValue {
    let secure = state
        .settings
        .public_url
        .as_ref()
        .is_some_and(|u| u.scheme() == "https");
    let mut text = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        text.push_str("; HttpOnly");
    }
    if secure {
        text.push_str("; Secure");
    }
    // Token characters are base64url / hex / JWT dots: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("gpb_invalid=1"))
}

/// A response that carries `body` and the cookies of `pair` (or clears them).
fn with_cookies(state: &AppState, body: Response, pair: Option<&TokenPair>) -> Response {
    let mut response = body;
    let headers = response.headers_mut();
    let cookies = match pair {
        Some(pair) => {
            let refresh_age = crate::auth::REFRESH_TTL_DAYS * 86_400;
            [
                set_cookie(
                    state,
                    ACCESS_COOKIE,
                    &pair.access_token,
                    "/",
                    pair.expires_in,
                    true,
                ),
                set_cookie(
                    state,
                    REFRESH_COOKIE,
                    &pair.refresh_token,
                    SESSION_PATH,
                    refresh_age,
                    true,
                ),
                set_cookie(
                    state,
                    CSRF_COOKIE,
                    &csrf_for(&pair.access_token),
                    "/",
                    refresh_age,
                    false,
                ),
            ]
        }
        None => [
            set_cookie(state, ACCESS_COOKIE, "", "/", 0, true),
            set_cookie(state, REFRESH_COOKIE, "", SESSION_PATH, 0, true),
            set_cookie(state, CSRF_COOKIE, "", "/", 0, false),
        ],
    };
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Sign in a browser: the session lives in cookies, never in the page's script.
#[utoipa::path(post, path = "/api/v2/auth/session", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "Signed in; cookies set (gpb_access, gpb_refresh HttpOnly; gpb_csrf for the X-CSRF-Token header)", body = User),
        (status = 401, description = "Invalid email or password (one answer for both)", body = ErrorBody)
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<Credentials>,
) -> Result<Response, ApiError> {
    let pair = state.auth.login(&req.email, &req.password).await?;
    let claims = state.auth.verify_access(&pair.access_token).await?;
    let user = state.auth.user(&claims.sub).await?;
    Ok(with_cookies(
        &state,
        Json(user).into_response(),
        Some(&pair),
    ))
}

/// The refresh token of a cookie session, after the double-submit CSRF check.
fn session_refresh_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let csrf = cookie(headers, CSRF_COOKIE).unwrap_or("");
    if csrf.is_empty() {
        return Err(ApiError::Forbidden("no CSRF cookie: sign in again".into()));
    }
    check_csrf(headers, csrf)?;
    cookie(headers, REFRESH_COOKIE).ok_or_else(|| AuthError::InvalidRefreshToken.into())
}

/// Renew a cookie session (the refresh cookie is spent; reuse revokes the session).
#[utoipa::path(post, path = "/api/v2/auth/session/refresh", tag = "auth",
    responses(
        (status = 204, description = "New cookies set"),
        (status = 401, description = "Unknown, expired, revoked or reused refresh cookie", body = ErrorBody),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = ErrorBody)
    ))]
pub async fn refresh_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = session_refresh_token(&headers)?;
    let pair = state.auth.refresh(token).await?;
    Ok(with_cookies(
        &state,
        StatusCode::NO_CONTENT.into_response(),
        Some(&pair),
    ))
}

/// Sign a browser out: the session is revoked and the cookies cleared.
#[utoipa::path(delete, path = "/api/v2/auth/session", tag = "auth",
    responses(
        (status = 204, description = "Signed out; cookies cleared"),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = ErrorBody)
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = session_refresh_token(&headers)?;
    match state.auth.logout(token).await {
        Ok(()) | Err(AuthError::InvalidRefreshToken) => {}
        Err(err) => return Err(err.into()),
    }
    Ok(with_cookies(
        &state,
        StatusCode::NO_CONTENT.into_response(),
        None,
    ))
}
