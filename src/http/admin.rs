//! The admin center's API: the configuration store (secrets masked; an explicit, audited
//! reveal), the audit log and its verification, and JWT signing-key rotation.

use axum::extract::{Path, Query as QueryParams, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::AuthUser;
use super::JsonBody;
use crate::app::AppState;
use crate::auth::keyring::Rotation;
use crate::config::{
    Category, ConfigChange, ConfigEntry, ConfigError, ConfigStore, SetOptions, ValueType,
};
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_config))
        .routes(routes!(set_config))
        .routes(routes!(reveal_config))
        .routes(routes!(list_audit))
        .routes(routes!(verify_audit))
        .routes(routes!(rotate_jwt_key))
}

impl From<ConfigError> for ApiError {
    fn from(err: ConfigError) -> Self {
        match err {
            ConfigError::InvalidKey(_)
            | ConfigError::InvalidValue { .. }
            | ConfigError::Invalid(_) => ApiError::Validation(err.to_string()),
            ConfigError::NotFound(_) => ApiError::NotFound(err.to_string()),
            ConfigError::RotationConflict => ApiError::Conflict(err.to_string()),
            ConfigError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// The configuration store of this process's state (shared cache, so changes made here
/// are seen at once).
fn config(state: &AppState) -> Result<ConfigStore, ApiError> {
    Ok(ConfigStore::new(state.store.clone(), &state.master_key)?)
}

fn actor(user: &AuthUser) -> String {
    format!("user:{}", user.id)
}

/// Every configuration entry; secrets show `********`.
#[utoipa::path(get, path = "/api/v2/admin/config", tag = "admin",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Entries, secrets masked", body = [ConfigEntry]),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without the admin scope", body = ErrorBody)
    ))]
pub async fn list_config(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Result<Json<Vec<ConfigEntry>>, ApiError> {
    Ok(Json(config(&state)?.list().await?))
}

/// A value to store under a key. Omitted options keep the entry's current ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConfigRequest {
    /// The value as text (`8`, `true`, `{"a":1}` for the int, bool and json types).
    pub value: String,
    pub secret: Option<bool>,
    pub category: Option<Category>,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub value_type: Option<ValueType>,
}

/// Create or change an entry (audited; a secret's value never appears in the answer or
/// the audit log).
#[utoipa::path(put, path = "/api/v2/admin/config/{key}", tag = "admin",
    security(("bearer" = []), ("api_key" = [])), request_body = SetConfigRequest,
    params(("key" = String, Path, description = "1–128 characters of a-z 0-9 _ . -")),
    responses(
        (status = 200, description = "What changed, secrets masked", body = ConfigChange),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without the admin scope", body = ErrorBody),
        (status = 422, description = "Bad key, or a value that is not of the entry's type", body = ErrorBody)
    ))]
pub async fn set_config(
    State(state): State<AppState>,
    user: AuthUser,
    Path(key): Path<String>,
    JsonBody(req): JsonBody<SetConfigRequest>,
) -> Result<Json<ConfigChange>, ApiError> {
    let options = SetOptions {
        secret: req.secret,
        category: req.category,
        description: req.description,
        value_type: req.value_type,
    };
    let change = config(&state)?
        .set(&key, &req.value, options, &actor(&user))
        .await?;
    // Other replicas drop what they cached of the configuration (after the commit).
    state
        .events
        .publish(vec![crate::events::Event::ConfigChanged]);
    Ok(Json(change))
}

/// A revealed value.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedValue {
    pub key: String,
    /// The plain (decrypted) text.
    pub value: String,
}

/// Decrypt one entry: the explicit, audited read of a secret.
#[utoipa::path(post, path = "/api/v2/admin/config/{key}/reveal", tag = "admin",
    security(("bearer" = []), ("api_key" = [])),
    params(("key" = String, Path, description = "The entry's key")),
    responses(
        (status = 200, description = "The plain value", body = RevealedValue),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without the admin scope", body = ErrorBody),
        (status = 404, description = "No such entry", body = ErrorBody)
    ))]
pub async fn reveal_config(
    State(state): State<AppState>,
    user: AuthUser,
    Path(key): Path<String>,
) -> Result<Json<RevealedValue>, ApiError> {
    let revealed = config(&state)?.reveal(&key, &actor(&user)).await?;
    Ok(Json(RevealedValue {
        key: revealed.key,
        value: revealed.value.text,
    }))
}

/// Paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Entries after this seq (default 0: from the start).
    pub after: Option<i64>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub seq: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Audit entries in seq order (admin and support).
#[utoipa::path(get, path = "/api/v2/admin/audit", tag = "admin",
    security(("bearer" = []), ("api_key" = [])), params(AuditParams),
    responses(
        (status = 200, description = "Entries after `after`, oldest first", body = [AuditEntryView]),
        (status = 400, description = "limit out of range", body = ErrorBody),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not admin or support", body = ErrorBody)
    ))]
pub async fn list_audit(
    State(state): State<AppState>,
    _user: AuthUser,
    QueryParams(params): QueryParams<AuditParams>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be from 1 to 500".into()));
    }
    let entries = state
        .store
        .audit_list(params.after.unwrap_or(0).max(0), limit)
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditEntryView {
                seq: e.seq,
                at: e.at,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
                prev_hash: e.prev_hash,
                hash: e.hash,
            })
            .collect(),
    ))
}

/// The result of verifying the chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerification {
    pub intact: bool,
    pub entries: u64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first problems, in seq order.
    pub problems: Vec<String>,
    pub problem_count: u64,
}

/// Verify the whole audit chain against itself and the newest recorded checkpoint (admin
/// and support); the same check as `gpubroker audit verify`.
#[utoipa::path(post, path = "/api/v2/admin/audit/verify", tag = "admin",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The verdict (also 200 when broken: read `intact`)", body = AuditVerification),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not admin or support", body = ErrorBody)
    ))]
pub async fn verify_audit(
    State(state): State<AppState>,
    _user: AuthUser,
) -> Result<Json<AuditVerification>, ApiError> {
    let report = state.store.audit_verify(None).await?;
    Ok(Json(AuditVerification {
        intact: report.is_intact(),
        entries: report.entries,
        head_seq: report.head.seq,
        head_hash: report.head.hash.clone(),
        problems: report.problems.iter().map(ToString::to_string).collect(),
        problem_count: report.problem_count,
    }))
}

/// Replace the JWT signing key; tokens of the old key work until they expire (audited).
#[utoipa::path(post, path = "/api/v2/admin/jwt/rotate", tag = "admin",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The new and previous key ids", body = Rotation),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without the admin scope", body = ErrorBody)
    ))]
pub async fn rotate_jwt_key(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Rotation>, ApiError> {
    let rotation = state.auth.rotate_signing_key(&actor(&user)).await?;
    state
        .events
        .publish(vec![crate::events::Event::ConfigChanged]);
    Ok(Json(rotation))
}
