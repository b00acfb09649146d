//! The event bus: typed events published by ingestion (offers, source health) and by the
//! account features (per-user notifications), fanned out to in-process consumers such as
//! the WebSocket gateway.
//!
//! Events travel in batches (one per ingest) through a bounded `tokio::sync::broadcast`
//! channel: publishing never waits, and a consumer that falls behind by more than the
//! channel's capacity is told how many batches it missed (`Lagged`) instead of slowing
//! the publisher or growing memory. [`EventBus`] is the seam for the cross-replica bus
//! ([`replica`]: PostgreSQL LISTEN/NOTIFY carrying ids, re-published locally on each
//! replica).

use std::fmt;
use std::sync::{Arc, OnceLock};

use tokio::sync::broadcast;

use crate::catalog::live::{Freshness, SourceStatus};
use crate::domain::offer::Offer;

pub mod replica;

/// Batches a consumer may fall behind before it is told it lagged.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One batch of events, shared by every consumer.
#[derive(Debug)]
pub struct EventBatch {
    /// When the batch was published (after the changes were committed).
    pub published_at: chrono::DateTime<chrono::Utc>,
    pub events: Vec<Event>,
}

/// A published batch as consumers receive it.
pub type SharedBatch = Arc<EventBatch>;

/// Something that happened, as consumers see it.
#[derive(Debug)]
pub enum Event {
    /// `offer.added`, `offer.price_changed` or `offer.removed`.
    Offer(Box<OfferEvent>),
    /// `provider.status`: a source's freshness changed.
    ProviderStatus(ProviderStatusEvent),
    /// `user.notification`: something for one signed-in user.
    Notification(UserNotification),
    /// The live offers of a source (its id) changed in the database, whether or not an
    /// offer event says so (an attribute other than the price moved). Replicas reload it.
    SourceStored(String),
    /// Configuration entries changed (possibly on another replica): cached reads of them,
    /// such as the JWT signing keys, must be dropped.
    ConfigChanged,
    /// Events may have been missed (the cross-replica listener reconnected): consumers
    /// must rebuild their view (WebSocket clients get `resync_required` and snapshots).
    Resync,
}

/// What happened to an offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferChange {
    /// New, or back after vanishing.
    Added,
    /// Price, spot price or availability moved.
    PriceChanged,
    /// No longer reported by its source.
    Removed,
}

impl OfferChange {
    /// The event kind on the wire.
    pub fn kind(self) -> &'static str {
        match self {
            OfferChange::Added => "offer.added",
            OfferChange::PriceChanged => "offer.price_changed",
            OfferChange::Removed => "offer.removed",
        }
    }
}

/// An offer change. For `Removed`, `offer` is the offer as it was last seen.
pub struct OfferEvent {
    pub change: OfferChange,
    pub offer: Offer,
    /// The offer before a price change.
    pub previous: Option<Offer>,
    /// The offer's JSON view, rendered once by the first consumer that needs it and then
    /// shared by all (rendering 10k times per event would dominate fan-out).
    pub rendered: OnceLock<Arc<str>>,
}

impl OfferEvent {
    /// A new event with nothing rendered yet.
    pub fn new(change: OfferChange, offer: Offer, previous: Option<Offer>) -> Self {
        Self {
            change,
            offer,
            previous,
            rendered: OnceLock::new(),
        }
    }
}

impl fmt::Debug for OfferEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfferEvent")
            .field("change", &self.change)
            .field("offer", &self.offer.id)
            .finish_non_exhaustive()
    }
}

/// A source's freshness moved (fresh, failing, stale).
#[derive(Clone, Debug)]
pub struct ProviderStatusEvent {
    pub status: SourceStatus,
    /// Freshness before the change; `None` for a source seen for the first time.
    pub previous: Option<Freshness>,
}

/// A notification for one user (pod state, budget alert, payment, …).
#[derive(Clone, Debug)]
pub struct UserNotification {
    pub user_id: String,
    /// What it is about, e.g. `pod.state`, `budget.alert`, `payment.succeeded`.
    pub kind: String,
    pub payload: serde_json::Value,
}

/// Publishes event batches and hands out receivers.
///
/// Implementations must never block the publisher on a slow consumer.
pub trait EventBus: Send + Sync + fmt::Debug {
    /// Publishes `events` as one batch; an empty batch is dropped.
    fn publish(&self, events: Vec<Event>);
    /// A receiver of every batch published from now on.
    fn subscribe(&self) -> broadcast::Receiver<SharedBatch>;
}

/// The in-process bus (single node, and the local half of a cross-replica bus).
#[derive(Debug)]
pub struct LocalBus {
    sender: broadcast::Sender<SharedBatch>,
}

impl LocalBus {
    /// A bus whose consumers may fall `capacity` batches behind (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl EventBus for LocalBus {
    fn publish(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let count = events.len();
        // An error only means that nobody listens right now.
        let batch = EventBatch {
            published_at: chrono::Utc::now(),
            events,
        };
        if self.sender.send(Arc::new(batch)).is_ok() {
            metrics::counter!("events_published_total").increment(count as u64);
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<SharedBatch> {
        self.sender.subscribe()
    }
}

/// A shared handle on the bus.
pub type SharedBus = Arc<dyn EventBus>;

/// The default bus: in-process.
pub fn local_bus() -> SharedBus {
    Arc::new(LocalBus::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(user: &str) -> Event {
        Event::Notification(UserNotification {
            user_id: user.into(),
            kind: "test".into(),
            payload: serde_json::json!({"n": 1}),
        })
    }

    #[tokio::test]
    async fn batches_reach_every_receiver_and_empty_ones_are_dropped() {
        let bus = LocalBus::new(4);
        let mut a = bus.subscribe();
        let mut b = bus.subscribe();
        bus.publish(Vec::new());
        bus.publish(vec![note("u1"), note("u2")]);
        for rx in [&mut a, &mut b] {
            let batch = rx.recv().await.unwrap();
            assert_eq!(batch.events.len(), 2);
            assert!(rx.try_recv().is_err(), "the empty batch was not sent");
        }
    }

    #[tokio::test]
    async fn a_slow_receiver_lags_instead_of_blocking_the_publisher() {
        let bus = LocalBus::new(2);
        let mut slow = bus.subscribe();
        for _ in 0..5 {
            bus.publish(vec![note("u")]);
        }
        match slow.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 3),
            other => panic!("expected a lag, got {other:?}"),
        }
    }
}
