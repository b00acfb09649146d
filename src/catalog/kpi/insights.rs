//! Insights: the largest price moves, the best value per GPU model, price anomalies and
//! models new to the market.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Snapshot;
use crate::domain::offer::{Availability, Offer};
use crate::store::kpi::{ModelDebut, PastPrice};

use super::*;

/// A short reference to an offer in insights.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferRef {
    pub id: String,
    pub provider: String,
    pub gpu: Option<String>,
    pub gpu_count: u32,
    pub region: String,
    pub price_per_hour: Option<f64>,
    pub price_per_gpu_hour: Option<f64>,
}

impl OfferRef {
    fn of(o: &Offer) -> OfferRef {
        OfferRef {
            id: o.id.clone(),
            provider: o.provider.clone(),
            gpu: o.gpu_model().map(str::to_owned),
            gpu_count: o.gpu_count,
            region: o.region.clone(),
            price_per_hour: o.price.map(|p| p.as_usd_f64()),
            price_per_gpu_hour: per_gpu(o),
        }
    }
}

/// An offer's price move over the window.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceMove {
    pub offer: OfferRef,
    pub price_then: f64,
    pub price_now: f64,
    pub change_pct: f64,
}

/// An offer with its value.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValuePick {
    pub offer: OfferRef,
    /// On-demand USD per dense BF16 TFLOP-hour.
    pub usd_per_tflop_hour: f64,
}

/// An offer priced far from its GPU model's market.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Anomaly {
    pub offer: OfferRef,
    /// Median on-demand per-GPU price of the model.
    pub market_median: f64,
    /// Robust standard deviation: 1.4826 × the median absolute deviation.
    pub market_sigma: f64,
    /// `(price − median) / sigma`.
    pub z_score: f64,
}

/// `GET /api/v2/kpi/insights`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Insights {
    pub generated_at: DateTime<Utc>,
    /// Largest relative moves of whole-instance on-demand prices over 24 hours.
    pub largest_moves_24h: Vec<PriceMove>,
    /// Offers not known to be unavailable with the lowest USD per TFLOP-hour (at most 3
    /// per provider).
    pub best_value: Vec<ValuePick>,
    /// Offers more than 3 robust standard deviations from their model's median per-GPU
    /// price (models with at least 8 priced offers; sigma from the median absolute
    /// deviation, so one outlier cannot hide itself).
    pub anomalies: Vec<Anomaly>,
    /// GPU models first offered within the last 7 days (empty until the history is a week
    /// old, when every model would be new).
    pub new_models: Vec<NewModel>,
}

/// A GPU model that appeared recently.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NewModel {
    pub model: String,
    pub first_seen: DateTime<Utc>,
    /// Live offers of it now.
    pub offers: usize,
}

/// Items per insight list.
const INSIGHT_ITEMS: usize = 10;

/// Insights over `snapshot`, with prices of 24 hours ago and recent model debuts.
pub fn insights(
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    past_24h: &[PastPrice],
    debuts: &[ModelDebut],
) -> Insights {
    let then: HashMap<&str, i64> = past_24h
        .iter()
        .filter_map(|p| Some((p.offer_id.as_str(), p.price_micro?)))
        .collect();
    let mut moves: Vec<PriceMove> = live(snapshot)
        .filter_map(|o| {
            let before = *then.get(o.id.as_str())?;
            let now = o.price?.0;
            (before > 0 && before != now).then(|| PriceMove {
                offer: OfferRef::of(o),
                price_then: before as f64 / 1e6,
                price_now: now as f64 / 1e6,
                change_pct: (now - before) as f64 / before as f64 * 100.0,
            })
        })
        .collect();
    moves.sort_by(|a, b| {
        b.change_pct
            .abs()
            .total_cmp(&a.change_pct.abs())
            .then_with(|| a.offer.id.cmp(&b.offer.id))
    });
    moves.truncate(INSIGHT_ITEMS);

    let mut values: Vec<(f64, &Offer)> = live(snapshot)
        .filter(|o| o.availability != Availability::Unavailable)
        .filter_map(|o| Some((o.value()?, o)))
        .collect();
    values.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut per_provider: HashMap<&str, usize> = HashMap::new();
    let best_value = values
        .into_iter()
        .filter(|(_, o)| {
            let n = per_provider.entry(&o.provider).or_default();
            *n += 1;
            *n <= 3
        })
        .take(INSIGHT_ITEMS)
        .map(|(v, o)| ValuePick {
            offer: OfferRef::of(o),
            usd_per_tflop_hour: v,
        })
        .collect();

    let mut by_model: HashMap<&str, Vec<(&Offer, f64)>> = HashMap::new();
    for o in live(snapshot) {
        if let (Some(m), Some(p)) = (o.gpu_model(), per_gpu(o)) {
            by_model.entry(m).or_default().push((o, p));
        }
    }
    let mut anomalies: Vec<Anomaly> = Vec::new();
    for list in by_model.values().filter(|l| l.len() >= 8) {
        let prices: Vec<f64> = list.iter().map(|(_, p)| *p).collect();
        let Some((center, sigma)) = robust_center_sigma(&prices) else {
            continue;
        };
        for (o, p) in list {
            let z = (p - center) / sigma;
            if z.abs() > 3.0 {
                anomalies.push(Anomaly {
                    offer: OfferRef::of(o),
                    market_median: center,
                    market_sigma: sigma,
                    z_score: z,
                });
            }
        }
    }
    anomalies.sort_by(|a, b| {
        b.z_score
            .abs()
            .total_cmp(&a.z_score.abs())
            .then_with(|| a.offer.id.cmp(&b.offer.id))
    });
    anomalies.truncate(INSIGHT_ITEMS);

    let counts: HashMap<&str, usize> =
        live(snapshot)
            .filter_map(|o| o.gpu_model())
            .fold(HashMap::new(), |mut m, g| {
                *m.entry(g).or_default() += 1;
                m
            });
    let new_models = debuts
        .iter()
        .map(|d| NewModel {
            model: d.gpu_model.clone(),
            first_seen: d.first_seen,
            offers: counts.get(d.gpu_model.as_str()).copied().unwrap_or(0),
        })
        .filter(|m| m.offers > 0)
        .collect();
    Insights {
        generated_at: now,
        largest_moves_24h: moves,
        best_value,
        anomalies,
        new_models,
    }
}
