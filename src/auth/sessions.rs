//! Sessions: opaque refresh tokens, rotated on every use, with reuse detection by family.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use super::{sha256_hex, Auth, AuthError, TokenPair};
use crate::store::users::{RefreshTokenRow, UserRow};

/// Lifetime of a refresh token.
pub const REFRESH_TTL_DAYS: i64 = 7;

impl Auth {
    /// Starts a new refresh family for `user` and returns its first token pair.
    pub(super) async fn start_session(&self, user: &UserRow) -> Result<TokenPair, AuthError> {
        let family = uuid::Uuid::now_v7().to_string();
        let (refresh_token, row) = new_refresh_token(&user.id, &family)?;
        self.0.store.refresh_token_insert(&row).await?;
        self.pair(user, refresh_token).await
    }

    /// Exchanges a refresh token for a new pair. The presented token is spent; presenting a
    /// spent token again revokes its whole family.
    pub async fn refresh(&self, token: &str) -> Result<TokenPair, AuthError> {
        let row = self
            .0
            .store
            .refresh_token_by_hash(&sha256_hex(token.as_bytes()))
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        if row.revoked_at.is_some() {
            return Err(AuthError::InvalidRefreshToken);
        }
        if row.used_at.is_some() {
            return Err(self.reuse_detected(&row).await?);
        }
        if row.expires_at <= crate::store::now() {
            return Err(AuthError::InvalidRefreshToken);
        }
        let user = self
            .0
            .store
            .user_by_id(&row.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::InvalidRefreshToken)?;
        let (refresh_token, next) = new_refresh_token(&user.id, &row.family_id)?;
        if !self.0.store.refresh_token_rotate(&row.id, &next).await? {
            // Spent or revoked by a concurrent request since it was read.
            return Err(self.reuse_detected(&row).await?);
        }
        self.pair(&user, refresh_token).await
    }

    /// Ends the session of a refresh token: its whole family is revoked.
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let row = self
            .0
            .store
            .refresh_token_by_hash(&sha256_hex(token.as_bytes()))
            .await?
            .ok_or(AuthError::InvalidRefreshToken)?;
        let revoked = self.0.store.refresh_family_revoke(&row.family_id).await?;
        let subject = format!("user:{}", row.user_id);
        self.0
            .store
            .audit_append(
                &subject,
                "auth.logout",
                Some(&subject),
                serde_json::json!({ "family_id": row.family_id, "revoked": revoked }),
            )
            .await?;
        Ok(())
    }

    async fn reuse_detected(&self, row: &RefreshTokenRow) -> Result<AuthError, AuthError> {
        let revoked = self.0.store.refresh_family_revoke(&row.family_id).await?;
        let subject = format!("user:{}", row.user_id);
        tracing::warn!(family_id = %row.family_id, user_id = %row.user_id, "refresh token reuse detected");
        self.0
            .store
            .audit_append(
                "anonymous",
                "auth.refresh_reuse",
                Some(&subject),
                serde_json::json!({ "family_id": row.family_id, "revoked": revoked }),
            )
            .await?;
        Ok(AuthError::RefreshReuse)
    }

    async fn pair(&self, user: &UserRow, refresh_token: String) -> Result<TokenPair, AuthError> {
        let keys = self.keys().await?;
        let now = chrono::Utc::now().timestamp();
        let (access_token, claims) =
            keys.current
                .issue(&user.id, &user.role, user.session_epoch, now)?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: claims.exp - now,
            refresh_token,
        })
    }
}

/// A fresh opaque token (32 random bytes, base64url) and its row in `family`.
fn new_refresh_token(user_id: &str, family: &str) -> Result<(String, RefreshTokenRow), AuthError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Task("cannot generate random bytes".to_owned()))?;
    let token = B64URL.encode(bytes);
    let now = crate::store::now();
    let row = RefreshTokenRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        family_id: family.to_owned(),
        token_hash: sha256_hex(token.as_bytes()),
        expires_at: now + chrono::Duration::days(REFRESH_TTL_DAYS),
        used_at: None,
        revoked_at: None,
        created_at: now,
    };
    Ok((token, row))
}
