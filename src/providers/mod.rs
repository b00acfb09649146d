//! Outside GPU providers. Parsers turn each provider's real format into [`RawOffer`]s,
//! which normalisation (GPU registry, units, regions) turns into catalog offers.

use serde::Serialize;

use crate::domain::money::MicroUsd;

pub mod pyrepr;
pub mod runpod;
pub mod skypilot;
pub mod vastai;

/// Whether an offer can be rented now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Available,
    Limited,
    Unavailable,
    #[default]
    Unknown,
}

/// One offer as a provider describes it, before normalisation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RawOffer {
    pub provider: String,
    pub instance_type: String,
    pub region: String,
    pub zone: Option<String>,
    /// The GPU name exactly as the provider wrote it.
    pub gpu_name: String,
    pub gpu_count: u32,
    /// Memory per GPU in MiB when the provider states it.
    pub gpu_memory_mib: Option<u64>,
    pub vcpus: Option<f64>,
    pub ram_gb: Option<f64>,
    pub disk_gb: Option<f64>,
    /// On-demand price of the whole instance per hour.
    pub price: Option<MicroUsd>,
    /// Spot / interruptible price of the whole instance per hour.
    pub spot_price: Option<MicroUsd>,
    pub availability: Availability,
    /// Provider-specific attributes worth keeping (reliability, stock status, …).
    pub extras: serde_json::Map<String, serde_json::Value>,
}

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
