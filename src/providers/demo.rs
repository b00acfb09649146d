//! The demo market: a deterministic synthetic market seeded from real rate cards, so a fresh
//! install with no network shows a realistic market that moves.
//!
//! The base rows are real catalog rows (Lambda, RunPod, Vast.ai, Shadeform and Lium, as
//! published in SkyPilot's catalogs and RunPod's GraphQL API), embedded here; nothing is
//! read at run time. Each row is offered in 2–4 regions of its cloud. Prices drift gently
//! and deterministically with time (±4 %, a sine per offer whose period and phase come
//! from a hash of the offer's key), whole cents, constant within a minute; every ten
//! minutes a few offers turn limited or unavailable. Offers say they are demo everywhere:
//! provider `demo-<cloud>` and extras `{"demo": true}`.

use std::f64::consts::TAU;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::source::{FetchFuture, PriceSource, SourcePolicy};
use super::{Availability, ParseReport, RawOffer};
use crate::domain::money::MicroUsd;

/// Source id of the demo market.
pub const SOURCE_ID: &str = "demo";

/// Largest relative price move away from the base price.
const AMPLITUDE: f64 = 0.04;
/// Length of one availability slot, seconds.
const AVAILABILITY_SLOT: u64 = 600;
/// Micro-dollars in one cent.
const CENT: i64 = 10_000;

/// One real rate-card row. `vcpus` and `ram_gb` are 0 where the source does not state them;
/// prices are whole cents per hour for the whole instance, `spot` 0 when there is none.
struct Base {
    cloud: &'static str,
    instance_type: &'static str,
    gpu: &'static str,
    count: u32,
    vcpus: u32,
    ram_gb: u32,
    cents: u32,
    spot: u32,
}

const fn row(
    cloud: &'static str,
    instance_type: &'static str,
    gpu: &'static str,
    (count, vcpus, ram_gb): (u32, u32, u32),
    cents: u32,
    spot: u32,
) -> Base {
    Base {
        cloud,
        instance_type,
        gpu,
        count,
        vcpus,
        ram_gb,
        cents,
        spot,
    }
}

/// The base rows, as each cloud names its instance types and GPUs.
#[rustfmt::skip]
const BASE: &[Base] = &[
    // Lambda Cloud (SkyPilot v8 lambda/vms.csv).
    row("lambda", "gpu_1x_a10", "A10", (1, 30, 200), 129, 0),
    row("lambda", "gpu_1x_a100_sxm4", "A100", (1, 30, 200), 199, 0),
    row("lambda", "gpu_1x_a6000", "A6000", (1, 14, 100), 109, 0),
    row("lambda", "gpu_1x_b200_sxm6", "B200", (1, 26, 360), 699, 0),
    row("lambda", "gpu_1x_gh200", "GH200", (1, 64, 432), 229, 0),
    row("lambda", "gpu_1x_h100_pcie", "H100", (1, 26, 200), 329, 0),
    row("lambda", "gpu_1x_h100_sxm5", "H100", (1, 26, 225), 429, 0),
    row("lambda", "gpu_2x_h100_sxm5", "H100", (2, 52, 450), 838, 0),
    row("lambda", "gpu_4x_a6000", "A6000", (4, 56, 400), 436, 0),
    row("lambda", "gpu_8x_a100_80gb_sxm4", "A100-80GB", (8, 240, 1800), 2232, 0),
    row("lambda", "gpu_8x_b200_sxm6", "B200", (8, 208, 2900), 5352, 0),
    row("lambda", "gpu_8x_h100_sxm5", "H100", (8, 208, 1800), 3192, 0),
    // RunPod Secure Cloud (SkyPilot v6 runpod/vms.csv).
    row("runpod", "1x_A100-80GB_SECURE", "A100-80GB", (1, 8, 80), 199, 0),
    row("runpod", "8x_A100-80GB-SXM_SECURE", "A100-80GB-SXM", (8, 128, 640), 1832, 0),
    row("runpod", "8x_H100-SXM_SECURE", "H100-SXM", (8, 208, 640), 3752, 0),
    row("runpod", "1x_A40_SECURE", "A40", (1, 9, 48), 79, 49),
    row("runpod", "2x_L40_SECURE", "L40", (2, 32, 96), 228, 138),
    row("runpod", "4x_RTX4090_SECURE", "RTX4090", (4, 64, 96), 296, 196),
    row("runpod", "1x_RTX6000-Ada_SECURE", "RTX6000-Ada", (1, 14, 48), 114, 0),
    row("runpod", "1x_RTXA6000_SECURE", "RTXA6000", (1, 4, 48), 79, 49),
    row("runpod", "2x_RTXA4500_SECURE", "RTXA4500", (2, 24, 40), 72, 44),
    // RunPod GraphQL gpuTypes (per-GPU prices; community where marked).
    row("runpod", "1x_MI300X_SECURE", "AMD Instinct MI300X OAM", (1, 0, 0), 249, 149),
    row("runpod", "8x_MI300X_SECURE", "AMD Instinct MI300X OAM", (8, 0, 0), 1992, 1192),
    row("runpod", "1x_H200_SECURE", "NVIDIA H200", (1, 0, 0), 399, 0),
    row("runpod", "1x_B200_SECURE", "NVIDIA B200", (1, 0, 0), 639, 0),
    row("runpod", "1x_H100-NVL_SECURE", "NVIDIA H100 NVL", (1, 0, 0), 279, 165),
    row("runpod", "1x_H100-PCIe_SECURE", "NVIDIA H100 PCIe", (1, 0, 0), 219, 125),
    row("runpod", "1x_L40S_SECURE", "NVIDIA L40S", (1, 0, 0), 86, 43),
    row("runpod", "1x_RTX4090_COMMUNITY", "NVIDIA GeForce RTX 4090", (1, 0, 0), 34, 20),
    row("runpod", "1x_RTX5090_SECURE", "NVIDIA GeForce RTX 5090", (1, 0, 0), 94, 0),
    // Vast.ai marketplace (SkyPilot v8 vast/vms.csv).
    row("vast", "1x-H200-32-65536", "H200", (1, 32, 64), 265, 0),
    row("vast", "8x-H200-32-65536", "H200", (8, 32, 64), 1788, 0),
    row("vast", "1x-H100_NVL-32-65536", "H100", (1, 32, 64), 208, 0),
    row("vast", "1x-H100_SXM-32-65536", "H100", (1, 32, 64), 187, 0),
    row("vast", "8x-H100_SXM-32-65536", "H100", (8, 32, 64), 1600, 0),
    row("vast", "4x-B200-32-65536", "B200", (4, 32, 64), 1882, 0),
    row("vast", "1x-A100_SXM4-32-65536", "A100", (1, 32, 64), 76, 0),
    row("vast", "1x-L40S-32-65536", "L40S", (1, 32, 64), 60, 0),
    row("vast", "1x-RTX_5090-32-65536", "RTX5090", (1, 32, 64), 48, 0),
    row("vast", "1x-RTX_4090-32-65536", "RTX4090", (1, 32, 64), 40, 0),
    row("vast", "2x-RTX_3090-32-65536", "RTX3090", (2, 32, 64), 33, 0),
    // Shadeform (SkyPilot v8 shadeform/vms.csv).
    row("shadeform", "massedcompute_A6000", "A6000", (1, 6, 48), 57, 0),
    row("shadeform", "massedcompute_H100", "H100", (1, 20, 128), 273, 0),
    row("shadeform", "massedcompute_RTX6000Ada", "RTX6000Ada", (1, 12, 80), 97, 0),
    row("shadeform", "massedcompute_RTXPro6000", "RTXPro6000", (1, 16, 192), 219, 0),
    row("shadeform", "crusoe_A100-80GBx2", "A100-80GB", (2, 24, 240), 400, 0),
    row("shadeform", "crusoe_L40Sx8", "L40S", (8, 64, 1176), 1200, 0),
    row("shadeform", "scaleway_L4", "L4", (1, 8, 48), 95, 0),
    row("shadeform", "scaleway_H100x2", "H100", (2, 48, 480), 660, 0),
    row("shadeform", "excesssupply_H200x8", "H200", (8, 208, 1904), 3200, 0),
    row("shadeform", "denvr_A100-sxm4", "A100", (1, 14, 117), 140, 0),
    // Lium marketplace (SkyPilot v8 lium/vms.csv).
    row("lium", "H100_1x", "H100", (1, 20, 126), 224, 0),
    row("lium", "H200_1x", "H200", (1, 8, 252), 390, 0),
    row("lium", "B200_1x", "B200", (1, 20, 220), 575, 0),
    row("lium", "B200_8x", "B200", (8, 288, 2262), 5200, 0),
    row("lium", "L40S_4x", "L40S", (4, 46, 283), 152, 0),
    row("lium", "RTX3090_8x", "RTX3090", (8, 80, 189), 128, 0),
    row("lium", "RTX4090_1x", "RTX4090", (1, 12, 63), 35, 0),
    row("lium", "RTX5090_1x", "RTX5090", (1, 16, 30), 65, 0),
    row("lium", "RTX6000-Ada_8x", "RTX6000-Ada", (8, 128, 1512), 552, 0),
];

/// Regions each cloud publishes, as it writes them.
#[rustfmt::skip]
fn regions(cloud: &str) -> &'static [&'static str] {
    match cloud {
        "lambda" => &["us-east-1", "us-west-1", "us-south-1", "us-midwest-1",
            "europe-central-1", "asia-northeast-1", "asia-south-1", "australia-east-1"],
        "runpod" => &["US", "CA", "CZ", "IS", "NL", "NO", "RO", "SE"],
        "vast" => &["Texas, US, NA", "France, FR, EU", "Taiwan, TW, AS", "Quebec, CA, NA",
            "Germany, DE, EU", "Australia, AU, OC"],
        "shadeform" => &["kansascity-usa-1", "desmoines-usa-1", "culpeper-usa-1", "dallas-usa-3",
            "paris-france-1", "warsaw-poland-1", "montreal-canada-2"],
        _ => &["US", "FI", "DE", "RO", "JP", "CA"],
    }
}

/// The demo market as a [`PriceSource`].
#[derive(Clone, Debug)]
pub struct DemoSource {
    policy: SourcePolicy,
    /// Fixed time for tests; the system clock when `None`.
    fixed_at: Option<u64>,
}

impl DemoSource {
    /// The demo market on the system clock.
    pub fn new(policy: SourcePolicy) -> Self {
        Self {
            policy,
            fixed_at: None,
        }
    }

    /// The demo market frozen at `unix_seconds`, with the default policy.
    pub fn at(unix_seconds: u64) -> Self {
        Self {
            policy: Self::default_policy(),
            fixed_at: Some(unix_seconds),
        }
    }

    /// Local and cheap: fetched every 30 s, stale after 10 minutes.
    pub fn default_policy() -> SourcePolicy {
        SourcePolicy {
            interval: Duration::from_secs(30),
            stale_after: Duration::from_secs(600),
            ..SourcePolicy::catalog()
        }
    }
}

impl Default for DemoSource {
    fn default() -> Self {
        Self::new(Self::default_policy())
    }
}

impl PriceSource for DemoSource {
    fn id(&self) -> &str {
        SOURCE_ID
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn fetch(&self) -> FetchFuture<'_> {
        let now = self.fixed_at.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        Box::pin(async move {
            Ok(ParseReport {
                offers: market_at(now),
                ..ParseReport::default()
            })
        })
    }
}

/// Every demo offer at `unix_seconds`; the same time always gives the same market.
pub fn market_at(unix_seconds: u64) -> Vec<RawOffer> {
    placements()
        .map(|(base, region)| offer_at(base, region, unix_seconds))
        .collect()
}

/// Each base row with each of its regions, in table order.
fn placements() -> impl Iterator<Item = (&'static Base, &'static str)> {
    BASE.iter().flat_map(|base| {
        let pool = regions(base.cloud);
        let h = fnv1a(&[base.cloud, base.instance_type]);
        let n = (2 + h % 3) as usize;
        let start = ((h >> 8) % pool.len() as u64) as usize;
        (0..n.min(pool.len())).map(move |j| (base, pool[(start + j) % pool.len()]))
    })
}

fn offer_at(base: &Base, region: &'static str, t: u64) -> RawOffer {
    let key = [base.cloud, base.instance_type, region];
    let price = drift(i64::from(base.cents) * CENT, fnv1a(&key), t);
    let spot = (base.spot > 0).then(|| {
        let spot = drift(
            i64::from(base.spot) * CENT,
            fnv1a(&[base.cloud, base.instance_type, region, "spot"]),
            t,
        );
        spot.min(price - CENT)
    });
    let slot = (t / AVAILABILITY_SLOT).to_string();
    let availability = match fnv1a(&[base.cloud, base.instance_type, region, &slot]) % 1000 {
        0..=29 => Availability::Unavailable,
        30..=79 => Availability::Limited,
        _ => Availability::Available,
    };
    let stated = |n: u32| (n > 0).then_some(f64::from(n));
    let mut extras = Map::new();
    extras.insert("demo".into(), Value::Bool(true));
    RawOffer {
        provider: format!("demo-{}", base.cloud),
        instance_type: base.instance_type.to_owned(),
        region: region.to_owned(),
        zone: None,
        gpu_name: base.gpu.to_owned(),
        gpu_count: base.count,
        gpu_memory_mib: None,
        vcpus: stated(base.vcpus),
        ram_gb: stated(base.ram_gb),
        disk_gb: None,
        price: Some(MicroUsd(price)),
        spot_price: spot.map(MicroUsd),
        availability,
        extras,
    }
}

/// `base` moved by at most ±[`AMPLITUDE`] along a sine of period 30–120 minutes whose period
/// and phase come from `hash`; time is taken to the minute and the move is truncated towards
/// zero to whole cents, so the price never leaves the band.
fn drift(base: i64, hash: u64, t: u64) -> i64 {
    let period = 1800 + hash % 5400;
    let phase = ((hash >> 20) % 10_000) as f64 / 10_000.0;
    let minute = t - t % 60;
    let angle = TAU * ((minute % period) as f64 / period as f64 + phase);
    let delta = base as f64 * AMPLITUDE * angle.sin();
    base + (delta / CENT as f64).trunc() as i64 * CENT
}

/// FNV-1a over the parts (separated by a unit separator), finished with a 64-bit mixer so
/// the low bits are usable for `%`.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h = (h ^ 0x1f).wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests;
