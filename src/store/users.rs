//! Accounts and refresh tokens: users by id or email, refresh-token families.

use chrono::{DateTime, Utc};

use super::{in_tx, on_pool, Store, StoreError};

/// One stored account.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    pub id: String,
    /// Lower-cased.
    pub email: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    /// Access tokens carry the epoch they were issued in; raising it revokes them all.
    pub session_epoch: i64,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stored refresh token (its SHA-256 hex, never the token).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RefreshTokenRow {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "id, email, password_hash, role, disabled, session_epoch, \
    email_verified_at, created_at, updated_at";
pub(super) const SET_PASSWORD: &str = "UPDATE users SET password_hash = $1, \
    session_epoch = session_epoch + 1, updated_at = $2 WHERE id = $3";
pub(super) const REVOKE_USER_TOKENS: &str = "UPDATE refresh_tokens SET revoked_at = $1 \
    WHERE user_id = $2 AND revoked_at IS NULL";
const TOKEN_COLUMNS: &str =
    "id, user_id, family_id, token_hash, expires_at, used_at, revoked_at, created_at";
const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens \
    (id, user_id, family_id, token_hash, expires_at, used_at, revoked_at, created_at) \
    VALUES ($1, $2, $3, $4, $5, NULL, NULL, $6)";

impl Store {
    /// Inserts `user`; `Ok(false)` when the email is taken.
    #[tracing::instrument(skip_all)]
    pub async fn user_insert(&self, user: &UserRow) -> Result<bool, StoreError> {
        let sql =
            "INSERT INTO users (id, email, password_hash, role, disabled, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING";
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .bind(&user.id)
            .bind(&user.email)
            .bind(&user.password_hash)
            .bind(&user.role)
            .bind(user.disabled)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// The account with `email` (already lower-cased).
    #[tracing::instrument(skip_all)]
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, UserRow>(&sql)
            .bind(email)
            .fetch_optional(pool)
            .await)?)
    }

    /// The account with `id`.
    #[tracing::instrument(skip_all)]
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, UserRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// Every account, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn users_list(&self) -> Result<Vec<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, UserRow>(&sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Replaces the password hash of user `id`, raises its session epoch and revokes every
    /// refresh token of that user, in one transaction.
    #[tracing::instrument(skip_all)]
    pub async fn user_set_password(&self, id: &str, password_hash: &str) -> Result<(), StoreError> {
        let now = super::now();
        in_tx!(self, |tx| {
            sqlx::query(SET_PASSWORD)
                .bind(password_hash)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(REVOKE_USER_TOKENS)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// Replaces the password hash of user `id` by a re-hash of the same password, only if
    /// it is still `old_hash` (sessions untouched); `Ok(false)` when it changed meanwhile.
    #[tracing::instrument(skip_all)]
    pub async fn user_rehash(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3";
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .bind(new_hash)
            .bind(id)
            .bind(old_hash)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Changes the role and/or the disabled flag of user `id`, raises its session epoch
    /// (every access token issued before stops working) and revokes its refresh tokens, in
    /// one transaction. `Ok(None)` when there is no such user.
    #[tracing::instrument(skip_all)]
    pub async fn user_update_access(
        &self,
        id: &str,
        role: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<Option<UserRow>, StoreError> {
        let now = super::now();
        let update = "UPDATE users SET role = COALESCE($1, role), \
            disabled = COALESCE($2, disabled), session_epoch = session_epoch + 1, \
            updated_at = $3 WHERE id = $4";
        let select = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        Ok(in_tx!(self, |tx| {
            let changed = sqlx::query(update)
                .bind(role)
                .bind(disabled)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed != 1 {
                return Ok(None);
            }
            sqlx::query(REVOKE_USER_TOKENS)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query_as::<_, UserRow>(&select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
        }))
    }

    /// Stores a new refresh token.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_token_insert(&self, token: &RefreshTokenRow) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(INSERT_TOKEN)
            .bind(&token.id)
            .bind(&token.user_id)
            .bind(&token.family_id)
            .bind(&token.token_hash)
            .bind(token.expires_at)
            .bind(token.created_at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The refresh token whose SHA-256 hex is `token_hash`.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_token_by_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<RefreshTokenRow>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        Ok(on_pool!(self, |pool| {
            sqlx::query_as::<_, RefreshTokenRow>(&sql)
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// Marks token `used_id` used and stores `next` in one transaction; `Ok(false)` (and
    /// nothing stored) when the token was already used or revoked by then.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_token_rotate(
        &self,
        used_id: &str,
        next: &RefreshTokenRow,
    ) -> Result<bool, StoreError> {
        let mark = "UPDATE refresh_tokens SET used_at = $1 \
            WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL";
        in_tx!(self, |tx| {
            let marked = sqlx::query(mark)
                .bind(next.created_at)
                .bind(used_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if marked != 1 {
                return Ok(false);
            }
            sqlx::query(INSERT_TOKEN)
                .bind(&next.id)
                .bind(&next.user_id)
                .bind(&next.family_id)
                .bind(&next.token_hash)
                .bind(next.expires_at)
                .bind(next.created_at)
                .execute(&mut *tx)
                .await?;
        });
        Ok(true)
    }

    /// Revokes every token of family `family_id` not yet revoked; returns how many.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_family_revoke(&self, family_id: &str) -> Result<u64, StoreError> {
        let sql = "UPDATE refresh_tokens SET revoked_at = $1 \
            WHERE family_id = $2 AND revoked_at IS NULL";
        Ok(on_pool!(self, |pool| sqlx::query(sql)
            .bind(super::now())
            .bind(family_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
