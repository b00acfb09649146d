//! Market KPIs computed from the live snapshot and the stored price history: prices per
//! GPU model and provider, trends, provider quality, and insights (largest moves, best
//! value, anomalies, new models). Nothing here is a constant: every number comes from
//! offers or history, and a figure without data is `None`, never a default.
//!
//! Prices are on-demand USD per GPU-hour unless a name says otherwise; offers without an
//! on-demand price (spot-only) are left out of price statistics. Stale offers are left out
//! of everything.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Snapshot;
use crate::domain::gpu;
use crate::domain::offer::Offer;
use crate::domain::perf;
use crate::store::kpi::{PastPrice, PriceObservation};

mod insights;
mod stats;
pub use insights::*;
pub use stats::*;

/// Live, non-stale offers of the snapshot.
fn live(snapshot: &Snapshot) -> impl Iterator<Item = &Offer> {
    snapshot.offers().iter().filter(|o| !snapshot.is_stale(o))
}

fn per_gpu(o: &Offer) -> Option<f64> {
    o.price_per_gpu().map(|p| p.as_usd_f64())
}

/// Price summary of one GPU model.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ModelPrice {
    pub model: String,
    pub offers: usize,
    pub providers: usize,
    /// Median on-demand USD per GPU-hour; `null` when no offer has an on-demand price.
    pub median_price_per_gpu_hour: Option<f64>,
    pub cheapest_price_per_gpu_hour: Option<f64>,
    pub cheapest_offer_id: Option<String>,
}

/// `GET /api/v2/kpi/overview`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    pub generated_at: DateTime<Utc>,
    /// Live offers (stale ones excluded).
    pub offers: usize,
    pub providers: usize,
    pub gpu_models: usize,
    /// Offers whose GPU name is not in the registry.
    pub unknown_gpu_offers: usize,
    /// Offers that can be rented now.
    pub available_offers: usize,
    /// Per GPU model, most offered first.
    pub models: Vec<ModelPrice>,
}

/// The market overview of `snapshot`.
pub fn overview(snapshot: &Snapshot, now: DateTime<Utc>) -> Overview {
    let mut by_model: BTreeMap<&str, Vec<&Offer>> = BTreeMap::new();
    let mut providers: Vec<&str> = Vec::new();
    let (mut offers, mut unknown, mut available) = (0, 0, 0);
    for o in live(snapshot) {
        offers += 1;
        available += usize::from(o.is_available());
        providers.push(&o.provider);
        match o.gpu_model() {
            Some(m) => by_model.entry(m).or_default().push(o),
            None => unknown += 1,
        }
    }
    providers.sort_unstable();
    providers.dedup();
    let mut models: Vec<ModelPrice> = by_model
        .into_iter()
        .map(|(model, list)| model_price(model, &list))
        .collect();
    models.sort_by(|a, b| b.offers.cmp(&a.offers).then_with(|| a.model.cmp(&b.model)));
    Overview {
        generated_at: now,
        offers,
        providers: providers.len(),
        gpu_models: models.len(),
        unknown_gpu_offers: unknown,
        available_offers: available,
        models,
    }
}

fn model_price(model: &str, offers: &[&Offer]) -> ModelPrice {
    let prices: Vec<f64> = offers.iter().filter_map(|o| per_gpu(o)).collect();
    let cheapest = offers
        .iter()
        .filter_map(|o| per_gpu(o).map(|p| (p, &o.id)))
        .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut providers: Vec<&str> = offers.iter().map(|o| o.provider.as_str()).collect();
    providers.sort_unstable();
    providers.dedup();
    ModelPrice {
        model: model.to_owned(),
        offers: offers.len(),
        providers: providers.len(),
        median_price_per_gpu_hour: median(&prices),
        cheapest_price_per_gpu_hour: cheapest.map(|c| c.0),
        cheapest_offer_id: cheapest.map(|c| c.1.clone()),
    }
}

/// Prices of one provider for a GPU model.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderPrices {
    pub provider: String,
    pub offers: usize,
    /// On-demand USD per GPU-hour; `null` when none has an on-demand price.
    pub price_per_gpu_hour: Option<Percentiles>,
}

/// A median price then and now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Trend {
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// Offers priced at the start of the window.
    pub offers_then: usize,
    pub median_then: f64,
    pub median_now: f64,
    /// `(now − then) / then × 100`.
    pub change_pct: f64,
}

/// `GET /api/v2/kpi/gpu/{model}` (without the token-cost part, added by the caller).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct GpuKpi {
    /// The model or family asked for.
    pub model: String,
    /// Canonical models it covers that have live offers.
    pub models: Vec<String>,
    pub offers: usize,
    pub price_per_gpu_hour: Option<Percentiles>,
    pub by_provider: Vec<ProviderPrices>,
    /// On-demand USD per dense BF16 TFLOP-hour.
    pub usd_per_tflop_hour: Option<Percentiles>,
    /// USD per million output tokens of serving the reference model on these offers.
    pub token_cost: Option<TokenCost>,
    /// Median per-GPU price now against 24 hours ago; offers first seen within the window
    /// count with their first recorded price, and `since` is the first observation when the
    /// history is younger than the window; `null` without history.
    pub trend_24h: Option<Trend>,
    /// The same against 7 days ago.
    pub trend_7d: Option<Trend>,
}

/// Cost of serving a reference model, from the performance model.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCost {
    /// LLM registry id of the reference model.
    pub model: String,
    pub precision: String,
    /// Concurrent requests assumed (capped by what fits).
    pub concurrency: u32,
    /// Over the offers where the model fits and an on-demand price is known.
    pub usd_per_million_tokens: Percentiles,
}

/// The reference model of [`TokenCost`]: small enough to fit any data-centre GPU.
pub const REFERENCE_MODEL: &str = "llama-3.1-8b";

fn token_cost(offers: &[&Offer]) -> Option<TokenCost> {
    let model = crate::domain::llm::resolve(REFERENCE_MODEL)?;
    let concurrency = 64;
    let base = perf::InferenceParams::default();
    let mut cache: HashMap<(&'static str, u32), Option<f64>> = HashMap::new();
    let costs: Vec<f64> = offers
        .iter()
        .filter_map(|o| {
            let g = o.gpu?;
            let price = o.price?.as_usd_f64();
            let tps = (*cache.entry((g.model, o.gpu_count)).or_insert_with(|| {
                perf::serving(g, o.gpu_count, model, &base, concurrency)
                    .map(|e| e.output_tokens_per_s)
            }))?;
            let c = perf::cost_per_mtok(price, tps);
            c.is_finite().then_some(c)
        })
        .collect();
    Some(TokenCost {
        model: model.id.to_owned(),
        precision: base.precision.to_string(),
        concurrency,
        usd_per_million_tokens: Percentiles::of(costs)?,
    })
}

/// Whether `o` is of `wanted` (a canonical model or family).
fn is_model(o: &Offer, wanted: &str) -> bool {
    o.gpu.is_some_and(|g| gpu::matches_family(g, wanted))
}

/// KPIs of the GPU model or family `wanted`; `None` when no live offer has it.
pub fn gpu_kpi(
    snapshot: &Snapshot,
    wanted: &str,
    then_24h: (DateTime<Utc>, &[PastPrice]),
    then_7d: (DateTime<Utc>, &[PastPrice]),
) -> Option<GpuKpi> {
    let offers: Vec<&Offer> = live(snapshot).filter(|o| is_model(o, wanted)).collect();
    if offers.is_empty() {
        return None;
    }
    let mut models: Vec<String> = offers
        .iter()
        .filter_map(|o| o.gpu_model().map(str::to_owned))
        .collect();
    models.sort_unstable();
    models.dedup();
    let prices: Vec<f64> = offers.iter().filter_map(|o| per_gpu(o)).collect();
    let mut by_provider: BTreeMap<&str, Vec<&Offer>> = BTreeMap::new();
    for o in &offers {
        by_provider.entry(&o.provider).or_default().push(o);
    }
    let median_now = median(&prices);
    let trend = |(since, past): (DateTime<Utc>, &[PastPrice])| {
        let then: Vec<f64> = past
            .iter()
            .filter(|p| {
                p.gpu_model
                    .as_deref()
                    .and_then(gpu::lookup)
                    .is_some_and(|g| gpu::matches_family(g, wanted))
            })
            .filter_map(past_per_gpu)
            .collect();
        let median_then = median(&then)?;
        let now = median_now?;
        Some(Trend {
            since,
            offers_then: then.len(),
            median_then,
            median_now: now,
            change_pct: (now - median_then) / median_then * 100.0,
        })
    };
    Some(GpuKpi {
        model: wanted.to_owned(),
        models,
        offers: offers.len(),
        price_per_gpu_hour: Percentiles::of(prices),
        by_provider: by_provider
            .into_iter()
            .map(|(provider, list)| ProviderPrices {
                provider: provider.to_owned(),
                offers: list.len(),
                price_per_gpu_hour: Percentiles::of(
                    list.iter().filter_map(|o| per_gpu(o)).collect(),
                ),
            })
            .collect(),
        usd_per_tflop_hour: Percentiles::of(offers.iter().filter_map(|o| o.value()).collect()),
        token_cost: token_cost(&offers),
        trend_24h: trend(then_24h),
        trend_7d: trend(then_7d),
    })
}

fn past_per_gpu(p: &PastPrice) -> Option<f64> {
    let count = u32::try_from(p.gpu_count).ok().filter(|c| *c > 0)?;
    Some(p.price_micro? as f64 / 1e6 / f64::from(count))
}

/// Medians of on-demand per-GPU prices by canonical model, over live offers.
fn market_medians(snapshot: &Snapshot) -> HashMap<&'static str, f64> {
    let mut prices: HashMap<&'static str, Vec<f64>> = HashMap::new();
    for o in live(snapshot) {
        if let (Some(m), Some(p)) = (o.gpu_model(), per_gpu(o)) {
            prices.entry(m).or_default().push(p);
        }
    }
    prices
        .into_iter()
        .filter_map(|(m, v)| Some((m, median(&v)?)))
        .collect()
}

/// Price volatility of a provider over a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Volatility {
    pub since: DateTime<Utc>,
    /// Consecutive price changes observed.
    pub changes: usize,
    /// Standard deviation of those changes, percent; 0 when there were none.
    pub stddev_pct: f64,
    /// Largest absolute change, percent.
    pub max_abs_change_pct: f64,
}

/// Relative changes (percent) between consecutive priced observations of each offer;
/// `observations` are ordered by offer, then time.
pub fn relative_changes(observations: &[PriceObservation]) -> Vec<f64> {
    observations
        .windows(2)
        .filter(|w| w[0].offer_id == w[1].offer_id)
        .filter_map(|w| {
            let (a, b) = (w[0].price_micro?, w[1].price_micro?);
            (a > 0 && a != b).then(|| (b - a) as f64 / a as f64 * 100.0)
        })
        .collect()
}

/// `GET /api/v2/kpi/provider/{name}` (source health is added by the caller).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderKpi {
    pub provider: String,
    /// Live offers, stale ones included.
    pub offers: usize,
    pub stale_offers: usize,
    /// `stale_offers / offers`.
    pub stale_share: f64,
    pub gpu_models: usize,
    pub price_per_gpu_hour: Option<Percentiles>,
    /// Median over the provider's offers of (its per-GPU price ÷ the market median of its
    /// GPU model): below 1 is cheaper than the market. `null` without comparable offers.
    pub median_price_vs_market: Option<f64>,
    pub volatility_7d: Volatility,
}

/// KPIs of `provider`; `None` when it has no offers at all.
pub fn provider_kpi(
    snapshot: &Snapshot,
    provider: &str,
    observations: &[PriceObservation],
    since: DateTime<Utc>,
) -> Option<ProviderKpi> {
    let offers: Vec<&Offer> = snapshot
        .offers()
        .iter()
        .filter(|o| o.provider.eq_ignore_ascii_case(provider))
        .collect();
    if offers.is_empty() {
        return None;
    }
    let stale = offers.iter().filter(|o| snapshot.is_stale(o)).count();
    let fresh: Vec<&Offer> = offers
        .iter()
        .copied()
        .filter(|o| !snapshot.is_stale(o))
        .collect();
    let market = market_medians(snapshot);
    let ratios: Vec<f64> = fresh
        .iter()
        .filter_map(|o| Some(per_gpu(o)? / market.get(o.gpu_model()?)?))
        .collect();
    let mut models: Vec<&str> = fresh.iter().filter_map(|o| o.gpu_model()).collect();
    models.sort_unstable();
    models.dedup();
    let changes = relative_changes(observations);
    let (_, std) = mean_std(&changes).unwrap_or((0.0, 0.0));
    Some(ProviderKpi {
        provider: offers[0].provider.clone(),
        offers: offers.len(),
        stale_offers: stale,
        stale_share: stale as f64 / offers.len() as f64,
        gpu_models: models.len(),
        price_per_gpu_hour: Percentiles::of(fresh.iter().filter_map(|o| per_gpu(o)).collect()),
        median_price_vs_market: median(&ratios),
        volatility_7d: Volatility {
            since,
            changes: changes.len(),
            stddev_pct: std,
            max_abs_change_pct: changes.iter().fold(0.0, |m: f64, c| m.max(c.abs())),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_linearly() {
        let p = Percentiles::of(vec![4.0, 1.0, 3.0, 2.0, f64::NAN]).unwrap();
        assert_eq!((p.count, p.min, p.max), (4, 1.0, 4.0));
        assert!((p.p50 - 2.5).abs() < 1e-12);
        assert!((p.p25 - 1.75).abs() < 1e-12);
        assert!((p.p90 - 3.7).abs() < 1e-12);
        assert_eq!(Percentiles::of(vec![]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
    }

    #[test]
    fn one_outlier_among_eight_is_three_robust_sigmas_out() {
        let prices = [2.0, 2.1, 1.9, 2.05, 1.95, 2.0, 2.02, 20.0];
        let (center, sigma) = robust_center_sigma(&prices).unwrap();
        assert!((center - 2.01).abs() < 1e-9, "{center}");
        assert!((20.0 - center) / sigma > 3.0);
        assert!(prices[..7]
            .iter()
            .all(|p| ((p - center) / sigma).abs() < 3.0));
        // With the population standard deviation the outlier hides: |z| ≤ √7 < 3.
        let (mean, std) = mean_std(&prices).unwrap();
        assert!((20.0 - mean) / std < 3.0);
        assert_eq!(robust_center_sigma(&[1.0, 1.0, 1.0]), None);
        // Uniform rate cards (MAD 0) still expose one price at ten times the rest.
        let uniform = [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 20.0];
        let (center, sigma) = robust_center_sigma(&uniform).unwrap();
        assert!((20.0 - center) / sigma > 3.0);
    }

    #[test]
    fn relative_changes_stay_within_one_offer() {
        let t = Utc::now();
        let obs = |id: &str, p: Option<i64>| PriceObservation {
            offer_id: id.into(),
            observed_at: t,
            price_micro: p,
        };
        let changes = relative_changes(&[
            obs("a", Some(100)),
            obs("a", Some(110)),
            obs("a", None),
            obs("a", Some(110)),
            obs("b", Some(50)),
            obs("b", Some(25)),
        ]);
        assert_eq!(changes, vec![10.0, -50.0]);
    }
}
