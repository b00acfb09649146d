//! Email verification and password reset over HTTP.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::JsonBody;
use crate::app::AppState;
use crate::auth::Password;
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_verification))
        .routes(routes!(verify_email))
        .routes(routes!(request_password_reset))
        .routes(routes!(reset_password))
}

/// A token from an account mail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

/// The address of the account to recover.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: String,
}

/// A reset token and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasswordRequest {
    pub token: String,
    /// 10 to 256 characters.
    pub new_password: String,
}

/// Mail a new verification link to the signed-in account (one is also sent at sign-up).
#[utoipa::path(post, path = "/api/v2/auth/verify-email/request", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "A link is on its way"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 409, description = "Already verified", body = ErrorBody)
    ))]
pub async fn request_verification(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<StatusCode, ApiError> {
    state.auth.send_verification(&user.id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Verify the account's email with the token from the mail (single use, 24 hours).
#[utoipa::path(post, path = "/api/v2/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses(
        (status = 204, description = "Verified"),
        (status = 400, description = "Unknown, used or expired token", body = ErrorBody)
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.verify_email(&req.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mail a password-reset link (30 minutes, single use). The answer is the same whether or
/// not the address has an account.
#[utoipa::path(post, path = "/api/v2/auth/password-reset/request", tag = "auth",
    request_body = ResetRequest,
    responses((status = 202, description = "If the address has an account, a link is on its way")))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    state.auth.request_password_reset(&req.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Set a new password with the token from the reset mail; every session of the account
/// ends.
#[utoipa::path(post, path = "/api/v2/auth/password-reset", tag = "auth",
    request_body = NewPasswordRequest,
    responses(
        (status = 204, description = "Changed; sign in with the new password"),
        (status = 400, description = "Unknown, used or expired token", body = ErrorBody),
        (status = 422, description = "The new password breaks the length rules", body = ErrorBody)
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    JsonBody(req): JsonBody<NewPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let new = Password::parse(&req.new_password).map_err(ApiError::Validation)?;
    state.auth.reset_password(&req.token, &new).await?;
    Ok(StatusCode::NO_CONTENT)
}
