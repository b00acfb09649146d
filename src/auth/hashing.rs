//! Password hashing off the async runtime, with a cap on concurrent hashes (each Argon2id
//! hash takes ~19 MiB and a core for tens of milliseconds, so a burst of logins must queue
//! instead of exhausting memory), and transparent re-hashing when the parameters change.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::{Auth, AuthError, PasswordHasher};

/// The cap on concurrent hashes and the highest concurrency seen.
#[derive(Debug)]
pub(super) struct HashSlots {
    cap: usize,
    slots: Arc<Semaphore>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Default for HashSlots {
    fn default() -> Self {
        let cap = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Self::with_cap(cap)
    }
}

impl HashSlots {
    fn with_cap(cap: usize) -> Self {
        Self {
            cap,
            slots: Arc::new(Semaphore::new(cap)),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
}

/// Counts one running hash for as long as it lives.
struct InFlight<'a>(&'a HashSlots);

impl<'a> InFlight<'a> {
    fn start(slots: &'a HashSlots) -> Self {
        let now = slots.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        slots.peak.fetch_max(now, Ordering::SeqCst);
        metrics::gauge!("gpubroker_password_hashes_in_flight").set(now as f64);
        Self(slots)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let now = self.0.in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("gpubroker_password_hashes_in_flight").set(now as f64);
    }
}

impl Auth {
    /// The most password hashes that ever ran at once in this process, and the cap.
    pub fn hashing_peak(&self) -> (usize, usize) {
        let slots = &self.0.hashing;
        (slots.peak.load(Ordering::SeqCst), slots.cap)
    }

    /// Runs `work` with the hasher on the blocking pool once a slot is free.
    async fn with_hasher<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .0
            .hashing
            .slots
            .acquire()
            .await
            .map_err(|e| AuthError::Task(e.to_string()))?;
        let _counted = InFlight::start(&self.0.hashing);
        let hasher = self.0.hasher.clone();
        tokio::task::spawn_blocking(move || work(&hasher))
            .await
            .map_err(|e| AuthError::Task(e.to_string()))
    }

    pub(super) async fn hash(&self, password: &str) -> Result<String, AuthError> {
        let password = password.to_owned();
        Ok(self.with_hasher(move |h| h.hash(&password)).await??)
    }

    pub(super) async fn verify(&self, password: &str, hash: &str) -> Result<bool, AuthError> {
        let (password, hash) = (password.to_owned(), hash.to_owned());
        Ok(self
            .with_hasher(move |h| h.verify(&password, &hash))
            .await??)
    }

    pub(super) async fn dummy_verify(&self, password: &str) -> Result<(), AuthError> {
        let password = password.to_owned();
        self.with_hasher(move |h| h.dummy_verify(&password)).await
    }

    /// After a successful login: when `hash` was made with other parameters than today's,
    /// stores a fresh hash of `password` (the sessions of the account are untouched).
    pub(super) async fn rehash_if_needed(
        &self,
        user_id: &str,
        password: &str,
        hash: &str,
    ) -> Result<(), AuthError> {
        if !self.0.hasher.needs_rehash(hash) {
            return Ok(());
        }
        let fresh = self.hash(password).await?;
        if self.0.store.user_rehash(user_id, hash, &fresh).await? {
            tracing::info!(user_id, "password re-hashed with the current parameters");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_and_tracks_the_peak() {
        let slots = HashSlots::with_cap(3);
        {
            let _a = InFlight::start(&slots);
            let _b = InFlight::start(&slots);
            assert_eq!(slots.in_flight.load(Ordering::SeqCst), 2);
        }
        let _c = InFlight::start(&slots);
        assert_eq!(slots.in_flight.load(Ordering::SeqCst), 1);
        assert_eq!(slots.peak.load(Ordering::SeqCst), 2);
    }
}
