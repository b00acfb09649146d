//! Configuration store rows: the key ring of sealed data keys and the typed entries.
//!
//! Only SQL lives here; sealing and opening happen in [`crate::config`].

use chrono::{DateTime, Utc};

use super::{in_tx, on_pool, Store, StoreError};

/// One data key of the ring, sealed with the master key.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct KeyringRow {
    pub version: i64,
    /// `<nonce b64>.<ciphertext+tag b64>`.
    pub wrapped_key: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// One configuration entry as stored: `value` for plain entries, `sealed` for secrets.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct ConfigRow {
    pub key: String,
    pub value_type: String,
    pub category: String,
    pub description: String,
    pub is_secret: bool,
    pub value: Option<String>,
    pub sealed: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl std::fmt::Debug for ConfigRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigRow")
            .field("key", &self.key)
            .field("value_type", &self.value_type)
            .field("category", &self.category)
            .field("is_secret", &self.is_secret)
            .field("value", &self.value)
            .field("sealed", &self.sealed.as_ref().map(|_| "<sealed>"))
            .field("updated_at", &self.updated_at)
            .field("updated_by", &self.updated_by)
            .finish_non_exhaustive()
    }
}

const ENTRY_COLUMNS: &str =
    "key, value_type, category, description, is_secret, value, sealed, updated_at, updated_by";

impl Store {
    /// Every version of the key ring, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn config_keyring(&self) -> Result<Vec<KeyringRow>, StoreError> {
        let sql = "SELECT version, wrapped_key, created_at, retired_at FROM config_keyring \
            ORDER BY version";
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, KeyringRow>(sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Inserts the first key-ring version unless another process did it first.
    #[tracing::instrument(skip_all)]
    pub async fn config_keyring_create_first(&self, wrapped_key: &str) -> Result<(), StoreError> {
        let sql = "INSERT INTO config_keyring (version, wrapped_key, created_at) \
            VALUES (1, $1, $2) ON CONFLICT (version) DO NOTHING";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(wrapped_key)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// One entry by key.
    #[tracing::instrument(skip_all)]
    pub async fn config_entry(&self, key: &str) -> Result<Option<ConfigRow>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM config_entries WHERE key = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, ConfigRow>(&sql)
            .bind(key)
            .fetch_optional(pool)
            .await)?)
    }

    /// Every entry, by key.
    #[tracing::instrument(skip_all)]
    pub async fn config_entries(&self) -> Result<Vec<ConfigRow>, StoreError> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM config_entries ORDER BY key");
        Ok(on_pool!(self, |pool| sqlx::query_as::<_, ConfigRow>(&sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Inserts or replaces an entry.
    #[tracing::instrument(skip_all)]
    pub async fn config_upsert(&self, row: &ConfigRow) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO config_entries ({ENTRY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (key) DO UPDATE SET value_type = excluded.value_type, \
             category = excluded.category, description = excluded.description, \
             is_secret = excluded.is_secret, value = excluded.value, sealed = excluded.sealed, \
             updated_at = excluded.updated_at, updated_by = excluded.updated_by"
        );
        on_pool!(self, |pool| sqlx::query(&sql)
            .bind(&row.key)
            .bind(&row.value_type)
            .bind(&row.category)
            .bind(&row.description)
            .bind(row.is_secret)
            .bind(&row.value)
            .bind(&row.sealed)
            .bind(row.updated_at)
            .bind(&row.updated_by)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Adds key-ring `version`, retires every older version and replaces the sealed value
    /// of each `(key, old sealed, new sealed)`, in one transaction. Returns `false` (and
    /// changes nothing) when the version already exists or a secret changed, appeared or
    /// vanished meanwhile.
    #[tracing::instrument(skip_all)]
    pub async fn config_rotate(
        &self,
        version: i64,
        wrapped_key: &str,
        resealed: &[(String, String, String)],
    ) -> Result<bool, StoreError> {
        let now = super::now();
        let insert = "INSERT INTO config_keyring (version, wrapped_key, created_at) \
            VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING";
        let retire = "UPDATE config_keyring SET retired_at = $1 \
            WHERE version < $2 AND retired_at IS NULL";
        let update = "UPDATE config_entries SET sealed = $1 WHERE key = $2 AND sealed = $3";
        let secrets = "SELECT COUNT(*) FROM config_entries WHERE is_secret";
        in_tx!(self, |tx| {
            let added = sqlx::query(insert)
                .bind(version)
                .bind(wrapped_key)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if added != 1 {
                return Ok(false);
            }
            sqlx::query(retire)
                .bind(now)
                .bind(version)
                .execute(&mut *tx)
                .await?;
            for (key, old, new) in resealed {
                let n = sqlx::query(update)
                    .bind(new)
                    .bind(key)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n != 1 {
                    return Ok(false);
                }
            }
            let total: i64 = sqlx::query_scalar(secrets).fetch_one(&mut *tx).await?;
            if usize::try_from(total).ok() != Some(resealed.len()) {
                return Ok(false);
            }
        });
        Ok(true)
    }
}
