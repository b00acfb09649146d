//! API keys over HTTP: create (the key is shown once), list own keys, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::JsonBody;
use crate::app::AppState;
use crate::auth::{ApiKey, CreatedApiKey, Scope};
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
}

/// A name and the scopes of a new key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 1 to 100 characters.
    pub name: String,
    /// At least one; never more than the caller holds (`admin` only for admins).
    pub scopes: Vec<Scope>,
}

/// Create an API key; the full key is in this response only.
#[utoipa::path(post, path = "/api/v2/auth/api-keys", tag = "auth",
    security(("bearer" = []), ("api_key" = [])), request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "The new key, with its secret shown once", body = CreatedApiKey),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "A scope beyond the caller's role or key", body = ErrorBody),
        (status = 422, description = "Bad name, no scope or an unknown scope", body = ErrorBody)
    ))]
pub async fn create_api_key(
    State(state): State<AppState>,
    user: AuthUser,
    JsonBody(req): JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let created = state
        .auth
        .create_api_key(&user.id, &user.scopes, &req.name, &req.scopes)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The caller's unrevoked API keys (never their secrets).
#[utoipa::path(get, path = "/api/v2/auth/api-keys", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The caller's keys", body = [ApiKey]),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody)
    ))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<ApiKey>>, ApiError> {
    Ok(Json(state.auth.api_keys(&user.id).await?))
}

/// Revoke one of the caller's API keys; it stops working at once.
#[utoipa::path(delete, path = "/api/v2/auth/api-keys/{id}", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 404, description = "No such key of the caller's", body = ErrorBody)
    ))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_api_key(&user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
