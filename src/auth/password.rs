//! Password hashing with Argon2id (OWASP parameters by default).

use std::sync::{Arc, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id memory cost, KiB (OWASP).
pub const MEMORY_KIB: u32 = 19_456;
/// Argon2id iterations (OWASP).
pub const ITERATIONS: u32 = 2;
/// Argon2id parallelism (OWASP).
pub const PARALLELISM: u32 = 1;

/// A password hashing failure (bad parameters or a corrupt stored hash).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    params: Params,
    /// A hash of a random password, verified against when an account does not exist so
    /// that unknown emails cost as much time as wrong passwords.
    dummy: Arc<OnceLock<String>>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::with_params(MEMORY_KIB, ITERATIONS, PARALLELISM).unwrap_or_else(|_| Self {
            params: Params::default(),
            dummy: Arc::default(),
        })
    }
}

impl PasswordHasher {
    /// A hasher with other Argon2id costs (tests use cheap ones).
    pub fn with_params(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    ) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| HashError(e.to_string()))?;
        Ok(Self {
            params,
            dummy: Arc::default(),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The PHC string of `password` with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Whether `password` matches the PHC string `hash` (parameters taken from the hash).
    pub fn verify(&self, password: &str, hash: &str) -> Result<bool, HashError> {
        let parsed = PasswordHash::new(hash).map_err(|e| HashError(e.to_string()))?;
        Ok(self
            .argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }

    /// Whether `hash` was made with another algorithm or other parameters than this
    /// hasher's (then it should be replaced at the next successful login).
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return true;
        };
        let param = |name: &str| parsed.params.get_decimal(name);
        parsed.algorithm.as_str() != "argon2id"
            || param("m") != Some(self.params.m_cost())
            || param("t") != Some(self.params.t_cost())
            || param("p") != Some(self.params.p_cost())
    }

    /// Spends the time of one verification for an account that does not exist.
    pub fn dummy_verify(&self, password: &str) {
        let dummy = match self.dummy.get() {
            Some(d) => d.clone(),
            None => match self.hash("dummy password for absent accounts") {
                Ok(h) => self.dummy.get_or_init(|| h).clone(),
                Err(_) => return,
            },
        };
        let _ = self.verify(password, &dummy);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let hasher = PasswordHasher::with_params(64, 1, 1).unwrap();
        let a = hasher.hash("correct horse battery").unwrap();
        let b = hasher.hash("correct horse battery").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify("correct horse battery", &a).unwrap());
        assert!(!hasher.verify("wrong horse battery", &a).unwrap());
        assert!(hasher.verify("x", "not a phc string").is_err());
        hasher.dummy_verify("anything");
    }

    #[test]
    fn long_passwords_are_not_truncated() {
        let hasher = PasswordHasher::with_params(64, 1, 1).unwrap();
        let long = "a".repeat(99) + "b";
        let hash = hasher.hash(&long).unwrap();
        assert!(hasher.verify(&long, &hash).unwrap());
        assert!(!hasher.verify(&("a".repeat(99) + "c"), &hash).unwrap());
        assert!(!hasher.verify(&"a".repeat(99), &hash).unwrap());
    }

    #[test]
    fn hashes_with_other_parameters_need_a_rehash() {
        let weak = PasswordHasher::with_params(64, 1, 1).unwrap();
        let strong = PasswordHasher::with_params(128, 2, 1).unwrap();
        let hash = weak.hash("correct horse battery").unwrap();
        assert!(!weak.needs_rehash(&hash));
        assert!(strong.needs_rehash(&hash));
        assert!(strong.needs_rehash("$argon2i$v=19$m=128,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"));
        assert!(strong.needs_rehash("not a phc string"));
        assert!(!strong.needs_rehash(&strong.hash("x").unwrap()));
    }

    #[test]
    fn default_parameters_are_owasp() {
        let hasher = PasswordHasher::default();
        assert_eq!(
            (
                hasher.params.m_cost(),
                hasher.params.t_cost(),
                hasher.params.p_cost()
            ),
            (19_456, 2, 1)
        );
    }
}
