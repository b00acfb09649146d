//! Plans: free, pro and enterprise with monthly and annual prices and limits. The
//! defaults below apply until an admin stores a replacement list as JSON under the
//! configuration key `billing.plans` (same fields; see `docs/payments.md`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::ConfigStore;
use crate::settings::RateLimits;

/// Configuration key of the plan list.
pub const PLANS_KEY: &str = "billing.plans";

/// A plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// `free`, `pro` or `enterprise`.
    pub id: String,
    pub name: String,
    /// Price per month, micro-USD (0 for free).
    pub monthly_micro_usd: i64,
    /// Price per year, micro-USD.
    pub annual_micro_usd: i64,
    /// API requests per second.
    pub rate_limit_per_second: u32,
    /// GPU pods running at once.
    pub max_concurrent_pods: u32,
    /// Feature flags (`assistant`, `websocket`, `priority_support`, …).
    pub features: Vec<String>,
}

impl Plan {
    /// The price of one `interval` (`monthly` or `annual`).
    pub fn price(&self, interval: &str) -> Option<i64> {
        match interval {
            "monthly" => Some(self.monthly_micro_usd),
            "annual" => Some(self.annual_micro_usd),
            _ => None,
        }
    }
}

/// The built-in plans; their rate limits follow the configured per-plan limits.
pub fn default_plans(limits: &RateLimits) -> Vec<Plan> {
    let features = |f: &[&str]| f.iter().map(|s| (*s).to_owned()).collect();
    vec![
        Plan {
            id: "free".into(),
            name: "Free".into(),
            monthly_micro_usd: 0,
            annual_micro_usd: 0,
            rate_limit_per_second: limits.free,
            max_concurrent_pods: 1,
            features: features(&["catalog", "assistant", "websocket"]),
        },
        Plan {
            id: "pro".into(),
            name: "Pro".into(),
            monthly_micro_usd: 29_000_000,
            annual_micro_usd: 290_000_000,
            rate_limit_per_second: limits.pro,
            max_concurrent_pods: 5,
            features: features(&[
                "catalog",
                "assistant",
                "websocket",
                "budgets",
                "price_alerts",
            ]),
        },
        Plan {
            id: "enterprise".into(),
            name: "Enterprise".into(),
            monthly_micro_usd: 499_000_000,
            annual_micro_usd: 4_990_000_000,
            rate_limit_per_second: limits.enterprise,
            max_concurrent_pods: 50,
            features: features(&[
                "catalog",
                "assistant",
                "websocket",
                "budgets",
                "price_alerts",
                "priority_support",
                "audit_export",
            ]),
        },
    ]
}

/// Checks a plan list: the three ids once each, prices whole cents and not negative,
/// free costs nothing, limits positive.
pub fn validate(plans: &[Plan]) -> Result<(), String> {
    for id in ["free", "pro", "enterprise"] {
        if plans.iter().filter(|p| p.id == id).count() != 1 {
            return Err(format!("the plan list must define {id:?} exactly once"));
        }
    }
    for p in plans {
        if !["free", "pro", "enterprise"].contains(&p.id.as_str()) {
            return Err(format!("unknown plan id {:?}", p.id));
        }
        for price in [p.monthly_micro_usd, p.annual_micro_usd] {
            if price < 0 || price % 10_000 != 0 {
                return Err(format!(
                    "plan {}: prices must be whole cents and not negative",
                    p.id
                ));
            }
        }
        if p.id == "free" && (p.monthly_micro_usd != 0 || p.annual_micro_usd != 0) {
            return Err("the free plan costs nothing".into());
        }
        if p.id != "free" && (p.monthly_micro_usd == 0 || p.annual_micro_usd == 0) {
            return Err(format!("plan {} needs monthly and annual prices", p.id));
        }
        if p.rate_limit_per_second == 0 || p.max_concurrent_pods == 0 {
            return Err(format!("plan {}: limits must be positive", p.id));
        }
    }
    Ok(())
}

/// The plans in force: the stored list when valid, else the defaults (a broken stored
/// list is logged, never fatal).
pub async fn current(config: Option<&ConfigStore>, limits: &RateLimits) -> Vec<Plan> {
    let Some(config) = config else {
        return default_plans(limits);
    };
    match config.get(PLANS_KEY).await {
        Ok(Some(value)) => match serde_json::from_str::<Vec<Plan>>(&value.text)
            .map_err(|e| e.to_string())
            .and_then(|plans| validate(&plans).map(|()| plans))
        {
            Ok(plans) => plans,
            Err(err) => {
                tracing::warn!(key = PLANS_KEY, error = %err, "ignoring the stored plan list; using the defaults");
                default_plans(limits)
            }
        },
        Ok(None) => default_plans(limits),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the plan list; using the defaults");
            default_plans(limits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_follow_the_rate_limits() {
        let limits = RateLimits {
            free: 3,
            pro: 30,
            enterprise: 300,
        };
        let plans = default_plans(&limits);
        validate(&plans).unwrap();
        assert_eq!(plans[1].rate_limit_per_second, 30);
        assert_eq!(plans[1].price("annual"), Some(290_000_000));
        assert_eq!(plans[1].price("weekly"), None);
    }

    #[test]
    fn broken_lists_are_refused() {
        let mut plans = default_plans(&RateLimits::default());
        plans[1].monthly_micro_usd = 29_000_001;
        assert!(validate(&plans).unwrap_err().contains("whole cents"));
        let mut plans = default_plans(&RateLimits::default());
        plans.pop();
        assert!(validate(&plans).unwrap_err().contains("enterprise"));
        let mut plans = default_plans(&RateLimits::default());
        plans[0].monthly_micro_usd = 10_000;
        assert!(validate(&plans).is_err());
    }
}
