//! Installation metadata: a small key/value table (installation id, first start time).

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError};

/// Key of the installation id.
pub const INSTALLATION_ID: &str = "installation_id";

/// One metadata entry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MetaEntry {
    pub key: String,
    pub value: String,
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Reads one metadata value.
    #[tracing::instrument(skip_all)]
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT value FROM app_meta WHERE key = $1";
        let value = on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(key)
            .fetch_optional(pool)
            .await)?;
        Ok(value)
    }

    /// Sets one metadata value (insert or replace).
    #[tracing::instrument(skip_all)]
    pub async fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO app_meta (key, value, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(key)
            .bind(value)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Sets a value only if the key is absent; returns the stored value either way.
    #[tracing::instrument(skip_all)]
    pub async fn meta_get_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        let sql = "INSERT INTO app_meta (key, value, updated_at) VALUES ($1, $2, $3) \
                   ON CONFLICT (key) DO NOTHING";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(key)
            .bind(value)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|_| ()))?;
        self.meta_get(key)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("metadata {key} vanished after insert")))
    }

    /// The id of this installation, created on first call.
    pub async fn ensure_installation_id(&self) -> Result<String, StoreError> {
        let fresh = uuid::Uuid::now_v7().to_string();
        self.meta_get_or_insert(INSTALLATION_ID, &fresh).await
    }

    /// Every metadata entry, ordered by key.
    #[tracing::instrument(skip_all)]
    pub async fn meta_list(&self) -> Result<Vec<MetaEntry>, StoreError> {
        let sql = "SELECT key, value, updated_at FROM app_meta ORDER BY key";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, MetaEntry>(sql)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }
}
