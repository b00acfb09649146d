//! API keys: stored as the SHA-256 hex of the key with a short visible prefix.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError};

/// One stored API key (its SHA-256 hex, never the key).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The first 8 characters after `gpuk_`.
    pub prefix: String,
    pub key_hash: String,
    /// Space-separated scope names.
    pub scopes: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, user_id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at";

impl Store {
    /// Stores a new API key.
    #[tracing::instrument(skip_all)]
    pub async fn api_key_insert(&self, key: &ApiKeyRow) -> Result<(), StoreError> {
        let sql = "INSERT INTO api_keys \
            (id, user_id, name, prefix, key_hash, scopes, created_at, last_used_at, revoked_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL)";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(&key.id)
            .bind(&key.user_id)
            .bind(&key.name)
            .bind(&key.prefix)
            .bind(&key.key_hash)
            .bind(&key.scopes)
            .bind(key.created_at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The key whose SHA-256 hex is `key_hash`, revoked or not.
    #[tracing::instrument(skip_all)]
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(key_hash)
            .fetch_optional(pool)
            .await)?)
    }

    /// The unrevoked keys of `user_id`, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn api_keys_of_user(&self, user_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
            ORDER BY created_at, id"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, ApiKeyRow>(&sql)
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Revokes key `id` of `user_id`; `Ok(false)` when no such unrevoked key is theirs.
    #[tracing::instrument(skip_all)]
    pub async fn api_key_revoke(&self, id: &str, user_id: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE api_keys SET revoked_at = $1 \
            WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL";
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .bind(super::now())
            .bind(id)
            .bind(user_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }

    /// Records that key `id` was used at `at`.
    #[tracing::instrument(skip_all)]
    pub async fn api_key_touch(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let sql = "UPDATE api_keys SET last_used_at = $1 WHERE id = $2";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(at)
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
