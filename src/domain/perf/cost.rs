//! Cost of generated tokens at an offer's hourly price.
//!
//! Prices here are estimates for comparison, never amounts billed, so they stay `f64`
//! dollars; the ledger keeps [`MicroUsd`](crate::domain::money::MicroUsd).

use serde::Serialize;

use super::InferenceEstimate;

/// Dollars per million tokens at `price_per_hour_usd` for the whole offer and a sustained
/// `aggregate_tokens_per_s` over all its GPUs: `price / (tokens/s × 3600) × 10⁶`.
/// Infinite when the throughput is not a positive number.
pub fn cost_per_mtok(price_per_hour_usd: f64, aggregate_tokens_per_s: f64) -> f64 {
    if aggregate_tokens_per_s.is_finite() && aggregate_tokens_per_s > 0.0 {
        price_per_hour_usd / (aggregate_tokens_per_s * 3600.0) * 1e6
    } else {
        f64::INFINITY
    }
}

/// What generating tokens costs on one offer.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CostEstimate {
    /// Hourly price of the whole offer, USD.
    pub price_per_hour_usd: f64,
    /// Sustained output tokens per second the price buys.
    pub output_tokens_per_s: f64,
    /// USD per million output tokens; absent when nothing is generated (or it does not fit).
    pub usd_per_million_tokens: Option<f64>,
    /// Tokens asked for.
    pub tokens: f64,
    /// Hours to generate `tokens`; absent as above.
    pub hours: Option<f64>,
    /// USD to generate `tokens`; absent as above.
    pub usd: Option<f64>,
}

/// Cost of `tokens` output tokens at `output_tokens_per_s` on an offer priced
/// `price_per_hour_usd` per hour.
pub fn generation_cost(
    price_per_hour_usd: f64,
    output_tokens_per_s: f64,
    tokens: f64,
) -> CostEstimate {
    let per_mtok =
        Some(cost_per_mtok(price_per_hour_usd, output_tokens_per_s)).filter(|c| c.is_finite());
    let hours = per_mtok.map(|_| tokens.max(0.0) / output_tokens_per_s / 3600.0);
    CostEstimate {
        price_per_hour_usd,
        output_tokens_per_s,
        usd_per_million_tokens: per_mtok,
        tokens,
        hours,
        usd: hours.map(|h| h * price_per_hour_usd),
    }
}

impl InferenceEstimate {
    /// Cost of `tokens` output tokens at this estimate's sustained throughput on an offer
    /// priced `price_per_hour_usd` per hour (all its GPUs). A request that does not fit
    /// has no cost.
    pub fn cost(&self, price_per_hour_usd: f64, tokens: f64) -> CostEstimate {
        let rate = if self.fits {
            self.output_tokens_per_s
        } else {
            0.0
        };
        generation_cost(price_per_hour_usd, rate, tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_token_per_second_for_an_hour_at_a_dollar() {
        // 3600 tokens cost $1, so a million cost $277.78.
        let c = cost_per_mtok(1.0, 1.0);
        assert!((c - 277.777_777).abs() < 1e-3, "{c}");
    }

    #[test]
    fn zero_throughput_has_no_finite_cost() {
        assert_eq!(cost_per_mtok(2.0, 0.0), f64::INFINITY);
        assert_eq!(cost_per_mtok(2.0, f64::NAN), f64::INFINITY);
        let c = generation_cost(2.0, 0.0, 1e6);
        assert_eq!(
            (c.usd_per_million_tokens, c.hours, c.usd),
            (None, None, None)
        );
    }

    #[test]
    fn cost_of_n_tokens_is_time_times_price() {
        let c = generation_cost(20.0, 1000.0, 3.6e6);
        assert_eq!(c.hours, Some(1.0));
        assert_eq!(c.usd, Some(20.0));
        let per_m = c.usd_per_million_tokens.unwrap();
        assert!((per_m - 20.0 / 3.6).abs() < 1e-9, "{per_m}");
    }
}
