//! The live catalog held by the server: the current offers of every source, the snapshot
//! built from them (swapped atomically), source freshness, and the ingest path shared by
//! the background workers and `gpubroker import`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ingest::{diff, IngestDiff};
use super::Snapshot;
use crate::domain::offer::Offer;
use crate::events::{Event, OfferChange, OfferEvent, ProviderStatusEvent, SharedBus};
use crate::providers::ParseReport;
use crate::store::offers::SourceHealth;
use crate::store::{Store, StoreError};

/// Stale window for sources without a configured policy (imported files).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(86_400);

/// The live catalog.
#[derive(Debug)]
pub struct Catalog {
    by_source: Mutex<BTreeMap<String, Vec<Offer>>>,
    snapshot: RwLock<Arc<Snapshot>>,
    statuses: RwLock<Vec<SourceStatus>>,
    /// Where offer changes and source health changes are published.
    events: SharedBus,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::with_events(crate::events::local_bus())
    }
}

/// How fresh a source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Freshness {
    /// Last fetch succeeded within the stale window.
    Fresh,
    /// Last fetch failed, but the offers are still within the stale window.
    Failing,
    /// No successful fetch within the stale window: its offers are hidden by default.
    Stale,
}

/// One source's state, for `/api/v2/providers` and search warnings.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SourceStatus {
    pub source: String,
    pub freshness: Freshness,
    pub live_offers: i64,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_attempt_at: DateTime<Utc>,
    /// Last error message (never secrets), when the last fetch failed.
    pub last_error: Option<String>,
    pub last_latency_ms: Option<i64>,
    /// Successful fetches over all fetches.
    pub success_rate: f64,
}

/// What one ingest did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IngestSummary {
    pub source: String,
    pub added: usize,
    pub changed: usize,
    pub repriced: usize,
    pub closed: usize,
    pub unchanged: usize,
    pub duplicates: usize,
    pub skipped: usize,
    pub cpu_only: usize,
    pub unknown_gpus: BTreeMap<String, usize>,
    pub live: usize,
}

impl Catalog {
    /// An empty catalog publishing its changes on `events`.
    pub fn with_events(events: SharedBus) -> Self {
        Self {
            by_source: Mutex::default(),
            snapshot: RwLock::default(),
            statuses: RwLock::default(),
            events,
        }
    }

    /// The bus this catalog publishes on.
    pub fn events(&self) -> &SharedBus {
        &self.events
    }

    /// Replaces the contents with every live offer in the database.
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let mut by_source: BTreeMap<String, Vec<Offer>> = BTreeMap::new();
        for offer in store.live_offers().await? {
            by_source
                .entry(offer.source.clone())
                .or_default()
                .push(offer);
        }
        let stale = self.snapshot().stale_sources().to_vec();
        *self
            .by_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = by_source;
        self.rebuild(stale);
        Ok(())
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces one source's offers and swaps in a new snapshot.
    pub fn replace_source(&self, source: &str, offers: Vec<Offer>) {
        let stale = self.snapshot().stale_sources().to_vec();
        self.by_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(source.to_owned(), offers);
        self.rebuild(stale);
    }

    /// The last computed status of every source.
    pub fn statuses(&self) -> Vec<SourceStatus> {
        self.statuses
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Recomputes source freshness from the recorded health, hides stale sources and
    /// publishes the freshness changes.
    pub async fn refresh_freshness(
        &self,
        store: &Store,
        stale_after: &HashMap<String, Duration>,
    ) -> Result<(), StoreError> {
        let events = self.refresh_statuses(store, stale_after).await?;
        self.events.publish(events);
        Ok(())
    }

    /// Like [`Catalog::refresh_freshness`], returning the freshness changes instead of
    /// publishing them.
    pub async fn refresh_statuses(
        &self,
        store: &Store,
        stale_after: &HashMap<String, Duration>,
    ) -> Result<Vec<Event>, StoreError> {
        let statuses = freshness(&store.source_health().await?, stale_after, Utc::now());
        let stale = statuses
            .iter()
            .filter(|s| s.freshness == Freshness::Stale)
            .map(|s| s.source.clone())
            .collect();
        let previous = std::mem::replace(
            &mut *self
                .statuses
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            statuses.clone(),
        );
        self.set_stale(stale);
        let events = statuses
            .into_iter()
            .filter_map(|status| {
                let before = previous
                    .iter()
                    .find(|p| p.source == status.source)
                    .map(|p| p.freshness);
                (before != Some(status.freshness)).then(|| {
                    Event::ProviderStatus(ProviderStatusEvent {
                        status,
                        previous: before,
                    })
                })
            })
            .collect();
        Ok(events)
    }

    /// The offers of `source` as this catalog holds them.
    pub fn offers_of(&self, source: &str) -> Vec<Offer> {
        self.by_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(source)
            .cloned()
            .unwrap_or_default()
    }

    /// Brings `source` up to date with `stored`, its live offers as read back from the
    /// database (another replica ingested them), and returns the offer events of the
    /// change without publishing them.
    pub fn apply_stored(&self, source: &str, stored: Vec<Offer>) -> Vec<Event> {
        let current = self.offers_of(source);
        let mut changes = diff(&current, stored);
        let events = offer_events(&current, &mut changes);
        self.replace_source(source, std::mem::take(&mut changes.current));
        events
    }

    /// Marks which sources are stale (their offers are hidden unless asked for).
    pub fn set_stale(&self, stale: Vec<String>) {
        let current = self.snapshot();
        if current.stale_sources() != stale.as_slice() {
            *self
                .snapshot
                .write()
                .unwrap_or_else(PoisonError::into_inner) = current.with_stale(stale);
        }
    }

    fn rebuild(&self, stale: Vec<String>) {
        let offers: Vec<Offer> = {
            let by_source = self
                .by_source
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            by_source.values().flat_map(|v| v.iter().cloned()).collect()
        };
        let snapshot = Snapshot::new(offers, stale);
        *self
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner) = snapshot;
    }
}

/// Freshness of every recorded source at `now`, given each source's stale window.
pub fn freshness(
    health: &[SourceHealth],
    stale_after: &HashMap<String, Duration>,
    now: DateTime<Utc>,
) -> Vec<SourceStatus> {
    health
        .iter()
        .map(|h| {
            let window = stale_after
                .get(&h.source)
                .copied()
                .unwrap_or(DEFAULT_STALE_AFTER);
            let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
            let fresh_enough = h.last_success_at.is_some_and(|t| now - t <= window);
            let last_failed = h
                .last_error_at
                .is_some_and(|e| h.last_success_at.is_none_or(|s| e > s));
            let freshness = match (fresh_enough, last_failed) {
                (false, _) => Freshness::Stale,
                (true, true) => Freshness::Failing,
                (true, false) => Freshness::Fresh,
            };
            let total = h.successes + h.failures;
            SourceStatus {
                source: h.source.clone(),
                freshness,
                live_offers: i64::from(h.live_offers),
                last_success_at: h.last_success_at,
                last_attempt_at: h.last_attempt_at,
                last_error: last_failed.then(|| h.last_error.clone()).flatten(),
                last_latency_ms: h.last_latency_ms,
                success_rate: if total > 0 {
                    h.successes as f64 / total as f64
                } else {
                    0.0
                },
            }
        })
        .collect()
}

/// Normalises a fetched report, diffs it against the stored offers of `source`, writes the
/// changes in one transaction and, when given, updates the live catalog and then publishes
/// the changes on its event bus (after the commit, so consumers never see an uncommitted
/// change).
pub async fn ingest_report(
    store: &Store,
    catalog: Option<&Catalog>,
    source: &str,
    report: ParseReport,
    latency_ms: i64,
) -> Result<IngestSummary, StoreError> {
    let mut unknown_gpus: BTreeMap<String, usize> = BTreeMap::new();
    let fetched: Vec<Offer> = report
        .offers
        .into_iter()
        .map(|raw| Offer::normalize(raw, source))
        .inspect(|o| {
            if o.gpu.is_none() {
                *unknown_gpus.entry(o.gpu_raw.clone()).or_default() += 1;
            }
        })
        .collect();
    let current = store.live_offers_of(source).await?;
    let mut changes: IngestDiff = diff(&current, fetched);
    store
        .apply_ingest(source, &changes, crate::store::now(), latency_ms)
        .await?;
    let summary = IngestSummary {
        source: source.to_owned(),
        added: changes.added.len(),
        changed: changes.changed.len(),
        repriced: changes.repriced.len(),
        closed: changes.closed.len(),
        unchanged: changes.unchanged,
        duplicates: changes.duplicates,
        skipped: report.skipped.len(),
        cpu_only: report.cpu_only,
        unknown_gpus,
        live: changes.live,
    };
    if let Some(catalog) = catalog {
        // Attribute changes without a price move have no offer event, but other replicas
        // must still reload the source: say that it was stored.
        let stored = !changes.is_empty();
        let mut events = offer_events(&current, &mut changes);
        if stored {
            events.push(Event::SourceStored(source.to_owned()));
        }
        catalog.replace_source(source, std::mem::take(&mut changes.current));
        catalog.events.publish(events);
    }
    Ok(summary)
}

/// The offer events of one ingest: added, repriced (with the previous offer) and removed
/// (the offer as last stored).
fn offer_events(before: &[Offer], changes: &mut IngestDiff) -> Vec<Event> {
    let old: HashMap<&str, &Offer> = before.iter().map(|o| (o.id.as_str(), o)).collect();
    let added = std::mem::take(&mut changes.added)
        .into_iter()
        .map(|o| OfferEvent::new(OfferChange::Added, o, None));
    let repriced = std::mem::take(&mut changes.repriced).into_iter().map(|o| {
        let previous = old.get(o.id.as_str()).map(|p| (*p).clone());
        OfferEvent::new(OfferChange::PriceChanged, o, previous)
    });
    let removed = changes
        .closed
        .iter()
        .filter_map(|id| old.get(id.as_str()))
        .map(|o| OfferEvent::new(OfferChange::Removed, (*o).clone(), None));
    added
        .chain(repriced)
        .chain(removed)
        .map(|e| Event::Offer(Box::new(e)))
        .collect()
}
