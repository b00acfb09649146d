//! The normalised GPU offer and the normalisation from a provider's [`RawOffer`].
//!
//! Normalisation resolves the GPU name through the registry (unknown names are kept,
//! flagged and counted, never guessed), derives country and continent from the region,
//! and gives every offer a stable, URL-safe id from its provider, instance type, region
//! and zone, so the same offer keeps its id across fetches.

use serde::Serialize;
use serde_json::{Map, Value};

use super::gpu::{self, GpuHints, GpuSpec, Resolution};
use super::location;
use super::money::MicroUsd;

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

/// One GPU offer in the catalog.
#[derive(Clone, Debug, PartialEq)]
pub struct Offer {
    /// Stable id: `{provider}-{16 hex digits}`.
    pub id: String,
    pub provider: String,
    pub instance_type: String,
    pub region: String,
    pub zone: Option<String>,
    pub country: Option<String>,
    pub continent: Option<&'static str>,
    /// The canonical model, `None` when the name is not in the registry.
    pub gpu: Option<&'static GpuSpec>,
    /// The GPU name exactly as the provider wrote it.
    pub gpu_raw: String,
    pub gpu_count: u32,
    /// Memory per GPU in GB: as the provider states it, else the registry's.
    pub gpu_memory_gb: Option<f64>,
    pub vcpus: Option<f64>,
    pub ram_gb: Option<f64>,
    pub disk_gb: Option<f64>,
    /// On-demand price of the whole instance per hour.
    pub price: Option<MicroUsd>,
    /// Spot / interruptible price of the whole instance per hour.
    pub spot_price: Option<MicroUsd>,
    pub availability: Availability,
    /// Where the offer came from: `skypilot`, `vastai`, `runpod`, `lambda`, `file`, `demo`.
    pub source: String,
    pub extras: Map<String, Value>,
}

impl Offer {
    /// Builds the catalog offer for `raw`, read by `source`.
    pub fn normalize(raw: RawOffer, source: &str) -> Offer {
        let hints = GpuHints {
            instance_type: Some(&raw.instance_type),
            memory_mib: raw.gpu_memory_mib,
        };
        let gpu = match gpu::resolve(&raw.gpu_name, hints) {
            Resolution::Known(spec) => Some(spec),
            Resolution::Unknown(_) => None,
        };
        let stated_gb = raw
            .gpu_memory_mib
            .filter(|m| *m >= 1024)
            .map(|m| per_gpu_memory_gb(m as f64 / 1024.0, raw.gpu_count, gpu));
        let location = location::locate(&raw.region);
        Offer {
            id: offer_id(
                &raw.provider,
                &raw.instance_type,
                &raw.region,
                raw.zone.as_deref(),
            ),
            provider: raw.provider,
            instance_type: raw.instance_type,
            region: raw.region,
            zone: raw.zone,
            country: location.country,
            continent: location.continent,
            gpu_memory_gb: stated_gb.or_else(|| gpu.map(|g| f64::from(g.vram_gb))),
            gpu,
            gpu_raw: raw.gpu_name,
            gpu_count: raw.gpu_count,
            vcpus: raw.vcpus,
            ram_gb: raw.ram_gb,
            disk_gb: raw.disk_gb,
            price: raw.price,
            spot_price: raw.spot_price,
            availability: raw.availability,
            source: source.to_owned(),
            extras: raw.extras,
        }
    }

    /// Canonical model id, or `None` for an unknown GPU.
    pub fn gpu_model(&self) -> Option<&'static str> {
        self.gpu.map(|g| g.model)
    }

    /// On-demand price per GPU-hour.
    pub fn price_per_gpu(&self) -> Option<MicroUsd> {
        self.price.and_then(|p| p.per(self.gpu_count))
    }

    /// Memory of all GPUs together, GB.
    pub fn total_vram_gb(&self) -> Option<f64> {
        self.gpu_memory_gb.map(|m| m * f64::from(self.gpu_count))
    }

    /// Dense BF16 TFLOPS of all GPUs together.
    pub fn total_tflops(&self) -> Option<f64> {
        self.gpu.map(|g| g.bf16_tflops * f64::from(self.gpu_count))
    }

    /// USD per dense BF16 TFLOP-hour at the on-demand price (lower is better).
    pub fn value(&self) -> Option<f64> {
        let tflops = self.total_tflops().filter(|t| *t > 0.0)?;
        Some(self.price?.as_usd_f64() / tflops)
    }

    /// True when the offer can be rented now (available or limited stock).
    pub fn is_available(&self) -> bool {
        matches!(
            self.availability,
            Availability::Available | Availability::Limited
        )
    }
}

/// Memory per GPU in GB, rounded to 0.1. Some catalogs (SkyPilot's Vast file) state the
/// memory of all GPUs where a per-GPU figure belongs: when the stated figure is the
/// registry's per-GPU memory times the count (±15 %), it is divided by the count.
fn per_gpu_memory_gb(stated_gb: f64, count: u32, gpu: Option<&GpuSpec>) -> f64 {
    let round = |gb: f64| (gb * 10.0).round() / 10.0;
    let Some(spec) = gpu.filter(|_| count > 1) else {
        return round(stated_gb);
    };
    let per_gpu = f64::from(spec.vram_gb);
    let total = per_gpu * f64::from(count);
    if (stated_gb - total).abs() <= 0.15 * total && (stated_gb - per_gpu).abs() > 0.15 * per_gpu {
        round(stated_gb / f64::from(count))
    } else {
        round(stated_gb)
    }
}

/// `{provider}-{first 8 bytes of SHA-256(provider, instance type, region, zone) in hex}`.
pub fn offer_id(provider: &str, instance_type: &str, region: &str, zone: Option<&str>) -> String {
    let key = [provider, instance_type, region, zone.unwrap_or("")].join("\u{1f}");
    let digest = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let slug: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("{slug}-{hex}")
}

#[cfg(test)]
mod tests;
