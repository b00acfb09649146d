//! Robust statistics over price sets: percentiles, median, mean and deviation, and the
//! median/MAD centre and sigma used to find anomalies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Distribution of a set of values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Percentiles {
    pub count: usize,
    pub min: f64,
    pub p10: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p90: f64,
    pub max: f64,
}

impl Percentiles {
    /// The distribution of `values`, `None` when empty.
    pub fn of(mut values: Vec<f64>) -> Option<Percentiles> {
        values.retain(|x| x.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| percentile_sorted(&values, q);
        Some(Percentiles {
            count: values.len(),
            min: values[0],
            p10: at(0.10),
            p25: at(0.25),
            p50: at(0.50),
            p75: at(0.75),
            p90: at(0.90),
            max: values[values.len() - 1],
        })
    }
}

/// The `q` quantile of sorted, non-empty `values`, linearly interpolated.
pub fn percentile_sorted(values: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (pos - lo as f64)
}

/// Median of `values`, `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(percentile_sorted(&v, 0.5))
}

/// Mean and population standard deviation, `None` when empty.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    Some((mean, var.sqrt()))
}

/// Median and robust sigma (1.4826 × median absolute deviation, which equals the standard
/// deviation for normal data but is not dragged by the outliers it should expose; the mean
/// absolute deviation when the MAD is 0); `None` when fewer than 2 values or no spread.
pub fn robust_center_sigma(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 2 {
        return None;
    }
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|x| (x - center).abs()).collect();
    let mad = median(&deviations)?;
    // When most prices are identical the MAD is 0; the mean absolute deviation
    // (× 1.2533 for normal data) still measures the spread (Iglewicz & Hoaglin, 1993).
    let sigma = if mad > 0.0 {
        1.4826 * mad
    } else {
        1.2533 * deviations.iter().sum::<f64>() / deviations.len() as f64
    };
    (sigma > 0.0).then_some((center, sigma))
}
