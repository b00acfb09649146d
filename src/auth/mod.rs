//! Accounts and sessions: registration, Argon2id passwords, RS256 access tokens and
//! rotated opaque refresh tokens with reuse detection.
//!
//! The RSA signing key is generated the first time a token is needed and kept as a secret
//! in the configuration store (`security.jwt_signing_key`, PKCS#8 DER in base64) with its
//! id in `security.jwt_kid`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::ConfigError;
use crate::secret::MasterKey;
use crate::store::users::UserRow;
use crate::store::{Store, StoreError};

mod accounts;
pub mod api_keys;
mod common_passwords;
mod hashing;
pub mod jwt;
pub mod keyring;
pub mod password;
mod recovery;
mod sessions;
pub mod throttle;
pub mod types;

pub use api_keys::{ApiKey, CreatedApiKey, KeyIdentity, Scope};
pub use jwt::{AccessClaims, JwtError, JwtKeys, KeyError};
pub use password::{HashError, PasswordHasher};
pub use sessions::REFRESH_TTL_DAYS;
pub use types::{Email, Password, Role};

/// Config key of the JWT signing key (secret).
pub const SIGNING_KEY_CONFIG: &str = "security.jwt_signing_key";
/// Config key of the signing key's id.
pub const KID_CONFIG: &str = "security.jwt_kid";
/// `aud` of access tokens.
pub const AUDIENCE: &str = "gpubroker-api";
/// `iss` of access tokens when no public URL is configured.
pub const DEFAULT_ISSUER: &str = "gpubroker";

/// An authentication failure.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Input that breaks the rules (email syntax, password length).
    #[error("{0}")]
    Invalid(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Unknown email, wrong password or disabled account: one answer for all.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("invalid or expired refresh token")]
    InvalidRefreshToken,
    #[error("refresh token already used; every session of this login was revoked")]
    RefreshReuse,
    #[error("invalid access token: {0}")]
    Token(#[from] JwtError),
    #[error("the account no longer exists or is disabled")]
    UnknownUser,
    #[error("invalid or revoked API key")]
    InvalidApiKey,
    /// An email-verification or password-reset token that is unknown, spent or expired.
    #[error("invalid, used or expired token; request a new one")]
    InvalidAccountToken,
    /// A scope or role the caller does not hold.
    #[error("{0}")]
    ScopeDenied(String),
    #[error("{0}")]
    NotFound(String),
    /// A request that conflicts with the account's state.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("background task failed: {0}")]
    Task(String),
}

/// An account as shown to its owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// UUID v7.
    pub id: String,
    /// Lower-cased.
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    /// Whether the owner proved the address (a link sent by mail).
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    fn from_row(row: &UserRow) -> Result<Self, AuthError> {
        Ok(Self {
            id: row.id.clone(),
            email: row.email.clone(),
            role: row.role.parse().map_err(AuthError::Invalid)?,
            disabled: row.disabled,
            email_verified: row.email_verified_at.is_some(),
            created_at: row.created_at,
        })
    }
}

/// An access token and the refresh token that renews it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// RS256 JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Opaque, single-use; valid 7 days.
    pub refresh_token: String,
}

/// The authentication service; cheap to clone.
#[derive(Clone, Debug)]
pub struct Auth(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    master_key: MasterKey,
    hasher: PasswordHasher,
    issuer: String,
    /// Base of links in account mail (the public URL, or the listen address).
    link_base: String,
    mailer: crate::mail::Mailer,
    keys: tokio::sync::RwLock<Option<keyring::Cached>>,
    hashing: hashing::HashSlots,
    throttle: throttle::LoginThrottle,
}

impl Auth {
    /// The service over `store` for `settings` (issuer and mail links from the public URL,
    /// mail as configured); the signing key is sealed with `master_key`.
    pub fn new(store: Store, master_key: MasterKey, settings: &crate::settings::Settings) -> Self {
        let (issuer, link_base) = match &settings.public_url {
            Some(url) => {
                let base = url.as_str().trim_end_matches('/').to_owned();
                (base.clone(), base)
            }
            None => (
                DEFAULT_ISSUER.to_owned(),
                format!("http://{}", settings.listen),
            ),
        };
        Self(Arc::new(Inner {
            store,
            master_key,
            hasher: PasswordHasher::default(),
            issuer,
            link_base,
            mailer: crate::mail::Mailer::new(settings),
            keys: tokio::sync::RwLock::default(),
            hashing: hashing::HashSlots::default(),
            throttle: throttle::LoginThrottle::default(),
        }))
    }

    /// Creates an account; `actor` is who did it (the new user when self-registered).
    pub async fn register(
        &self,
        email: &Email,
        password: &Password,
        role: Role,
        actor: Option<&str>,
    ) -> Result<User, AuthError> {
        let password_hash = self.hash(password.expose()).await?;
        let now = crate::store::now();
        let row = UserRow {
            id: uuid::Uuid::now_v7().to_string(),
            email: email.as_str().to_owned(),
            password_hash,
            role: role.as_str().to_owned(),
            disabled: false,
            session_epoch: 0,
            email_verified_at: None,
            created_at: now,
            updated_at: now,
        };
        if !self.0.store.user_insert(&row).await? {
            return Err(AuthError::EmailTaken);
        }
        let subject = format!("user:{}", row.id);
        self.0
            .store
            .audit_append(
                actor.unwrap_or(&subject),
                "auth.register",
                Some(&subject),
                serde_json::json!({ "email": row.email, "role": row.role }),
            )
            .await?;
        User::from_row(&row)
    }

    /// Checks `email` and `password` and opens a session. Every failure is
    /// [`AuthError::InvalidCredentials`] and costs one password verification, except while
    /// the email is throttled (see [`throttle`]): then the password is not checked at all.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair, AuthError> {
        let normalised = Email::parse(email).map(|e| e.as_str().to_owned());
        let logged = normalised
            .clone()
            .unwrap_or_else(|_| email.trim().to_lowercase());
        if self
            .0
            .throttle
            .is_blocked(&logged, std::time::Instant::now())
        {
            self.0
                .store
                .audit_append(
                    "anonymous",
                    "auth.login_throttled",
                    None,
                    serde_json::json!({ "email": logged }),
                )
                .await?;
            return Err(AuthError::InvalidCredentials);
        }
        let row = match &normalised {
            Ok(e) => self.0.store.user_by_email(e).await?,
            Err(_) => None,
        };
        let ok = match &row {
            Some(row) => self.verify(password, &row.password_hash).await? && !row.disabled,
            None => {
                self.dummy_verify(password).await?;
                false
            }
        };
        let Some(row) = row.filter(|_| ok) else {
            self.0
                .throttle
                .record_failure(&logged, std::time::Instant::now());
            self.0
                .store
                .audit_append(
                    "anonymous",
                    "auth.login_failed",
                    None,
                    serde_json::json!({ "email": logged }),
                )
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        self.0.throttle.clear(&logged);
        self.rehash_if_needed(&row.id, password, &row.password_hash)
            .await?;
        let pair = self.start_session(&row).await?;
        let subject = format!("user:{}", row.id);
        self.0
            .store
            .audit_append(
                &subject,
                "auth.login",
                Some(&subject),
                serde_json::json!({ "email": logged }),
            )
            .await?;
        Ok(pair)
    }

    /// Every account (administration).
    pub async fn users(&self) -> Result<Vec<User>, AuthError> {
        let rows = self.0.store.users_list().await?;
        rows.iter().map(User::from_row).collect()
    }

    /// The account `id` when it exists and is enabled.
    pub async fn user(&self, id: &str) -> Result<User, AuthError> {
        match self.0.store.user_by_id(id).await? {
            Some(row) if !row.disabled => User::from_row(&row),
            _ => Err(AuthError::UnknownUser),
        }
    }

    /// Replaces the password of `user_id` after checking `current`; revokes every refresh
    /// token of the account.
    pub async fn change_password(
        &self,
        user_id: &str,
        current: &str,
        new: &Password,
    ) -> Result<(), AuthError> {
        let row = self
            .0
            .store
            .user_by_id(user_id)
            .await?
            .filter(|r| !r.disabled)
            .ok_or(AuthError::UnknownUser)?;
        if !self.verify(current, &row.password_hash).await? {
            return Err(AuthError::WrongPassword);
        }
        let hash = self.hash(new.expose()).await?;
        self.0.store.user_set_password(user_id, &hash).await?;
        let subject = format!("user:{user_id}");
        self.0
            .store
            .audit_append(
                &subject,
                "auth.password_change",
                Some(&subject),
                serde_json::json!({}),
            )
            .await?;
        Ok(())
    }

    /// The claims of a valid access token whose session is still live: the account
    /// exists, is enabled, has the token's role and is still in the token's session epoch.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let claims = self.verify_signature(token).await?;
        let live = self
            .0
            .store
            .user_by_id(&claims.sub)
            .await?
            .is_some_and(|u| !u.disabled && u.session_epoch == claims.sep && u.role == claims.role);
        if !live {
            return Err(JwtError::Revoked.into());
        }
        Ok(claims)
    }
}

/// Lowercase hex of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
