//! Outside GPU providers. Parsers turn each provider's real format into [`RawOffer`]s,
//! which normalisation (GPU registry, units, regions) turns into catalog offers.

use serde::Serialize;

pub use crate::domain::offer::{Availability, RawOffer};

pub mod pyrepr;
pub mod runpod;
pub mod skypilot;
pub mod source;
pub mod vastai;

/// A row or record that was not turned into an offer, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// 1-based line (CSV) or record index (JSON).
    pub at: usize,
    pub reason: String,
}

/// What a parser produced from one document.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ParseReport {
    pub offers: Vec<RawOffer>,
    pub skipped: Vec<Skipped>,
    /// Rows without any accelerator (CPU-only instance types), skipped by design.
    pub cpu_only: usize,
}

/// The price sources the settings enable.
pub fn configured_sources(
    _settings: &crate::settings::Settings,
) -> Vec<std::sync::Arc<dyn source::PriceSource>> {
    Vec::new()
}
