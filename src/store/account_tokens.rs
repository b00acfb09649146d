//! Single-use account tokens (email verification, password reset), stored as the SHA-256
//! hex of the token.

use chrono::{DateTime, Utc};

use super::users::{REVOKE_USER_TOKENS, SET_PASSWORD};
use super::{in_tx, Store, StoreError};

/// What an account token proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
}

impl TokenPurpose {
    /// Name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// A new token to store.
#[derive(Clone, Debug)]
pub struct NewAccountToken<'a> {
    pub user_id: &'a str,
    pub purpose: TokenPurpose,
    pub token_hash: &'a str,
    pub expires_at: DateTime<Utc>,
}

const CONSUME: &str = "UPDATE account_tokens SET used_at = $1 \
    WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
    RETURNING user_id";

impl Store {
    /// Stores `token`; earlier unused tokens of the same user and purpose stop working.
    #[tracing::instrument(skip_all)]
    pub async fn account_token_issue(&self, token: &NewAccountToken<'_>) -> Result<(), StoreError> {
        let now = super::now();
        let supersede = "UPDATE account_tokens SET used_at = $1 \
            WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL";
        let insert = "INSERT INTO account_tokens \
            (id, user_id, purpose, token_hash, expires_at, used_at, created_at) \
            VALUES ($1, $2, $3, $4, $5, NULL, $6)";
        in_tx!(self, |tx| {
            sqlx::query(supersede)
                .bind(now)
                .bind(token.user_id)
                .bind(token.purpose.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(insert)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(token.user_id)
                .bind(token.purpose.as_str())
                .bind(token.token_hash)
                .bind(token.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Spends a verification token at `now` and marks its user's email verified; returns
    /// the user id, or `None` for an unknown, used or expired token.
    #[tracing::instrument(skip_all)]
    pub async fn account_token_verify_email(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let verify = "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1), \
            updated_at = $1 WHERE id = $2";
        Ok(in_tx!(self, |tx| {
            let user: Option<String> = sqlx::query_scalar(CONSUME)
                .bind(now)
                .bind(token_hash)
                .bind(TokenPurpose::VerifyEmail.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(user) = &user {
                sqlx::query(verify)
                    .bind(now)
                    .bind(user)
                    .execute(&mut *tx)
                    .await?;
            }
            user
        }))
    }

    /// Spends a reset token at `now`, sets the new password hash, raises the session epoch
    /// and revokes every refresh token, all in one transaction; returns the user id, or
    /// `None` (and nothing changed) for an unknown, used or expired token.
    #[tracing::instrument(skip_all)]
    pub async fn account_token_reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(in_tx!(self, |tx| {
            let user: Option<String> = sqlx::query_scalar(CONSUME)
                .bind(now)
                .bind(token_hash)
                .bind(TokenPurpose::ResetPassword.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let Some(user) = user else {
                return Ok(None);
            };
            sqlx::query(SET_PASSWORD)
                .bind(password_hash)
                .bind(now)
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            sqlx::query(REVOKE_USER_TOKENS)
                .bind(now)
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            Some(user)
        }))
    }
}
