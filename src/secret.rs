//! The master key: 32 random bytes that protect the encrypted configuration store.
//!
//! It is never printed: `Debug` shows only a short fingerprint. In development a key is
//! generated on first start into the data dir with mode 0600; in production it must be
//! given (inline base64 or a file).

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Length of the master key in bytes (AES-256).
pub const MASTER_KEY_LEN: usize = 32;

/// A 256-bit master key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

/// Why a master key could not be read or created.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key must be base64 of exactly 32 bytes")]
    Malformed,
    #[error("cannot read master key file: {0}")]
    Read(std::io::Error),
    #[error("cannot write master key file: {0}")]
    Write(std::io::Error),
    #[error("master key file is readable by other users (mode {0:o}); chmod 600 it")]
    Permissive(u32),
    #[error("cannot generate random bytes: {0}")]
    Random(String),
}

impl MasterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self, MasterKeyError> {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        getrandom::fill(&mut bytes).map_err(|e| MasterKeyError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Parses base64 (standard alphabet, surrounding whitespace ignored).
    pub fn from_base64(raw: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(raw.trim())
            .map_err(|_| MasterKeyError::Malformed)?;
        let bytes: [u8; MASTER_KEY_LEN] =
            bytes.try_into().map_err(|_| MasterKeyError::Malformed)?;
        Ok(Self(bytes))
    }

    /// The key as base64, for writing the key file.
    fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// The raw bytes, for the cipher.
    pub fn as_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }

    /// A short non-secret identifier of the key (first bytes of a hash), safe to log.
    pub fn fingerprint(&self) -> String {
        let digest = ring_digest(&self.0);
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads a key file; with `strict`, a file readable by group or others is refused.
    pub fn read_file(path: &Path, strict: bool) -> Result<Self, MasterKeyError> {
        let text = std::fs::read_to_string(path).map_err(MasterKeyError::Read)?;
        if strict {
            let mode = file_mode(path).map_err(MasterKeyError::Read)?;
            if mode & 0o077 != 0 {
                return Err(MasterKeyError::Permissive(mode & 0o777));
            }
        }
        Self::from_base64(&text)
    }

    /// Reads the key at `path`, or generates one there (mode 0600) if it does not exist.
    pub fn load_or_generate(path: &Path) -> Result<(Self, bool), MasterKeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_base64(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                write_private(path, key.to_base64().as_bytes()).map_err(MasterKeyError::Write)?;
                Ok((key, true))
            }
            Err(e) => Err(MasterKeyError::Read(e)),
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(fingerprint {})", self.fingerprint())
    }
}

fn ring_digest(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// Creates `path` with mode 0600 (owner read/write only) and writes `bytes`.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn file_mode(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode())
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> std::io::Result<u32> {
    Ok(0o600)
}
