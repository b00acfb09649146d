//! Leader leases for singleton workers: [`Leases::run_while_leader`] runs a piece of work
//! only while this replica holds the named lease, renews it in the background, stops the
//! work when the lease is lost, and takes over when the holder dies (its lease expires).
//!
//! On SQLite there is one process, so the lease is always granted, but it goes through
//! the same statements. Each term carries a fencing token that rises when the lease
//! changes hands; work can pass it to writes that must refuse a deposed leader.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::settings::LeaseSettings;
use crate::store::Store;

/// How long work may take to stop after its lease is lost or the process shuts down.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One term of leadership, handed to the work.
#[derive(Clone, Debug)]
pub struct Leadership {
    /// The lease name.
    pub name: String,
    /// The fencing token of this term.
    pub fencing_token: i64,
    /// Cancelled when the lease is lost or the process shuts down: the work must stop.
    pub token: CancellationToken,
}

/// The leases of this replica; cheap to clone.
#[derive(Clone, Debug)]
pub struct Leases {
    store: Store,
    holder: String,
    settings: LeaseSettings,
    held: Arc<Mutex<BTreeMap<String, i64>>>,
}

impl Leases {
    /// Leases taken for `holder` (this replica's id) with the TTL and renewal of `settings`.
    pub fn new(store: Store, holder: String, settings: LeaseSettings) -> Self {
        Self {
            store,
            holder,
            settings,
            held: Arc::default(),
        }
    }

    /// This replica's holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The leases this replica holds now, with their fencing tokens.
    pub fn held(&self) -> BTreeMap<String, i64> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `work` whenever this replica holds the lease `name`, until `shutdown` fires.
    ///
    /// The lease is tried every renewal interval. Once held, `work` starts with a
    /// [`Leadership`]; the lease is renewed every interval, and when a renewal finds it
    /// taken, or renewals keep failing until the lease would expire, the leadership token
    /// is cancelled and `work` gets [`STOP_GRACE`] to return before it is dropped. When
    /// `work` returns on its own the lease is released and this returns. On shutdown the
    /// lease is released so another replica takes over at once.
    pub async fn run_while_leader<F, Fut>(
        &self,
        name: &str,
        shutdown: CancellationToken,
        mut work: F,
    ) where
        F: FnMut(Leadership) -> Fut,
        Fut: Future<Output = ()>,
    {
        let ttl = self.settings.ttl;
        let every = self.settings.renew_every;
        while !shutdown.is_cancelled() {
            let Some(fencing_token) = self.try_acquire(name).await else {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(every) => continue,
                }
            };
            tracing::info!(lease = name, holder = %self.holder, fencing_token, "lease acquired");
            self.set_held(name, Some(fencing_token));
            let lead = Leadership {
                name: name.to_owned(),
                fencing_token,
                token: shutdown.child_token(),
            };
            let stop = lead.token.clone();
            let run = work(lead);
            tokio::pin!(run);
            // Renewals must succeed before this instant (less a margin of one interval, so
            // the work stops before another replica may start).
            let mut valid_until = Instant::now() + ttl.saturating_sub(every);
            let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            let finished = loop {
                tokio::select! {
                    () = &mut run => break true,
                    () = stop.cancelled() => break false,
                    _ = renew.tick() => match self.store.lease_acquire(name, &self.holder, crate::store::now(), expiry(ttl)).await {
                        Ok(Some(t)) if t == fencing_token => valid_until = Instant::now() + ttl.saturating_sub(every),
                        Ok(_) => {
                            tracing::warn!(lease = name, fencing_token, "lease lost to another replica; stopping its work");
                            break false;
                        }
                        Err(e) if Instant::now() >= valid_until => {
                            tracing::warn!(lease = name, error = %e, "lease could not be renewed in time; stopping its work");
                            break false;
                        }
                        Err(e) => tracing::warn!(lease = name, error = %e, "lease renewal failed; retrying"),
                    },
                }
            };
            stop.cancel();
            if !finished && tokio::time::timeout(STOP_GRACE, &mut run).await.is_err() {
                tracing::warn!(lease = name, "work did not stop in time; dropping it");
            }
            self.set_held(name, None);
            if finished || shutdown.is_cancelled() {
                self.release(name, fencing_token).await;
            }
            if finished {
                return;
            }
        }
    }

    async fn try_acquire(&self, name: &str) -> Option<i64> {
        match self
            .store
            .lease_acquire(
                name,
                &self.holder,
                crate::store::now(),
                expiry(self.settings.ttl),
            )
            .await
        {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "cannot try the lease");
                None
            }
        }
    }

    async fn release(&self, name: &str, fencing_token: i64) {
        match self
            .store
            .lease_release(name, &self.holder, fencing_token, crate::store::now())
            .await
        {
            Ok(true) => tracing::info!(lease = name, fencing_token, "lease released"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(lease = name, error = %e, "cannot release the lease; it expires on its own");
            }
        }
    }

    fn set_held(&self, name: &str, token: Option<i64>) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        match token {
            Some(t) => held.insert(name.to_owned(), t),
            None => held.remove(name),
        };
        metrics::gauge!("leases_held").set(held.len() as f64);
    }
}

/// When a lease taken now for `ttl` expires.
fn expiry(ttl: Duration) -> chrono::DateTime<chrono::Utc> {
    // The TTL is validated to at most an hour, so the fallback is never taken.
    let now = crate::store::now();
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|ttl| now.checked_add_signed(ttl))
        .unwrap_or(now)
}
