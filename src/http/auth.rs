//! Accounts and sessions over HTTP: register, login, refresh, logout, me, change password,
//! the admin user list, and the [`AuthUser`] extractor (access tokens and API keys) with
//! its role and scope policy helpers.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::JsonBody;
use crate::app::AppState;
use crate::auth::api_keys::KEY_PREFIX;
use crate::auth::{AuthError, Email, Password, Role, Scope, TokenPair, User};
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
        .routes(routes!(list_users))
        .routes(routes!(update_user))
}

/// Header carrying an API key, as an alternative to `Authorization: Bearer gpuk_…`.
pub const API_KEY_HEADER: &str = "x-api-key";

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Invalid(m) => ApiError::Validation(m),
            AuthError::EmailTaken => ApiError::Conflict(err.to_string()),
            AuthError::Conflict(m) => ApiError::Conflict(m),
            AuthError::WrongPassword => ApiError::Forbidden(err.to_string()),
            AuthError::InvalidCredentials
            | AuthError::InvalidRefreshToken
            | AuthError::RefreshReuse
            | AuthError::Token(_)
            | AuthError::UnknownUser
            | AuthError::InvalidApiKey => ApiError::Unauthorized(err.to_string()),
            AuthError::ScopeDenied(m) => ApiError::Forbidden(m),
            AuthError::InvalidAccountToken => ApiError::BadRequest(err.to_string()),
            AuthError::NotFound(m) => ApiError::NotFound(m),
            AuthError::Store(e) => e.into(),
            AuthError::Config(_) | AuthError::Key(_) | AuthError::Hash(_) | AuthError::Task(_) => {
                ApiError::internal(err)
            }
        }
    }
}

/// The caller, proven by a valid access token (`Authorization: Bearer <jwt>`) or API key
/// (`Authorization: Bearer gpuk_…` or `X-API-Key: gpuk_…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// The user id (`sub`).
    pub id: String,
    pub role: Role,
    /// What this credential may do: every scope of the role for access tokens, the key's
    /// own scopes for API keys.
    pub scopes: Vec<Scope>,
    /// The API key used, if any.
    pub api_key_id: Option<String>,
}

impl AuthUser {
    /// `Ok` when the caller has `role` (admins pass every role check), else 403.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role == role || self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this action requires the {role} role"
            )))
        }
    }

    /// `Ok` when the credential carries `scope`, else 403.
    pub fn require_scope(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this action requires the {scope} scope"
            )))
        }
    }
}

/// A credential presented with a request.
enum Credential<'a> {
    AccessToken(&'a str),
    ApiKey(&'a str),
}

/// The credential in `headers`: `X-API-Key` first, then `Authorization: Bearer`.
/// `Ok(None)` without either header; a malformed one is 401.
fn credential(headers: &HeaderMap) -> Result<Option<Credential<'_>>, ApiError> {
    if let Some(value) = headers.get(API_KEY_HEADER) {
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| k.starts_with(KEY_PREFIX))
            .ok_or(AuthError::InvalidApiKey)?;
        return Ok(Some(Credential::ApiKey(key)));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("a bearer access token is required".into()))?;
    Ok(Some(if token.starts_with(KEY_PREFIX) {
        Credential::ApiKey(token)
    } else {
        Credential::AccessToken(token)
    }))
}

/// Authenticates the credential in `headers`; `Ok(None)` when there is none.
pub async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<AuthUser>, ApiError> {
    let user = match credential(headers)? {
        None => return Ok(None),
        Some(Credential::ApiKey(key)) => {
            let identity = state.auth.verify_api_key(key).await?;
            AuthUser {
                id: identity.user_id,
                role: identity.role,
                scopes: identity.scopes,
                api_key_id: Some(identity.key_id),
            }
        }
        Some(Credential::AccessToken(token)) => {
            let claims = state.auth.verify_access(token).await?;
            let role: Role = claims
                .role
                .parse()
                .map_err(|_| ApiError::Unauthorized("invalid access token: unknown role".into()))?;
            AuthUser {
                id: claims.sub,
                role,
                scopes: Scope::of_role(role),
                api_key_id: None,
            }
        }
    };
    Ok(Some(user))
}

/// Authenticates a request: a credential header first, else the browser session's access
/// cookie, which on state-changing methods also needs the matching `X-CSRF-Token`.
/// `Ok(None)` when there is neither.
pub async fn authenticate_request(
    method: &axum::http::Method,
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<AuthUser>, ApiError> {
    use super::session::{check_csrf, cookie, csrf_for, is_unsafe, ACCESS_COOKIE};
    if let Some(user) = authenticate(headers, state).await? {
        return Ok(Some(user));
    }
    let Some(token) = cookie(headers, ACCESS_COOKIE) else {
        return Ok(None);
    };
    if is_unsafe(method) {
        check_csrf(headers, &csrf_for(token))?;
    }
    let claims = state.auth.verify_access(token).await?;
    let role: Role = claims
        .role
        .parse()
        .map_err(|_| ApiError::Unauthorized("invalid access token: unknown role".into()))?;
    Ok(Some(AuthUser {
        id: claims.sub,
        role,
        scopes: Scope::of_role(role),
        api_key_id: None,
    }))
}

/// `Option<AuthUser>`: `None` without credentials; a bad credential is still a 401 (never
/// silently anonymous).
impl axum::extract::OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        // The rate-limit layer has usually authenticated the request already.
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(Some(user.clone()));
        }
        authenticate_request(&parts.method, &parts.headers, state).await
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        <Self as axum::extract::OptionalFromRequestParts<AppState>>::from_request_parts(
            parts, state,
        )
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized("a bearer access token or an API key is required".into())
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
    // The account exists either way; a mail problem is logged, never a failed sign-up.
    if let Err(err) = state.auth.send_verification(&user.id).await {
        tracing::warn!(error = %err, "cannot send the verification mail");
    }
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
#[utoipa::path(get, path = "/api/v2/auth/me", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
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

/// Every account, without password hashes (admin role and `admin` scope).
#[utoipa::path(get, path = "/api/v2/auth/users", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Every account", body = [User]),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without the admin scope", body = ErrorBody)
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<Vec<User>>, ApiError> {
    user.require(Role::Admin)?;
    user.require_scope(Scope::Admin)?;
    Ok(Json(state.auth.users().await?))
}

/// What an admin may change on an account; anything else in the body is refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Change an account's role or disable it (admin). Every session, access token and (while
/// disabled) API key of the account stops working at once; the change is audited.
#[utoipa::path(patch, path = "/api/v2/auth/users/{id}", tag = "auth",
    security(("bearer" = []), ("api_key" = [])), request_body = UpdateUserRequest,
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "The account after the change", body = User),
        (status = 401, description = "Missing or invalid credentials", body = ErrorBody),
        (status = 403, description = "Not an admin, or a key without the admin scope", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "An admin changing their own account", body = ErrorBody),
        (status = 422, description = "Nothing to change, an unknown role or an unknown field", body = ErrorBody)
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateUserRequest>,
) -> Result<Json<User>, ApiError> {
    user.require(Role::Admin)?;
    user.require_scope(Scope::Admin)?;
    Ok(Json(
        state
            .auth
            .update_access(&user.id, &id, req.role, req.disabled)
            .await?,
    ))
}
