//! The JWT signing keys: the current key signs; after a rotation the previous key still
//! verifies until every token it signed has expired (15 minutes plus leeway), then it is
//! retired and its tokens are refused. Both live in the configuration store as sealed
//! secrets; a key's `kid` is derived from the key itself (first 16 hex digits of the
//! SHA-256 of its PKCS#8 DER), so a key and its id can never disagree.
//!
//! Each process caches the keys for a minute and reloads at once (at most every few
//! seconds) when a token names a `kid` it does not know, so a rotation by the CLI or by
//! another replica is picked up without a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::jwt::{self, AccessClaims, JwtError, JwtKeys, KeyError, ACCESS_TTL_SECS, LEEWAY_SECS};
use super::{sha256_hex, Auth, AuthError, AUDIENCE, KID_CONFIG, SIGNING_KEY_CONFIG};
use crate::config::{Category, ConfigStore, SetOptions};

/// Config key of the previous signing key (secret), kept for the grace period.
pub const PREVIOUS_KEY_CONFIG: &str = "security.jwt_previous_signing_key";
/// Config key of the end of the previous key's grace period (RFC 3339).
pub const PREVIOUS_UNTIL_CONFIG: &str = "security.jwt_previous_valid_until";
/// How long loaded keys are used before they are read again.
const RELOAD_AFTER: Duration = Duration::from_secs(60);
/// Least time between reloads forced by an unknown `kid`.
const FORCED_RELOAD_AFTER: Duration = Duration::from_secs(5);

/// The keys that sign and verify access tokens.
#[derive(Debug)]
pub struct KeySet {
    pub current: JwtKeys,
    /// The key before the last rotation and the end of its grace period (Unix seconds).
    pub previous: Option<(JwtKeys, i64)>,
}

impl KeySet {
    /// The claims of a valid token signed by the current key, or by the previous key
    /// within its grace period ([`JwtError::Retired`] after it).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, JwtError> {
        if let Some((previous, until)) = &self.previous {
            if jwt::header_kid(token).as_deref() == Some(previous.kid())
                && previous.kid() != self.current.kid()
            {
                if now > *until {
                    return Err(JwtError::Retired);
                }
                return previous.verify(token, now);
            }
        }
        self.current.verify(token, now)
    }

    /// The public keys as a JSON Web Key Set (RFC 7517): the current key, and the previous
    /// one while it still verifies.
    pub fn jwks(&self, now: i64) -> Jwks {
        let mut keys = vec![Jwk::of(&self.current)];
        if let Some((previous, until)) = &self.previous {
            if now <= *until && previous.kid() != self.current.kid() {
                keys.push(Jwk::of(previous));
            }
        }
        Jwks { keys }
    }
}

/// A JSON Web Key Set.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One RSA public key as a JWK.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Always `RS256`.
    pub alg: String,
    pub kid: String,
    /// Modulus, base64url big-endian.
    pub n: String,
    /// Public exponent, base64url big-endian.
    pub e: String,
}

impl Jwk {
    fn of(keys: &JwtKeys) -> Self {
        let (n, e) = keys.public_components();
        Self {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: jwt::ALG.into(),
            kid: keys.kid().to_owned(),
            n: B64URL.encode(n),
            e: B64URL.encode(e),
        }
    }
}

/// The outcome of a rotation.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Rotation {
    pub kid: String,
    pub previous_kid: String,
    /// Tokens of the previous key verify until then.
    pub previous_valid_until: DateTime<Utc>,
}

/// The `kid` of a PKCS#8 key.
pub fn kid_of(der: &[u8]) -> String {
    sha256_hex(der)[..16].to_owned()
}

/// Loaded keys and when they were read.
#[derive(Debug)]
pub(super) struct Cached {
    set: Arc<KeySet>,
    at: Instant,
}

impl Auth {
    /// The signing keys, read from (or, the first time, generated into) the configuration
    /// store and cached for a minute.
    pub async fn keys(&self) -> Result<Arc<KeySet>, AuthError> {
        self.keys_within(RELOAD_AFTER).await
    }

    /// Reads the keys again now (after an out-of-band change to the configuration store).
    pub async fn reload_keys(&self) -> Result<Arc<KeySet>, AuthError> {
        self.keys_within(Duration::ZERO).await
    }

    /// The keys, reloaded when the cached ones are older than `max_age`.
    async fn keys_within(&self, max_age: Duration) -> Result<Arc<KeySet>, AuthError> {
        if let Some(cached) = self.0.keys.read().await.as_ref() {
            if cached.at.elapsed() < max_age {
                return Ok(cached.set.clone());
            }
        }
        let mut slot = self.0.keys.write().await;
        if let Some(cached) = slot.as_ref() {
            if cached.at.elapsed() < max_age {
                return Ok(cached.set.clone());
            }
        }
        let set = Arc::new(self.load_keys().await?);
        *slot = Some(Cached {
            set: set.clone(),
            at: Instant::now(),
        });
        Ok(set)
    }

    /// Verifies a token's signature and claims, reloading the keys once when it names a key
    /// this process has not seen (rotated elsewhere).
    pub(super) async fn verify_signature(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let now = Utc::now().timestamp();
        match self.keys().await?.verify(token, now) {
            Err(JwtError::UnknownKid) => Ok(self
                .keys_within(FORCED_RELOAD_AFTER)
                .await?
                .verify(token, now)?),
            other => Ok(other?),
        }
    }

    /// Replaces the signing key: a new key signs from now on, the old one verifies for
    /// one more token lifetime. Audited.
    pub async fn rotate_signing_key(&self, actor: &str) -> Result<Rotation, AuthError> {
        let old = self.keys_within(Duration::ZERO).await?;
        let config = self.config()?;
        let old_der = config
            .get(SIGNING_KEY_CONFIG)
            .await?
            .ok_or_else(|| KeyError("the signing key vanished during rotation".into()))?;
        let until = Utc::now() + chrono::Duration::seconds(ACCESS_TTL_SECS + LEEWAY_SECS);
        // The previous key first: a crash before the new key is written leaves both
        // entries holding the same key, which verifies exactly as before.
        let options = |secret: bool, description: &str| SetOptions {
            secret: Some(secret),
            category: Some(Category::Security),
            description: Some(description.to_owned()),
            value_type: None,
        };
        config
            .set(
                PREVIOUS_KEY_CONFIG,
                &old_der.text,
                options(
                    true,
                    "previous JWT signing key, verifying until its grace ends",
                ),
                actor,
            )
            .await?;
        config
            .set(
                PREVIOUS_UNTIL_CONFIG,
                &until.to_rfc3339(),
                options(false, "end of the previous JWT signing key's grace period"),
                actor,
            )
            .await?;
        let kid = self.generate_signing_key(&config, actor).await?;
        self.0
            .store
            .audit_append(
                actor,
                "auth.jwt_key_rotated",
                Some(&format!("jwt:{kid}")),
                serde_json::json!({ "previous_kid": old.current.kid(), "previous_valid_until": until.to_rfc3339() }),
            )
            .await?;
        self.keys_within(Duration::ZERO).await?;
        Ok(Rotation {
            kid,
            previous_kid: old.current.kid().to_owned(),
            previous_valid_until: until,
        })
    }

    fn config(&self) -> Result<ConfigStore, AuthError> {
        Ok(ConfigStore::with_ttl(
            self.0.store.clone(),
            &self.0.master_key,
            Duration::ZERO,
        )?)
    }

    async fn load_keys(&self) -> Result<KeySet, AuthError> {
        let config = self.config()?;
        let der = match config.get(SIGNING_KEY_CONFIG).await? {
            Some(key) => decode(&key.text, SIGNING_KEY_CONFIG)?,
            None => {
                self.generate_signing_key(&config, "system").await?;
                let key = config
                    .get(SIGNING_KEY_CONFIG)
                    .await?
                    .ok_or_else(|| KeyError("the new signing key was not stored".into()))?;
                decode(&key.text, SIGNING_KEY_CONFIG)?
            }
        };
        let current = self.jwt_keys(&der)?;
        let previous = match (
            config.get(PREVIOUS_KEY_CONFIG).await?,
            config.get(PREVIOUS_UNTIL_CONFIG).await?,
        ) {
            (Some(key), Some(until)) => {
                let until = DateTime::parse_from_rfc3339(until.text.trim())
                    .map_err(|e| KeyError(format!("{PREVIOUS_UNTIL_CONFIG}: {e}")))?;
                let der = decode(&key.text, PREVIOUS_KEY_CONFIG)?;
                Some((self.jwt_keys(&der)?, until.timestamp()))
            }
            _ => None,
        };
        Ok(KeySet { current, previous })
    }

    fn jwt_keys(&self, der: &[u8]) -> Result<JwtKeys, AuthError> {
        Ok(JwtKeys::from_pkcs8(
            &kid_of(der),
            der,
            &self.0.issuer,
            AUDIENCE,
        )?)
    }

    /// Generates a key, stores it as the current signing key; returns its kid.
    async fn generate_signing_key(
        &self,
        config: &ConfigStore,
        actor: &str,
    ) -> Result<String, AuthError> {
        let der = tokio::task::spawn_blocking(jwt::generate_pkcs8)
            .await
            .map_err(|e| AuthError::Task(e.to_string()))??;
        let kid = kid_of(&der);
        let options = |secret: bool, description: &str| SetOptions {
            secret: Some(secret),
            category: Some(Category::Security),
            description: Some(description.to_owned()),
            value_type: None,
        };
        config
            .set(
                SIGNING_KEY_CONFIG,
                &STANDARD.encode(&der),
                options(true, "RSA key signing access tokens (PKCS#8 DER, base64)"),
                actor,
            )
            .await?;
        config
            .set(
                KID_CONFIG,
                &kid,
                options(false, "id (kid) of the JWT signing key"),
                actor,
            )
            .await?;
        tracing::info!(kid, "generated a JWT signing key");
        Ok(kid)
    }
}

fn decode(text: &str, name: &str) -> Result<Vec<u8>, KeyError> {
    STANDARD
        .decode(text.trim())
        .map_err(|e| KeyError(format!("{name} is not base64: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn keys(der: &[u8]) -> JwtKeys {
        JwtKeys::from_pkcs8(&kid_of(der), der, "iss", "aud").unwrap()
    }

    #[test]
    fn previous_key_verifies_until_its_grace_ends_then_is_retired() {
        let (old_der, new_der) = (
            jwt::generate_pkcs8().unwrap(),
            jwt::generate_pkcs8().unwrap(),
        );
        let now = 1_800_000_000;
        let old_token = keys(&old_der).issue("u", "user", 0, now).unwrap().0;
        let set = KeySet {
            current: keys(&new_der),
            previous: Some((keys(&old_der), now + 60)),
        };
        assert_eq!(set.verify(&old_token, now + 10).unwrap().sub, "u");
        assert_eq!(set.verify(&old_token, now + 61), Err(JwtError::Retired));
        let new_token = set.current.issue("v", "user", 0, now).unwrap().0;
        assert_eq!(set.verify(&new_token, now + 61).unwrap().sub, "v");
        assert_eq!(set.jwks(now).keys.len(), 2);
        assert_eq!(set.jwks(now + 61).keys.len(), 1);

        let stranger = jwt::generate_pkcs8().unwrap();
        let foreign = keys(&stranger).issue("u", "user", 0, now).unwrap().0;
        assert_eq!(set.verify(&foreign, now), Err(JwtError::UnknownKid));
    }

    #[test]
    fn jwks_publishes_the_rsa_public_key() {
        let der = jwt::generate_pkcs8().unwrap();
        let k = keys(&der);
        let jwk = &KeySet {
            current: k,
            previous: None,
        }
        .jwks(0)
        .keys[0];
        assert_eq!((jwk.kty.as_str(), jwk.alg.as_str()), ("RSA", "RS256"));
        assert_eq!(jwk.kid, kid_of(&der));
        assert_eq!(B64URL.decode(&jwk.e).unwrap(), [1, 0, 1]);
        assert_eq!(B64URL.decode(&jwk.n).unwrap().len(), 256);
        let json = serde_json::to_value(jwk).unwrap();
        assert_eq!(json["use"], "sig");
    }
}
