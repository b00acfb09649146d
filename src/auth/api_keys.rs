//! API keys: `gpuk_` + 32 random bytes (base64url), stored as their SHA-256 hex with a
//! short visible prefix, scoped to `read`, `trade` and `admin`, revocable.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::{DateTime, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{sha256_hex, Auth, AuthError, Role};
use crate::store::api_keys::ApiKeyRow;

/// Every API key starts with this.
pub const KEY_PREFIX: &str = "gpuk_";
/// Visible characters after [`KEY_PREFIX`] kept for listing.
pub const VISIBLE_CHARS: usize = 8;
/// Longest key name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// `last_used_at` is written at most this often per key.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// What a credential may do, within its owner's role.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read catalog, account and own objects.
    Read,
    /// Place orders and move money.
    Trade,
    /// Administration; only for admin accounts.
    Admin,
}

impl Scope {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Trade => "trade",
            Self::Admin => "admin",
        }
    }

    /// Every scope `role` may hold (what its access tokens carry).
    pub fn of_role(role: Role) -> Vec<Scope> {
        match role {
            Role::Admin => vec![Self::Read, Self::Trade, Self::Admin],
            Role::User | Role::Support | Role::Finance => vec![Self::Read, Self::Trade],
        }
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "trade" => Ok(Self::Trade),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown scope {other:?}: use read, trade or admin")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key as listed to its owner (never the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// UUID v7.
    pub id: String,
    pub name: String,
    /// The first 8 characters after `gpuk_`, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new API key with its secret, shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The full key (`gpuk_…`); it cannot be shown again.
    pub key: String,
}

/// Who a valid API key speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyIdentity {
    pub key_id: String,
    pub user_id: String,
    /// The owner's current role.
    pub role: Role,
    /// The key's scopes, cut down to what the owner's role allows today.
    pub scopes: Vec<Scope>,
}

fn parse_scopes(text: &str) -> Vec<Scope> {
    let mut scopes: Vec<Scope> = text
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

impl ApiKey {
    fn from_row(row: &ApiKeyRow) -> Self {
        Self {
            id: row.id.clone(),
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            scopes: parse_scopes(&row.scopes),
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

impl Auth {
    /// Creates a key for `user_id` with `scopes`, each of which the caller (holding
    /// `allowed`) must hold itself.
    pub async fn create_api_key(
        &self,
        user_id: &str,
        allowed: &[Scope],
        name: &str,
        scopes: &[Scope],
    ) -> Result<CreatedApiKey, AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
            return Err(AuthError::Invalid(format!(
                "name must be 1 to {NAME_MAX_CHARS} characters"
            )));
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(AuthError::Invalid("at least one scope is required".into()));
        }
        if let Some(denied) = scopes.iter().find(|s| !allowed.contains(s)) {
            return Err(AuthError::ScopeDenied(format!(
                "scope {denied} exceeds what this account may grant"
            )));
        }
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| AuthError::Task("cannot generate random bytes".to_owned()))?;
        let secret = B64URL.encode(bytes);
        let key = format!("{KEY_PREFIX}{secret}");
        let row = ApiKeyRow {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.to_owned(),
            name: name.to_owned(),
            prefix: secret[..VISIBLE_CHARS].to_owned(),
            key_hash: sha256_hex(key.as_bytes()),
            scopes: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            created_at: crate::store::now(),
            last_used_at: None,
            revoked_at: None,
        };
        self.0.store.api_key_insert(&row).await?;
        let subject = format!("user:{user_id}");
        self.0
            .store
            .audit_append(
                &subject,
                "auth.api_key_created",
                Some(&format!("api_key:{}", row.id)),
                serde_json::json!({ "name": row.name, "prefix": row.prefix, "scopes": row.scopes }),
            )
            .await?;
        Ok(CreatedApiKey {
            api_key: ApiKey::from_row(&row),
            key,
        })
    }

    /// The unrevoked keys of `user_id`.
    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>, AuthError> {
        let rows = self.0.store.api_keys_of_user(user_id).await?;
        Ok(rows.iter().map(ApiKey::from_row).collect())
    }

    /// Revokes key `id` of `user_id`; another user's or an unknown key is
    /// [`AuthError::NotFound`].
    pub async fn revoke_api_key(&self, user_id: &str, id: &str) -> Result<(), AuthError> {
        if !self.0.store.api_key_revoke(id, user_id).await? {
            return Err(AuthError::NotFound(format!("no API key {id:?}")));
        }
        let subject = format!("user:{user_id}");
        self.0
            .store
            .audit_append(
                &subject,
                "auth.api_key_revoked",
                Some(&format!("api_key:{id}")),
                serde_json::json!({}),
            )
            .await?;
        Ok(())
    }

    /// Checks an API key: known, not revoked, owner enabled. Records the use (at most once
    /// a minute per key).
    pub async fn verify_api_key(&self, key: &str) -> Result<KeyIdentity, AuthError> {
        let row = self
            .0
            .store
            .api_key_by_hash(&sha256_hex(key.as_bytes()))
            .await?
            .filter(|r| r.revoked_at.is_none())
            .ok_or(AuthError::InvalidApiKey)?;
        let user = self
            .0
            .store
            .user_by_id(&row.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::InvalidApiKey)?;
        let role: Role = user.role.parse().map_err(AuthError::Invalid)?;
        let allowed = Scope::of_role(role);
        let scopes = parse_scopes(&row.scopes)
            .into_iter()
            .filter(|s| allowed.contains(s))
            .collect();
        let now = crate::store::now();
        let stale = row
            .last_used_at
            .is_none_or(|t| (now - t).num_seconds() >= TOUCH_INTERVAL_SECS);
        if stale {
            self.0.store.api_key_touch(&row.id, now).await?;
        }
        Ok(KeyIdentity {
            key_id: row.id,
            user_id: row.user_id,
            role,
            scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scopes_round_trip_and_follow_roles() {
        for scope in [Scope::Read, Scope::Trade, Scope::Admin] {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        assert!("root".parse::<Scope>().is_err());
        assert!(!Scope::of_role(Role::Finance).contains(&Scope::Admin));
        assert!(Scope::of_role(Role::Admin).contains(&Scope::Admin));
        assert_eq!(
            parse_scopes("trade read trade bogus"),
            [Scope::Read, Scope::Trade]
        );
    }
}
