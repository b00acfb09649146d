//! AES-256-GCM sealing for the configuration store (ring): data keys and sealed values.
//!
//! Every seal draws a fresh random 96-bit nonce. A sealed entry value is
//! `v<keyversion>.<nonce b64>.<ciphertext+tag b64>` with the entry's key name as associated
//! data, so a value copied to another key does not open. A data key is sealed with the
//! master key as `<nonce b64>.<ciphertext+tag b64>` with AAD `gpubroker-keyring-v<N>`.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// Length of a data key in bytes.
pub const DATA_KEY_LEN: usize = 32;

/// Why sealing or opening failed; never carries plaintext.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, tampered bytes or wrong associated data.
    #[error("authentication failed")]
    Open,
    /// The text is not in the sealed format.
    #[error("malformed sealed value")]
    Malformed,
    /// The random generator failed.
    #[error("random generator failed")]
    Random,
}

/// An AES-256-GCM key (a data key or the master key); `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SealingKey(LessSafeKey);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(..)")
    }
}

impl SealingKey {
    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; DATA_KEY_LEN]) -> Result<Self, CryptoError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::Malformed)?;
        Ok(Self(LessSafeKey::new(unbound)))
    }

    /// Encrypts `plaintext` bound to `aad`; returns `<nonce b64>.<ciphertext+tag b64>`.
    pub fn seal(
        &self,
        rng: &SystemRandom,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<String, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut in_out = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Random)?;
        Ok(format!(
            "{}.{}",
            STANDARD.encode(nonce),
            STANDARD.encode(in_out)
        ))
    }

    /// Decrypts `<nonce b64>.<ciphertext+tag b64>` sealed with this key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &str) -> Result<Vec<u8>, CryptoError> {
        let (nonce, ciphertext) = sealed.split_once('.').ok_or(CryptoError::Malformed)?;
        let nonce: [u8; NONCE_LEN] = STANDARD
            .decode(nonce)
            .map_err(|_| CryptoError::Malformed)?
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        let mut in_out = STANDARD
            .decode(ciphertext)
            .map_err(|_| CryptoError::Malformed)?;
        let plain = self
            .0
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| CryptoError::Open)?;
        Ok(plain.to_vec())
    }
}

/// Associated data of key-ring version `version`.
pub fn keyring_aad(version: i64) -> String {
    format!("gpubroker-keyring-v{version}")
}

/// A fresh random data key.
pub fn generate_data_key(rng: &SystemRandom) -> Result<[u8; DATA_KEY_LEN], CryptoError> {
    let mut key = [0u8; DATA_KEY_LEN];
    rng.fill(&mut key).map_err(|_| CryptoError::Random)?;
    Ok(key)
}

/// Seals data key `key` of ring version `version` with the master key.
pub fn wrap_data_key(
    master: &SealingKey,
    rng: &SystemRandom,
    version: i64,
    key: &[u8; DATA_KEY_LEN],
) -> Result<String, CryptoError> {
    master.seal(rng, keyring_aad(version).as_bytes(), key)
}

/// Opens data key `version` sealed by [`wrap_data_key`].
pub fn unwrap_data_key(
    master: &SealingKey,
    version: i64,
    wrapped: &str,
) -> Result<SealingKey, CryptoError> {
    let bytes = master.open(keyring_aad(version).as_bytes(), wrapped)?;
    let bytes: [u8; DATA_KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::Malformed)?;
    SealingKey::from_bytes(&bytes)
}

/// Seals an entry value with data key `version`: `v<version>.<nonce>.<ciphertext+tag>`.
pub fn seal_value(
    key: &SealingKey,
    rng: &SystemRandom,
    version: i64,
    name: &str,
    plaintext: &str,
) -> Result<String, CryptoError> {
    Ok(format!(
        "v{version}.{}",
        key.seal(rng, name.as_bytes(), plaintext.as_bytes())?
    ))
}

/// The key-ring version a sealed entry value names.
pub fn sealed_version(sealed: &str) -> Result<i64, CryptoError> {
    let (version, _) = sealed.split_once('.').ok_or(CryptoError::Malformed)?;
    version
        .strip_prefix('v')
        .and_then(|v| v.parse().ok())
        .ok_or(CryptoError::Malformed)
}

/// Opens an entry value sealed by [`seal_value`] for entry `name`.
pub fn open_value(key: &SealingKey, name: &str, sealed: &str) -> Result<String, CryptoError> {
    let (_, rest) = sealed.split_once('.').ok_or(CryptoError::Malformed)?;
    let bytes = key.open(name.as_bytes(), rest)?;
    String::from_utf8(bytes).map_err(|_| CryptoError::Malformed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn key(byte: u8) -> SealingKey {
        SealingKey::from_bytes(&[byte; DATA_KEY_LEN]).unwrap()
    }

    #[test]
    fn round_trip_and_format() {
        let rng = SystemRandom::new();
        let sealed = seal_value(&key(1), &rng, 7, "db.password", "hunter2").unwrap();
        let parts: Vec<&str> = sealed.split('.').collect();
        assert_eq!(parts.len(), 3, "{sealed}");
        assert_eq!(parts[0], "v7");
        assert_eq!(STANDARD.decode(parts[1]).unwrap().len(), NONCE_LEN);
        assert_eq!(
            STANDARD.decode(parts[2]).unwrap().len(),
            "hunter2".len() + 16
        );
        assert_eq!(sealed_version(&sealed).unwrap(), 7);
        assert_eq!(
            open_value(&key(1), "db.password", &sealed).unwrap(),
            "hunter2"
        );
    }

    #[test]
    fn nonces_are_unique_across_1000_seals() {
        let rng = SystemRandom::new();
        let k = key(2);
        let nonces: HashSet<String> = (0..1000)
            .map(|_| {
                let sealed = seal_value(&k, &rng, 1, "same.key", "same value").unwrap();
                sealed.split('.').nth(1).unwrap().to_owned()
            })
            .collect();
        assert_eq!(nonces.len(), 1000);
    }

    #[test]
    fn associated_data_binds_the_key_name() {
        let rng = SystemRandom::new();
        let sealed = seal_value(&key(3), &rng, 1, "api.token", "secret").unwrap();
        assert_eq!(
            open_value(&key(3), "api.token2", &sealed),
            Err(CryptoError::Open)
        );
        assert_eq!(
            open_value(&key(4), "api.token", &sealed),
            Err(CryptoError::Open)
        );
    }

    #[test]
    fn tampering_and_malformed_text_fail_cleanly() {
        let rng = SystemRandom::new();
        let sealed = seal_value(&key(5), &rng, 1, "k", "value").unwrap();
        let mut parts: Vec<String> = sealed.split('.').map(str::to_owned).collect();
        let mut body = STANDARD.decode(&parts[2]).unwrap();
        body[0] ^= 1;
        parts[2] = STANDARD.encode(body);
        assert_eq!(
            open_value(&key(5), "k", &parts.join(".")),
            Err(CryptoError::Open)
        );
        assert_eq!(
            open_value(&key(5), "k", "v1.!!.??"),
            Err(CryptoError::Malformed)
        );
        assert_eq!(sealed_version("x1.a.b"), Err(CryptoError::Malformed));
    }

    #[test]
    fn data_keys_are_bound_to_their_version() {
        let rng = SystemRandom::new();
        let master = key(9);
        let data = generate_data_key(&rng).unwrap();
        let wrapped = wrap_data_key(&master, &rng, 3, &data).unwrap();
        assert!(unwrap_data_key(&master, 3, &wrapped).is_ok());
        assert_eq!(
            unwrap_data_key(&master, 4, &wrapped).err(),
            Some(CryptoError::Open)
        );
        assert_eq!(
            unwrap_data_key(&key(8), 3, &wrapped).err(),
            Some(CryptoError::Open)
        );
    }
}
