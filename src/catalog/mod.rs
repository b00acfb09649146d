//! The in-memory catalog: an immutable snapshot of offers with indexes, searched with the
//! query language. Ingestion builds a new snapshot and swaps it in atomically; queries never
//! touch the database.

use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::offer::Offer;

pub mod ingest;
pub mod kpi;
pub mod live;
pub mod recommend;
pub mod search;
#[cfg(test)]
mod tests;

pub use search::{numeric, SearchPage};

/// One immutable generation of the catalog. The offers and indexes are shared between
/// generations that differ only in which sources are stale.
#[derive(Debug, Default)]
pub struct Snapshot {
    offers: Arc<Vec<Offer>>,
    /// Offer positions by canonical GPU model (unknown GPUs under `""`).
    by_gpu: Arc<HashMap<&'static str, Vec<u32>>>,
    /// Offer positions by provider id.
    by_provider: Arc<HashMap<String, Vec<u32>>>,
    /// Sources (`Offer::source`) whose offers are past their stale window.
    stale_sources: Vec<String>,
    /// Numeric fields by column (NaN when missing), indexed like `search::COLUMNS`.
    pub(crate) columns: Arc<Vec<Vec<f64>>>,
}

impl Snapshot {
    /// Builds the snapshot and its indexes; offers of `stale_sources` are stale.
    pub fn new(offers: Vec<Offer>, stale_sources: Vec<String>) -> Arc<Snapshot> {
        let mut by_gpu: HashMap<&'static str, Vec<u32>> = HashMap::new();
        let mut by_provider: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, offer) in offers.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            by_gpu
                .entry(offer.gpu_model().unwrap_or(""))
                .or_default()
                .push(i);
            by_provider
                .entry(offer.provider.clone())
                .or_default()
                .push(i);
        }
        let columns = search::COLUMNS
            .iter()
            .map(|f| {
                offers
                    .iter()
                    .map(|o| search::numeric(o, *f).unwrap_or(f64::NAN))
                    .collect()
            })
            .collect();
        Arc::new(Snapshot {
            offers: Arc::new(offers),
            by_gpu: Arc::new(by_gpu),
            by_provider: Arc::new(by_provider),
            stale_sources,
            columns: Arc::new(columns),
        })
    }

    /// The same offers with another set of stale sources (no copying).
    pub fn with_stale(&self, stale_sources: Vec<String>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            offers: Arc::clone(&self.offers),
            by_gpu: Arc::clone(&self.by_gpu),
            by_provider: Arc::clone(&self.by_provider),
            stale_sources,
            columns: Arc::clone(&self.columns),
        })
    }

    /// Sources whose offers are stale.
    pub fn stale_sources(&self) -> &[String] {
        &self.stale_sources
    }

    /// Every offer.
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// Number of offers.
    pub fn len(&self) -> usize {
        self.offers.len()
    }

    /// True when the catalog holds no offer.
    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }

    /// Whether `offer`'s source is stale.
    pub fn is_stale(&self, offer: &Offer) -> bool {
        self.stale_sources.contains(&offer.source)
    }

    /// Offer by id.
    pub fn get(&self, id: &str) -> Option<&Offer> {
        let provider = id.rsplit_once('-').map_or(id, |(p, _)| p);
        let candidates = self
            .by_provider
            .get(provider)
            .map(Vec::as_slice)
            .unwrap_or_default();
        candidates
            .iter()
            .map(|i| &self.offers[*i as usize])
            .find(|o| o.id == id)
            // Ids carry the provider's slug (`demo_aws-…` for `demo-aws`), which is not
            // always the index key: fall back to a scan.
            .or_else(|| self.offers.iter().find(|o| o.id == id))
    }
}
