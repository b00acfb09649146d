//! What the configuration store reports: listed entries (secrets masked) and the records
//! of `set`, `reveal` and `rotate_key` that the audit chain stores.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::types::{Category, ConfigValue, ValueType, MASK};
use super::ConfigError;
use crate::store::config::ConfigRow;

/// One entry as listed: a secret's value is [`MASK`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConfigEntry {
    pub key: String,
    pub value_type: ValueType,
    pub category: Category,
    pub description: String,
    pub is_secret: bool,
    /// The plain value, or [`MASK`] for a secret.
    pub value: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl ConfigEntry {
    /// The listed form of a stored row.
    pub(crate) fn from_row(row: &ConfigRow) -> Result<Self, ConfigError> {
        let value = if row.is_secret {
            MASK.to_owned()
        } else {
            row.value
                .clone()
                .ok_or_else(|| ConfigError::Corrupt(row.key.clone()))?
        };
        Ok(Self {
            key: row.key.clone(),
            value_type: row.value_type.parse()?,
            category: row.category.parse()?,
            description: row.description.clone(),
            is_secret: row.is_secret,
            value,
            updated_at: row.updated_at,
            updated_by: row.updated_by.clone(),
        })
    }
}

/// What one `set` changed. Values of secrets appear as [`MASK`] on both sides; `changed`
/// still says whether the value differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConfigChange {
    pub key: String,
    /// `None` when the entry is new.
    pub before: Option<ConfigEntry>,
    pub after: ConfigEntry,
    /// Whether the value itself changed (compared in plaintext, reported as a flag only).
    pub value_changed: bool,
    pub actor: String,
    pub at: DateTime<Utc>,
}

impl ConfigChange {
    /// `before` and `after` of one write; `value_changed` is known by the caller.
    pub(crate) fn new(
        before: Option<ConfigEntry>,
        after: ConfigEntry,
        value_changed: bool,
    ) -> Self {
        Self {
            key: after.key.clone(),
            actor: after.updated_by.clone(),
            at: after.updated_at,
            before,
            after,
            value_changed,
        }
    }

    /// Whether the entry did not exist before.
    pub fn created(&self) -> bool {
        self.before.is_none()
    }
}

/// An operator's explicit read. `Debug` hides a secret value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revealed {
    pub key: String,
    pub value: ConfigValue,
    pub actor: String,
    pub at: DateTime<Utc>,
}

/// What one `rotate_key` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyRotation {
    /// The newest version before, `None` when the ring was empty.
    pub previous_version: Option<i64>,
    pub new_version: i64,
    /// Keys of the secrets re-encrypted with the new version.
    pub resealed: Vec<String>,
    pub actor: String,
    pub at: DateTime<Utc>,
}
