//! The encrypted configuration store: typed entries in the database, secrets sealed with
//! AES-256-GCM under a versioned key ring whose data keys are sealed with the master key.
//!
//! `get` is for the service's own reads; `reveal` is the operator's explicit read of a
//! secret. `set`, `reveal` and `rotate_key` take the acting identity and return a record
//! of what happened, for the audit chain. Reads are cached in-process (5 minutes by
//! default); `set` and `rotate_key` invalidate the cache of this process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;

use crate::secret::MasterKey;
use crate::store::config::ConfigRow;
use crate::store::{Store, StoreError};

pub mod crypto;
pub mod import;
pub mod providers;
mod records;
pub mod types;
pub mod vault;

use crypto::{CryptoError, SealingKey};
pub use records::{ConfigChange, ConfigEntry, KeyRotation, Revealed};
pub use types::{Category, ConfigKey, ConfigValue, ValueType, MASK};

/// How long a read stays cached by default.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(300);

/// A configuration store failure. Messages name keys, never values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid config key {0:?}: use 1 to 128 characters of a-z 0-9 _ . -")]
    InvalidKey(String),
    #[error("value of {key} is not a valid {expected}")]
    InvalidValue { key: String, expected: ValueType },
    #[error("{0}")]
    Invalid(String),
    #[error("config key {0} not found")]
    NotFound(String),
    #[error("cannot decrypt config entry {key}: wrong master key, or the sealed value was tampered with or copied from another key")]
    Decrypt { key: String },
    #[error("config entry {key} is sealed with key-ring version {version}, which does not exist")]
    MissingKeyVersion { key: String, version: i64 },
    #[error(
        "cannot open key-ring version {0}: wrong master key, or the key ring was tampered with"
    )]
    KeyRing(i64),
    #[error(
        "config entry {0} is stored inconsistently (secret without sealed value or the reverse)"
    )]
    Corrupt(String),
    #[error("the configuration changed during key rotation; nothing was rotated, run it again")]
    RotationConflict,
    #[error("cannot generate random bytes")]
    Random,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How `set` stores a value; `None` keeps the existing entry's setting (or the default
/// for a new entry: not secret, category `service`, no description, type `string`).
/// An existing secret stays secret unless `secret` is `Some(false)`.
#[derive(Clone, Debug, Default)]
pub struct SetOptions {
    pub secret: Option<bool>,
    pub category: Option<Category>,
    pub description: Option<String>,
    pub value_type: Option<ValueType>,
}

/// The unwrapped data keys and the version that seals new values.
#[derive(Clone, Debug)]
struct KeyRing {
    current: i64,
    keys: BTreeMap<i64, SealingKey>,
}

#[derive(Default)]
struct Cache {
    rows: HashMap<String, (Instant, Option<ConfigRow>)>,
    ring: Option<(Instant, KeyRing)>,
}

struct Inner {
    store: Store,
    master: SealingKey,
    rng: SystemRandom,
    ttl: Duration,
    cache: Mutex<Cache>,
}

/// The configuration store; cheap to clone (clones share one cache).
#[derive(Clone)]
pub struct ConfigStore(Arc<Inner>);

impl std::fmt::Debug for ConfigStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigStore")
            .field("ttl", &self.0.ttl)
            .finish_non_exhaustive()
    }
}

impl ConfigStore {
    /// A store over `store` sealed with `master_key`, caching reads for 5 minutes.
    pub fn new(store: Store, master_key: &MasterKey) -> Result<Self, ConfigError> {
        Self::with_ttl(store, master_key, DEFAULT_CACHE_TTL)
    }

    /// Like [`ConfigStore::new`] with another cache lifetime (`Duration::ZERO`: no cache).
    pub fn with_ttl(
        store: Store,
        master_key: &MasterKey,
        ttl: Duration,
    ) -> Result<Self, ConfigError> {
        let master =
            SealingKey::from_bytes(master_key.as_bytes()).map_err(|_| ConfigError::Random)?;
        Ok(Self(Arc::new(Inner {
            store,
            master,
            rng: SystemRandom::new(),
            ttl,
            cache: Mutex::new(Cache::default()),
        })))
    }

    /// The value of `key` (a secret decrypted), `None` when unset. Not audited: this is
    /// the service reading its own configuration; operators use [`ConfigStore::reveal`].
    pub async fn get(&self, key: &str) -> Result<Option<ConfigValue>, ConfigError> {
        let key = ConfigKey::parse(key)?;
        match self.row(&key).await? {
            Some(row) => Ok(Some(self.open_row(&row).await?)),
            None => Ok(None),
        }
    }

    /// The operator's explicit read of an entry, secret or not; record the result.
    pub async fn reveal(&self, key: &str, actor: &str) -> Result<Revealed, ConfigError> {
        let key = ConfigKey::parse(key)?;
        let row = self
            .row(&key)
            .await?
            .ok_or_else(|| ConfigError::NotFound(key.to_string()))?;
        let value = self.open_row(&row).await?;
        self.0
            .store
            .audit_append(
                actor,
                "config.reveal",
                Some(key.as_str()),
                serde_json::json!({ "is_secret": row.is_secret }),
            )
            .await?;
        Ok(Revealed {
            key: key.to_string(),
            value,
            actor: actor.to_owned(),
            at: crate::store::now(),
        })
    }

    /// One entry as listed (a secret masked, nothing decrypted), `None` when unset.
    pub async fn entry(&self, key: &str) -> Result<Option<ConfigEntry>, ConfigError> {
        let key = ConfigKey::parse(key)?;
        self.row(&key)
            .await?
            .as_ref()
            .map(ConfigEntry::from_row)
            .transpose()
    }

    /// Every entry, secrets masked as [`MASK`].
    pub async fn list(&self) -> Result<Vec<ConfigEntry>, ConfigError> {
        let rows = self.0.store.config_entries().await?;
        rows.iter().map(ConfigEntry::from_row).collect()
    }

    /// Stores `value` under `key` (validated against its type) and returns what changed.
    pub async fn set(
        &self,
        key: &str,
        value: &str,
        options: SetOptions,
        actor: &str,
    ) -> Result<ConfigChange, ConfigError> {
        let key = ConfigKey::parse(key)?;
        let existing = self.0.store.config_entry(key.as_str()).await?;
        let old = existing.as_ref().map(ConfigEntry::from_row).transpose()?;
        let value_type = options
            .value_type
            .or(old.as_ref().map(|e| e.value_type))
            .unwrap_or(ValueType::String);
        let text = value_type.normalise(&key, value)?;
        let is_secret = options
            .secret
            .or(old.as_ref().map(|e| e.is_secret))
            .unwrap_or(false);
        let sealed = if is_secret {
            let ring = self.ring(true).await?;
            let data_key = ring
                .keys
                .get(&ring.current)
                .ok_or(ConfigError::KeyRing(ring.current))?;
            Some(
                crypto::seal_value(data_key, &self.0.rng, ring.current, key.as_str(), &text)
                    .map_err(|_| ConfigError::Random)?,
            )
        } else {
            None
        };
        let row = ConfigRow {
            key: key.to_string(),
            value_type: value_type.as_str().into(),
            category: options
                .category
                .or(old.as_ref().map(|e| e.category))
                .unwrap_or(Category::Service)
                .as_str()
                .into(),
            description: options
                .description
                .or(old.as_ref().map(|e| e.description.clone()))
                .unwrap_or_default(),
            is_secret,
            value: (!is_secret).then(|| text.clone()),
            sealed,
            updated_at: crate::store::now(),
            updated_by: actor.to_owned(),
        };
        let value_changed = match &existing {
            None => true,
            Some(before) => match self.open_row(before).await {
                Ok(v) => v.text != text,
                Err(_) => true,
            },
        };
        self.0.store.config_upsert(&row).await?;
        self.invalidate();
        let change = ConfigChange::new(old, ConfigEntry::from_row(&row)?, value_changed);
        // Entries are masked: the audit chain never holds a secret.
        self.0
            .store
            .audit_append(
                actor,
                "config.set",
                Some(key.as_str()),
                serde_json::json!({
                    "before": change.before,
                    "after": change.after,
                    "value_changed": change.value_changed,
                }),
            )
            .await?;
        Ok(change)
    }

    /// Creates a new key-ring version, re-encrypts every secret with it in one
    /// transaction and retires the older versions.
    pub async fn rotate_key(&self, actor: &str) -> Result<KeyRotation, ConfigError> {
        self.invalidate();
        let ring = self.ring(false).await?;
        let rows = self.0.store.config_entries().await?;
        let new_version = ring.keys.keys().next_back().copied().unwrap_or(0) + 1;
        let data = crypto::generate_data_key(&self.0.rng).map_err(|_| ConfigError::Random)?;
        let wrapped = crypto::wrap_data_key(&self.0.master, &self.0.rng, new_version, &data)
            .map_err(|_| ConfigError::Random)?;
        let new_key = SealingKey::from_bytes(&data).map_err(|_| ConfigError::Random)?;
        let mut resealed = Vec::new();
        for row in rows.iter().filter(|r| r.is_secret) {
            let text = self.open_with(&ring, row)?;
            let sealed = crypto::seal_value(&new_key, &self.0.rng, new_version, &row.key, &text)
                .map_err(|_| ConfigError::Random)?;
            let old = row
                .sealed
                .clone()
                .ok_or_else(|| ConfigError::Corrupt(row.key.clone()))?;
            resealed.push((row.key.clone(), old, sealed));
        }
        let done = self
            .0
            .store
            .config_rotate(new_version, &wrapped, &resealed)
            .await?;
        self.invalidate();
        if !done {
            return Err(ConfigError::RotationConflict);
        }
        self.0
            .store
            .audit_append(
                actor,
                "config.rotate_key",
                None,
                serde_json::json!({
                    "previous_version": ring.keys.keys().next_back().copied(),
                    "new_version": new_version,
                    "resealed": resealed.len(),
                }),
            )
            .await?;
        Ok(KeyRotation {
            previous_version: ring.keys.keys().next_back().copied(),
            new_version,
            resealed: resealed.into_iter().map(|(key, _, _)| key).collect(),
            actor: actor.to_owned(),
            at: crate::store::now(),
        })
    }

    /// Drops every cached read of this process.
    pub fn invalidate(&self) {
        if let Ok(mut cache) = self.0.cache.lock() {
            *cache = Cache::default();
        }
    }

    /// The stored row of `key`, through the cache.
    async fn row(&self, key: &ConfigKey) -> Result<Option<ConfigRow>, ConfigError> {
        if let Some(row) = self.cached(|c| c.rows.get(key.as_str()).cloned()) {
            return Ok(row);
        }
        let row = self.0.store.config_entry(key.as_str()).await?;
        if let Ok(mut cache) = self.0.cache.lock() {
            cache
                .rows
                .insert(key.to_string(), (Instant::now(), row.clone()));
        }
        Ok(row)
    }

    fn cached<T>(&self, pick: impl FnOnce(&Cache) -> Option<(Instant, T)>) -> Option<T> {
        let cache = self.0.cache.lock().ok()?;
        pick(&cache).and_then(|(at, v)| (at.elapsed() < self.0.ttl).then_some(v))
    }

    /// The typed value of `row`, decrypting a secret.
    async fn open_row(&self, row: &ConfigRow) -> Result<ConfigValue, ConfigError> {
        let value_type: ValueType = row.value_type.parse()?;
        let text = if row.is_secret {
            let mut ring = self.ring(false).await?;
            let version = sealed_version(row)?;
            if !ring.keys.contains_key(&version) {
                // Another process may have rotated since the ring was cached.
                self.invalidate();
                ring = self.ring(false).await?;
            }
            self.open_with(&ring, row)?
        } else {
            row.value
                .clone()
                .ok_or_else(|| ConfigError::Corrupt(row.key.clone()))?
        };
        Ok(ConfigValue {
            value_type,
            is_secret: row.is_secret,
            text,
        })
    }

    fn open_with(&self, ring: &KeyRing, row: &ConfigRow) -> Result<String, ConfigError> {
        let version = sealed_version(row)?;
        let sealed = row.sealed.as_deref().unwrap_or_default();
        let key = ring
            .keys
            .get(&version)
            .ok_or_else(|| ConfigError::MissingKeyVersion {
                key: row.key.clone(),
                version,
            })?;
        crypto::open_value(key, &row.key, sealed).map_err(|_| ConfigError::Decrypt {
            key: row.key.clone(),
        })
    }

    /// The unwrapped key ring; with `create`, version 1 is made when the ring is empty.
    async fn ring(&self, create: bool) -> Result<KeyRing, ConfigError> {
        if let Some(ring) = self.cached(|c| c.ring.clone()) {
            if !(create && ring.keys.is_empty()) {
                return Ok(ring);
            }
        }
        let mut rows = self.0.store.config_keyring().await?;
        if rows.is_empty() && create {
            let data = crypto::generate_data_key(&self.0.rng).map_err(|_| ConfigError::Random)?;
            let wrapped = crypto::wrap_data_key(&self.0.master, &self.0.rng, 1, &data)
                .map_err(|_| ConfigError::Random)?;
            self.0.store.config_keyring_create_first(&wrapped).await?;
            rows = self.0.store.config_keyring().await?;
        }
        let mut keys = BTreeMap::new();
        let mut current = 0;
        for row in rows {
            let key = crypto::unwrap_data_key(&self.0.master, row.version, &row.wrapped_key)
                .map_err(|_| ConfigError::KeyRing(row.version))?;
            if row.retired_at.is_none() {
                current = current.max(row.version);
            }
            keys.insert(row.version, key);
        }
        let ring = KeyRing { current, keys };
        if let Ok(mut cache) = self.0.cache.lock() {
            cache.ring = Some((Instant::now(), ring.clone()));
        }
        Ok(ring)
    }
}

fn sealed_version(row: &ConfigRow) -> Result<i64, ConfigError> {
    let sealed = row
        .sealed
        .as_deref()
        .ok_or_else(|| ConfigError::Corrupt(row.key.clone()))?;
    crypto::sealed_version(sealed).map_err(|e| match e {
        CryptoError::Malformed => ConfigError::Decrypt {
            key: row.key.clone(),
        },
        _ => ConfigError::Random,
    })
}
