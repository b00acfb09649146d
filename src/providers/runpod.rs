//! RunPod GraphQL `gpuTypes` response. Each GPU type becomes up to two single-GPU offers:
//! Secure Cloud (`securePrice`, `secureSpotPrice`) and Community Cloud (`communityPrice`,
//! `communitySpotPrice`). `communityPrice` is a placeholder when `communityCloud` is false,
//! so no community offer is made then; likewise for secure. Prices are per GPU-hour.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{Availability, ParseReport, RawOffer, Skipped};
use crate::domain::money::MicroUsd;

/// Provider id used for RunPod offers.
pub const PROVIDER: &str = "runpod";

/// Why a whole document was refused.
#[derive(Debug, thiserror::Error)]
#[error("not a RunPod gpuTypes response: {0}")]
pub struct RunpodError(String);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GpuType {
    id: String,
    display_name: Option<String>,
    memory_in_gb: Option<f64>,
    max_gpu_count: Option<u32>,
    #[serde(default)]
    secure_cloud: bool,
    #[serde(default)]
    community_cloud: bool,
    secure_price: Option<f64>,
    community_price: Option<f64>,
    secure_spot_price: Option<f64>,
    community_spot_price: Option<f64>,
}

/// Parses a `{"data": {"gpuTypes": [...]}}` response (or the bare array).
pub fn parse(text: &str) -> Result<ParseReport, RunpodError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| RunpodError(e.to_string()))?;
    if let Some(errors) = doc.get("errors").filter(|e| !e.is_null()) {
        return Err(RunpodError(format!("GraphQL errors: {errors}")));
    }
    // The API answers `{"data":{"gpuTypes":[…]}}`; a saved capture may be the bare array.
    let items = match doc {
        Value::Array(items) => items,
        doc => match doc.pointer("/data/gpuTypes") {
            Some(Value::Array(items)) => items.clone(),
            _ => return Err(RunpodError("missing data.gpuTypes".into())),
        },
    };
    let mut report = ParseReport::default();
    for (index, item) in items.into_iter().enumerate() {
        let at = index + 1;
        let gpu: GpuType = match serde_json::from_value(item) {
            Ok(g) => g,
            Err(e) => {
                report.skipped.push(Skipped {
                    at,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let clouds = [
            (
                "secure",
                gpu.secure_cloud,
                gpu.secure_price,
                gpu.secure_spot_price,
            ),
            (
                "community",
                gpu.community_cloud,
                gpu.community_price,
                gpu.community_spot_price,
            ),
        ];
        let before = report.offers.len();
        for (cloud, offered, price, spot) in clouds {
            if !offered {
                continue;
            }
            match offer(&gpu, cloud, price, spot) {
                Ok(o) => report.offers.push(o),
                Err(reason) => report.skipped.push(Skipped {
                    at,
                    reason: format!("{} ({cloud}): {reason}", gpu.id),
                }),
            }
        }
        if report.offers.len() == before && !gpu.secure_cloud && !gpu.community_cloud {
            report.skipped.push(Skipped {
                at,
                reason: format!("{}: offered in neither cloud", gpu.id),
            });
        }
    }
    Ok(report)
}

fn offer(
    gpu: &GpuType,
    cloud: &str,
    price: Option<f64>,
    spot: Option<f64>,
) -> Result<RawOffer, String> {
    let money = |p: Option<f64>| {
        p.filter(|v| *v > 0.0)
            .map(MicroUsd::from_usd_f64)
            .transpose()
            .map_err(|e| e.to_string())
    };
    let (price, spot_price) = (money(price)?, money(spot)?);
    if price.is_none() && spot_price.is_none() {
        return Err("no price".into());
    }
    let mut extras = serde_json::Map::new();
    extras.insert("cloud".into(), json!(cloud));
    if let Some(max) = gpu.max_gpu_count {
        extras.insert("max_gpu_count".into(), json!(max));
    }
    if let Some(name) = &gpu.display_name {
        extras.insert("display_name".into(), json!(name));
    }
    Ok(RawOffer {
        provider: PROVIDER.into(),
        instance_type: format!("{} ({cloud})", gpu.id),
        region: if cloud == "secure" {
            "secure-cloud".into()
        } else {
            "community-cloud".into()
        },
        zone: None,
        gpu_name: gpu.id.clone(),
        gpu_count: 1,
        gpu_memory_mib: gpu
            .memory_in_gb
            .filter(|m| *m > 0.0)
            .map(|gb| (gb * 1024.0).round() as u64),
        vcpus: None,
        ram_gb: None,
        disk_gb: None,
        price,
        spot_price,
        availability: Availability::Unknown,
        extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str =
        include_str!("../../../shared/data/catalogs/runpod-graphql/gpu_prices.json");

    #[test]
    fn the_captured_response_makes_secure_and_community_offers() {
        let report = parse(CAPTURED).unwrap();
        let mi300x: Vec<&RawOffer> = report
            .offers
            .iter()
            .filter(|o| o.gpu_name == "AMD Instinct MI300X OAM")
            .collect();
        assert_eq!(
            mi300x.len(),
            1,
            "communityPrice 0.5 is a placeholder: communityCloud is false"
        );
        assert_eq!(mi300x[0].price, Some(MicroUsd(2_490_000)));
        assert_eq!(mi300x[0].spot_price, Some(MicroUsd(1_490_000)));
        assert_eq!(mi300x[0].gpu_memory_mib, Some(192 * 1024));
        let a100: Vec<&str> = report
            .offers
            .iter()
            .filter(|o| o.gpu_name == "NVIDIA A100 80GB PCIe")
            .map(|o| o.extras["cloud"].as_str().unwrap())
            .collect();
        assert_eq!(a100, ["secure", "community"]);
        assert!(report.offers.len() > 40, "{}", report.offers.len());
        for skip in &report.skipped {
            assert!(
                skip.reason.contains("neither cloud") || skip.reason.contains("no price"),
                "{skip:?}"
            );
        }
    }

    #[test]
    fn graphql_errors_and_malformed_bodies_are_refused() {
        assert!(parse(r#"{"errors": [{"message": "unauthorized"}]}"#)
            .unwrap_err()
            .to_string()
            .contains("unauthorized"));
        assert!(parse(r#"{"data": {}}"#).is_err());
        assert!(parse(r#"{"data": {"gpuTypes": [{"id": "x""#).is_err());
    }
}
