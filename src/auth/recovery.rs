//! Email verification and password reset by single-use tokens sent by mail.
//!
//! Tokens are 32 random bytes (base64url), stored only as their SHA-256, valid 24 hours
//! (verification) or 30 minutes (reset), and superseded by the next one requested. A reset
//! request answers the same whether or not the email has an account, and the mail leaves
//! in the background so timing does not tell either.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use super::{sha256_hex, Auth, AuthError, Email, Password};
use crate::store::account_tokens::{NewAccountToken, TokenPurpose};

/// Lifetime of an email verification token.
pub const VERIFY_TTL_HOURS: i64 = 24;
/// Lifetime of a password reset token.
pub const RESET_TTL_MINUTES: i64 = 30;

impl Auth {
    /// Mails a fresh verification link to the account `user_id`.
    pub async fn send_verification(&self, user_id: &str) -> Result<(), AuthError> {
        let row = self
            .0
            .store
            .user_by_id(user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(AuthError::UnknownUser)?;
        if row.email_verified_at.is_some() {
            return Err(AuthError::Conflict("the email is already verified".into()));
        }
        let token = self
            .issue_token(
                &row.id,
                TokenPurpose::VerifyEmail,
                chrono::Duration::hours(VERIFY_TTL_HOURS),
            )
            .await?;
        let link = format!("{}/#/verify-email?token={token}", self.0.link_base);
        let body = format!(
            "Confirm this address for your GPUBROKER account by opening\n\n  {link}\n\nor by sending this token to POST /api/v2/auth/verify-email:\n\n  {token}\n\nThe link works once, for {VERIFY_TTL_HOURS} hours. If you did not sign up, ignore this message."
        );
        self.0
            .mailer
            .send_in_background(row.email, "Confirm your email".into(), body);
        Ok(())
    }

    /// Spends a verification token: the account's email is verified.
    pub async fn verify_email(&self, token: &str) -> Result<(), AuthError> {
        let user = self
            .0
            .store
            .account_token_verify_email(&sha256_hex(token.trim().as_bytes()), crate::store::now())
            .await?
            .ok_or(AuthError::InvalidAccountToken)?;
        let subject = format!("user:{user}");
        self.0
            .store
            .audit_append(
                &subject,
                "auth.email_verified",
                Some(&subject),
                serde_json::json!({}),
            )
            .await?;
        Ok(())
    }

    /// Mails a reset link when `email` belongs to an enabled account; answers the same
    /// either way.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AuthError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(row) = self
            .0
            .store
            .user_by_email(email.as_str())
            .await?
            .filter(|u| !u.disabled)
        else {
            return Ok(());
        };
        let token = self
            .issue_token(
                &row.id,
                TokenPurpose::ResetPassword,
                chrono::Duration::minutes(RESET_TTL_MINUTES),
            )
            .await?;
        let link = format!("{}/#/reset-password?token={token}", self.0.link_base);
        let body = format!(
            "Someone asked to reset the password of your GPUBROKER account. To choose a new one, open\n\n  {link}\n\nor send this token with the new password to POST /api/v2/auth/password-reset:\n\n  {token}\n\nThe link works once, for {RESET_TTL_MINUTES} minutes, and signs you out everywhere. If it was not you, ignore this message: your password is unchanged."
        );
        let subject = format!("user:{}", row.id);
        self.0
            .store
            .audit_append(
                "anonymous",
                "auth.password_reset_requested",
                Some(&subject),
                serde_json::json!({}),
            )
            .await?;
        self.0
            .mailer
            .send_in_background(row.email, "Reset your password".into(), body);
        Ok(())
    }

    /// Spends a reset token and sets `new` as the password; every session of the account
    /// ends.
    pub async fn reset_password(&self, token: &str, new: &Password) -> Result<(), AuthError> {
        let hash = self.hash(new.expose()).await?;
        let user = self
            .0
            .store
            .account_token_reset_password(
                &sha256_hex(token.trim().as_bytes()),
                &hash,
                crate::store::now(),
            )
            .await?
            .ok_or(AuthError::InvalidAccountToken)?;
        let subject = format!("user:{user}");
        self.0
            .store
            .audit_append(
                "anonymous",
                "auth.password_reset",
                Some(&subject),
                serde_json::json!({}),
            )
            .await?;
        Ok(())
    }

    async fn issue_token(
        &self,
        user_id: &str,
        purpose: TokenPurpose,
        ttl: chrono::Duration,
    ) -> Result<String, AuthError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| AuthError::Task("cannot generate random bytes".to_owned()))?;
        let token = B64URL.encode(bytes);
        self.0
            .store
            .account_token_issue(&NewAccountToken {
                user_id,
                purpose,
                token_hash: &sha256_hex(token.as_bytes()),
                expires_at: crate::store::now() + ttl,
            })
            .await?;
        Ok(token)
    }
}
