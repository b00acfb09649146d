//! JSON shapes of offers and search results, shared by the API and the CLI.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::catalog::live::{Freshness, SourceStatus};
use crate::catalog::Snapshot;
use crate::domain::offer::Offer;
use crate::store::offers::availability_name;

/// One offer as the API and `gpubroker search --json` show it. Prices are USD per hour.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferView {
    pub id: String,
    pub provider: String,
    /// The source that reported the offer (`vastai`, `skypilot:lambda`, `demo`, …).
    pub source: String,
    pub instance_type: String,
    pub region: String,
    pub zone: Option<String>,
    pub country: Option<String>,
    pub continent: Option<String>,
    /// Canonical GPU model; `null` when the provider's name is not in the registry.
    pub gpu: Option<String>,
    /// The GPU name exactly as the provider wrote it.
    pub gpu_raw: String,
    pub gpu_count: u32,
    /// Memory per GPU, GB.
    pub gpu_memory_gb: Option<f64>,
    pub vcpus: Option<f64>,
    pub ram_gb: Option<f64>,
    pub disk_gb: Option<f64>,
    /// On-demand price of the whole instance.
    pub price_per_hour: Option<f64>,
    /// Spot / interruptible price of the whole instance.
    pub spot_price_per_hour: Option<f64>,
    pub price_per_gpu_hour: Option<f64>,
    /// Dense BF16 TFLOPS of all GPUs.
    pub tflops: Option<f64>,
    /// USD per dense BF16 TFLOP-hour.
    pub value: Option<f64>,
    /// available, limited, unavailable or unknown.
    pub availability: String,
    pub available: bool,
    pub stale: bool,
    /// True for offers of the built-in demo market.
    pub demo: bool,
    /// When the source last confirmed the offer.
    pub last_seen: Option<DateTime<Utc>>,
    /// Provider-specific attributes (reliability, DLPerf, stock, …).
    #[schema(value_type = Object)]
    pub extras: serde_json::Map<String, serde_json::Value>,
    /// Score of a computed ranking (`sort=topsis`: 0–1, higher is better).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl OfferView {
    /// The view of `offer` in `snapshot`, with the source's last success as `last_seen`.
    pub fn new(
        offer: &Offer,
        snapshot: &Snapshot,
        last_success: &HashMap<String, DateTime<Utc>>,
    ) -> Self {
        OfferView {
            id: offer.id.clone(),
            provider: offer.provider.clone(),
            source: offer.source.clone(),
            instance_type: offer.instance_type.clone(),
            region: offer.region.clone(),
            zone: offer.zone.clone(),
            country: offer.country.clone(),
            continent: offer.continent.map(str::to_owned),
            gpu: offer.gpu_model().map(str::to_owned),
            gpu_raw: offer.gpu_raw.clone(),
            gpu_count: offer.gpu_count,
            gpu_memory_gb: offer.gpu_memory_gb,
            vcpus: offer.vcpus,
            ram_gb: offer.ram_gb,
            disk_gb: offer.disk_gb,
            price_per_hour: offer.price.map(|p| p.as_usd_f64()),
            spot_price_per_hour: offer.spot_price.map(|p| p.as_usd_f64()),
            price_per_gpu_hour: offer.price_per_gpu().map(|p| p.as_usd_f64()),
            tflops: offer.total_tflops(),
            value: offer.value(),
            availability: availability_name(offer.availability).to_owned(),
            available: offer.is_available(),
            stale: snapshot.is_stale(offer),
            demo: offer
                .extras
                .get("demo")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            last_seen: last_success.get(&offer.source).copied(),
            extras: offer.extras.clone(),
            score: None,
        }
    }
}

/// A source that is not fresh, named in search responses so no result is silently missing.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SourceWarning {
    pub source: String,
    /// `failing` (offers still shown) or `stale` (offers hidden unless `stale=true`).
    pub freshness: String,
    pub message: String,
}

/// Warnings for every source that is failing or stale.
pub fn warnings(statuses: &[SourceStatus]) -> Vec<SourceWarning> {
    statuses
        .iter()
        .filter(|s| s.freshness != Freshness::Fresh)
        .map(|s| {
            let (freshness, what) = match s.freshness {
                Freshness::Stale => (
                    "stale",
                    "offers are hidden unless the query says stale=true",
                ),
                _ => ("failing", "showing its last known offers"),
            };
            let error = s
                .last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            let since = s.last_success_at.map_or_else(
                || "never fetched successfully".to_owned(),
                |t| format!("last success {}", t.to_rfc3339()),
            );
            SourceWarning {
                source: s.source.clone(),
                freshness: freshness.to_owned(),
                message: format!("{} is {freshness} ({since}{error}); {what}", s.source),
            }
        })
        .collect()
}

/// Last successful fetch per source.
pub fn last_success(statuses: &[SourceStatus]) -> HashMap<String, DateTime<Utc>> {
    statuses
        .iter()
        .filter_map(|s| Some((s.source.clone(), s.last_success_at?)))
        .collect()
}
