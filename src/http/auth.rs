//! Accounts and sessions over HTTP: register, login, refresh, logout, me, change password,
//! and the [`AuthUser`] extractor for bearer access tokens.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::JsonBody;
use crate::app::AppState;
use crate::auth::{AuthError, Email, Password, Role, TokenPair, User};
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Invalid(m) => ApiError::Validation(m),
            AuthError::EmailTaken => ApiError::Conflict(err.to_string()),
            AuthError::WrongPassword => ApiError::Forbidden(err.to_string()),
            AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken
            | AuthError::RefreshReuse
            | AuthError::Token(_)
            | AuthError::UnknownUser => ApiError::Unauthorized(err.to_string()),
            AuthError::Store(e) => e.into(),
            AuthError::Config(_) | AuthError::Key(_) | AuthError::Hash(_) | AuthError::Task(_) => {
                ApiError::internal(err)
            }
        }
    }
}

/// The caller, proven by a valid `Authorization: Bearer` access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// The user id (`sub`).
    pub id: String,
    pub role: Role,
}

/// `Option<AuthUser>`: `None` without an `Authorization` header; a header with a bad token
/// is still a 401 (never silently anonymous).
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .map(Some)
        } else {
            Ok(None)
        }
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".into()))?;
        let claims = state.auth.verify_access(token).await?;
        let role = claims
            .role
            .parse()
            .map_err(|_| ApiError::Unauthorized("invalid access token: unknown role".into()))?;
        Ok(Self {
            id: claims.sub,
            role,
        })
    }
}

/// Email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub email: String,
    /// 10 to 256 characters.
    pub password: String,
}

/// A refresh token to spend or revoke.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// The current and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 10 to 256 characters.
    pub new_password: String,
}

/// Create an account with the role `user`.
#[utoipa::path(post, path = "/api/v2/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, description = "The new account", body = User),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 422, description = "Invalid email or password length", body = ErrorBody)
    ))]
pub async fn register(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let email = Email::parse(&req.email).map_err(ApiError::Validation)?;
    let password = Password::parse(&req.password).map_err(ApiError::Validation)?;
    let user = state
        .auth
        .register(&email, &password, Role::User, None)
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Sign in: an access token (15 minutes) and a refresh token (7 days, single use).
#[utoipa::path(post, path = "/api/v2/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "A token pair", body = TokenPair),
        (status = 401, description = "Invalid email or password (one answer for both)", body = ErrorBody)
    ))]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.auth.login(&req.email, &req.password).await?))
}

/// Exchange a refresh token for a new pair; the presented token is spent. Presenting a
/// spent token again revokes every token of that login.
#[utoipa::path(post, path = "/api/v2/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token", body = ErrorBody)
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.auth.refresh(&req.refresh_token).await?))
}

/// Sign out: revoke every refresh token of the login this token belongs to.
#[utoipa::path(post, path = "/api/v2/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Unknown refresh token", body = ErrorBody)
    ))]
pub async fn logout(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.logout(&req.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v2/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = User),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody)
    ))]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<User>, ApiError> {
    Ok(Json(state.auth.user(&user.id).await?))
}

/// Change the password; every refresh token of the account is revoked.
#[utoipa::path(post, path = "/api/v2/auth/change-password", tag = "auth",
    security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Changed; sign in again on other devices"),
        (status = 401, description = "Missing or invalid access token", body = ErrorBody),
        (status = 403, description = "The current password is wrong", body = ErrorBody),
        (status = 422, description = "The new password breaks the length rules", body = ErrorBody)
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let new = Password::parse(&req.new_password).map_err(ApiError::Validation)?;
    state
        .auth
        .change_password(&user.id, &req.current_password, &new)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
