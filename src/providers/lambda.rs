//! Lambda Cloud `GET /api/v1/instance-types`: `{"data": {"<name>": {"instance_type": {…},
//! "regions_with_capacity_available": [{"name", "description"}]}}}`.
//!
//! One offer per instance type and region with capacity, available; an instance type with
//! no capacity anywhere is one unavailable offer in region `unavailable`. Prices are whole
//! cents per instance-hour. The GPU name is the model word of the instance type
//! (`gpu_8x_a100_80gb_sxm4` → `a100`); the registry refines it with the other words
//! (`80gb`, `sxm4`) and the memory read from `gpu_description` (`A100 (80 GB SXM4)`).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::http;
use super::source::{FetchFuture, PriceSource, SourceError, SourcePolicy};
use super::{Availability, ParseReport, RawOffer, Skipped};
use crate::domain::money::MicroUsd;

/// Provider id used for Lambda offers.
pub const PROVIDER: &str = "lambda";

/// Region recorded for an instance type without capacity anywhere.
pub const UNAVAILABLE_REGION: &str = "unavailable";

/// Why a whole document was refused.
#[derive(Debug, thiserror::Error)]
#[error("not a Lambda instance-types response: {0}")]
pub struct LambdaError(String);

#[derive(Deserialize)]
struct Entry {
    instance_type: InstanceType,
    #[serde(default)]
    regions_with_capacity_available: Vec<Region>,
}

#[derive(Deserialize)]
struct InstanceType {
    name: String,
    description: Option<String>,
    gpu_description: Option<String>,
    price_cents_per_hour: u64,
    specs: Specs,
}

#[derive(Deserialize)]
struct Specs {
    vcpus: Option<f64>,
    memory_gib: Option<f64>,
    storage_gib: Option<f64>,
    gpus: u32,
}

#[derive(Deserialize)]
struct Region {
    name: String,
    description: Option<String>,
}

/// Parses an instance-types response.
pub fn parse(text: &str) -> Result<ParseReport, LambdaError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| LambdaError(e.to_string()))?;
    let Value::Object(mut doc) = doc else {
        return Err(LambdaError("expected an object".into()));
    };
    let Some(Value::Object(data)) = doc.remove("data") else {
        return Err(match doc.get("error") {
            Some(error) => LambdaError(format!("API error: {error}")),
            None => LambdaError("missing data".into()),
        });
    };
    let mut report = ParseReport::default();
    for (index, (key, item)) in data.into_iter().enumerate() {
        let at = index + 1;
        match serde_json::from_value::<Entry>(item) {
            Ok(entry) if entry.instance_type.specs.gpus == 0 => report.cpu_only += 1,
            Ok(entry) => match offers(entry) {
                Ok(offers) => report.offers.extend(offers),
                Err(reason) => report.skipped.push(Skipped { at, reason }),
            },
            Err(e) => report.skipped.push(Skipped {
                at,
                reason: format!("{key}: {e}"),
            }),
        }
    }
    Ok(report)
}

/// The offers of one GPU instance type.
fn offers(entry: Entry) -> Result<Vec<RawOffer>, String> {
    let it = entry.instance_type;
    let gpu_description = it.gpu_description.as_deref().unwrap_or("");
    let gpu_name = model_token(&it.name)
        .or_else(|| description_model(gpu_description))
        .ok_or_else(|| format!("{}: cannot tell the GPU model", it.name))?
        .to_owned();
    let price = i64::try_from(it.price_cents_per_hour)
        .ok()
        .and_then(|cents| cents.checked_mul(10_000))
        .filter(|micros| *micros > 0)
        .map(MicroUsd)
        .ok_or_else(|| format!("{}: no price", it.name))?;
    let mut extras = Map::new();
    for (key, value) in [
        ("description", &it.description),
        ("gpu_description", &it.gpu_description),
    ] {
        if let Some(value) = value {
            extras.insert(key.into(), json!(value));
        }
    }
    let template = RawOffer {
        provider: PROVIDER.into(),
        instance_type: it.name,
        region: UNAVAILABLE_REGION.into(),
        zone: None,
        gpu_name,
        gpu_count: it.specs.gpus,
        gpu_memory_mib: memory_mib(gpu_description),
        vcpus: it.specs.vcpus,
        ram_gb: it.specs.memory_gib,
        disk_gb: it.specs.storage_gib,
        price: Some(price),
        spot_price: None,
        availability: Availability::Unavailable,
        extras,
    };
    if entry.regions_with_capacity_available.is_empty() {
        return Ok(vec![template]);
    }
    let in_region = |region: Region| {
        let mut offer = template.clone();
        if let Some(description) = region.description {
            offer
                .extras
                .insert("region_description".into(), json!(description));
        }
        RawOffer {
            region: region.name,
            availability: Availability::Available,
            ..offer
        }
    };
    Ok(entry
        .regions_with_capacity_available
        .into_iter()
        .map(in_region)
        .collect())
}

/// `gpu_<N>x_<model>[_<variant>…]` → `<model>`.
fn model_token(instance_type: &str) -> Option<&str> {
    let mut words = instance_type.split('_');
    if words.next()? != "gpu" {
        return None;
    }
    words.next()?.strip_suffix('x')?.parse::<u32>().ok()?;
    words.next().filter(|model| !model.is_empty())
}

/// `A100 (80 GB SXM4)` → `A100`, for instance types named some other way.
fn description_model(gpu_description: &str) -> Option<&str> {
    let model = gpu_description.split('(').next()?.trim();
    (!model.is_empty() && model != "N/A").then_some(model)
}

/// Memory per GPU from `A100 (80 GB SXM4)`.
fn memory_mib(gpu_description: &str) -> Option<u64> {
    let inside = gpu_description.split_once('(')?.1.trim_start();
    let (number, rest) = inside.split_once(' ')?;
    let gb = number
        .parse::<f64>()
        .ok()
        .filter(|gb| *gb > 0.0 && *gb < 4096.0)?;
    rest.starts_with("GB").then(|| (gb * 1024.0).round() as u64)
}

/// Default base URL of the Lambda Cloud API.
pub const DEFAULT_BASE_URL: &str = "https://cloud.lambdalabs.com";

/// Largest instance-types response read.
pub const BODY_LIMIT: usize = 4 << 20;

/// The live Lambda Cloud rate card and capacity.
pub struct LambdaSource {
    client: reqwest::Client,
    endpoint: String,
    api_key: String,
    policy: SourcePolicy,
}

impl LambdaSource {
    /// A source for `base_url` (default [`DEFAULT_BASE_URL`]) with the account's API key.
    pub fn new(base_url: Option<String>, api_key: String, policy: SourcePolicy) -> Self {
        let base = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Self {
            client: http::client(policy.reach),
            endpoint: format!("{}/api/v1/instance-types", base.trim_end_matches('/')),
            api_key,
            policy,
        }
    }

    async fn fetch_once(&self) -> Result<ParseReport, SourceError> {
        let request = self.client.get(&self.endpoint).bearer_auth(&self.api_key);
        let text = http::send(request, self.policy.timeout, BODY_LIMIT)
            .await
            .map_err(|e| http::redact(e, &self.api_key))?;
        http::parse_blocking(text, parse).await
    }
}

impl PriceSource for LambdaSource {
    fn id(&self) -> &str {
        PROVIDER
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(self.fetch_once())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::gpu::{self, GpuHints};
    use crate::providers::fake_server::{check_failure_modes, FakeServer, Reply};

    const FIXTURE: &str = include_str!("testdata/lambda_instance_types.json");

    fn model(offer: &RawOffer) -> Option<&'static str> {
        let hints = GpuHints {
            instance_type: Some(&offer.instance_type),
            memory_mib: offer.gpu_memory_mib,
        };
        gpu::resolve(&offer.gpu_name, hints).spec().map(|s| s.model)
    }

    #[test]
    fn every_instance_type_resolves_to_its_exact_model() {
        let report = parse(FIXTURE).unwrap();
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        assert_eq!((report.offers.len(), report.cpu_only), (15, 1));
        let mut seen: Vec<(&str, &str, Option<&str>)> = report
            .offers
            .iter()
            .map(|o| (o.instance_type.as_str(), o.gpu_name.as_str(), model(o)))
            .collect();
        seen.dedup();
        let expected = [
            ("gpu_1x_a10", "a10", "A10"),
            ("gpu_1x_a100_sxm4", "a100", "A100-40GB-SXM"),
            ("gpu_1x_a6000", "a6000", "RTXA6000"),
            ("gpu_1x_gh200", "gh200", "GH200"),
            ("gpu_1x_h100_pcie", "h100", "H100-PCIE"),
            ("gpu_1x_rtx6000", "rtx6000", "QUADRO-RTX6000"),
            ("gpu_8x_a100_80gb_sxm4", "a100", "A100-80GB-SXM"),
            ("gpu_8x_b200_sxm6", "b200", "B200"),
            ("gpu_8x_h100_sxm5", "h100", "H100-SXM"),
            ("gpu_8x_v100", "v100", "V100-16GB"),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(i, g, m)| (*i, *g, Some(*m)))
            .collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn offers_per_region_with_exact_prices_and_unavailable_types_kept() {
        let report = parse(FIXTURE).unwrap();
        let h100: Vec<&RawOffer> = report
            .offers
            .iter()
            .filter(|o| o.instance_type == "gpu_8x_h100_sxm5")
            .collect();
        let regions: Vec<&str> = h100.iter().map(|o| o.region.as_str()).collect();
        assert_eq!(regions, ["us-south-1", "us-west-2"]);
        let first = h100[0];
        assert_eq!(first.price, Some(MicroUsd(31_920_000)), "3192 cents");
        assert_eq!(
            (first.gpu_count, first.gpu_memory_mib),
            (8, Some(80 * 1024))
        );
        assert_eq!(
            (first.vcpus, first.ram_gb, first.disk_gb),
            (Some(208.0), Some(1800.0), Some(24780.0))
        );
        assert_eq!(first.availability, Availability::Available);
        assert_eq!(first.extras["gpu_description"], "H100 (80 GB SXM5)");
        assert_eq!(first.extras["description"], "8x H100 (80 GB SXM5)");
        assert_eq!(first.extras["region_description"], "Texas, USA");
        let b200: Vec<&RawOffer> = report
            .offers
            .iter()
            .filter(|o| o.gpu_name == "b200")
            .collect();
        assert_eq!(b200.len(), 1);
        assert_eq!(
            (b200[0].region.as_str(), b200[0].availability),
            (UNAVAILABLE_REGION, Availability::Unavailable)
        );
        assert_eq!(b200[0].price, Some(MicroUsd(53_520_000)));
        assert_eq!(b200[0].gpu_memory_mib, Some(180 * 1024));
    }

    #[test]
    fn bad_records_are_skipped_and_bad_documents_refused() {
        let text = r#"{"data": {
            "a": {"instance_type": {"name": "gpu_1x_h100_pcie", "price_cents_per_hour": 0,
                "specs": {"gpus": 1}}},
            "b": {"instance_type": {"name": "mystery", "price_cents_per_hour": 100,
                "specs": {"gpus": 2}}},
            "c": {"instance_type": {"name": "gpu_2x_l40s"}},
            "d": {"instance_type": {"name": "big_box", "gpu_description": "L40S (48 GB PCIe)",
                "price_cents_per_hour": 150, "specs": {"gpus": 2}}}
        }}"#;
        let report = parse(text).unwrap();
        let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            report.skipped.iter().map(|s| s.at).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        assert!(
            reasons[0].contains("no price") && reasons[1].contains("GPU model"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].starts_with("c: ") && reasons[2].contains("price_cents_per_hour"),
            "{reasons:?}"
        );
        let named_by_description = &report.offers[0];
        assert_eq!(
            (
                named_by_description.gpu_name.as_str(),
                named_by_description.gpu_memory_mib
            ),
            ("L40S", Some(48 * 1024))
        );
        let error =
            r#"{"error": {"code": "global/invalid-api-key", "message": "API key was invalid"}}"#;
        assert!(parse(error)
            .unwrap_err()
            .to_string()
            .contains("invalid-api-key"));
        assert!(parse("[]").is_err() && parse(r#"{"data": {"gpu_1x_a10": "#).is_err());
    }

    #[test]
    fn model_tokens_come_from_the_instance_type_name() {
        for (name, token) in [
            ("gpu_8x_h100_sxm5", Some("h100")),
            ("gpu_1x_a100_sxm4", Some("a100")),
            ("gpu_8x_a100_80gb_sxm4", Some("a100")),
            ("gpu_1x_gh200", Some("gh200")),
            ("gpu_1x_a6000", Some("a6000")),
            ("gpu_8x_b200_sxm6", Some("b200")),
            ("cpu_4x_general", None),
            ("gpu_x_h100", None),
            ("gpu_1x", None),
        ] {
            assert_eq!(model_token(name), token, "{name}");
        }
    }

    #[tokio::test]
    async fn the_live_source_sends_the_key_and_parses_the_fixture() {
        let server = FakeServer::start(vec![Reply::ok(FIXTURE)]).await;
        let source = LambdaSource::new(
            Some(format!("{}/", server.base_url)),
            "secret-key".into(),
            SourcePolicy::http(),
        );
        assert_eq!(source.id(), "lambda");
        let report = source.fetch().await.unwrap();
        assert_eq!(report.offers.len(), 15);
        let requests = server.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(
            (requests[0].method.as_str(), requests[0].path.as_str()),
            ("GET", "/api/v1/instance-types")
        );
        assert_eq!(requests[0].headers["authorization"], "Bearer secret-key");
        assert!(requests[0].headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("gpubroker/"));
    }

    #[tokio::test]
    async fn the_live_source_maps_every_failure_mode() {
        let make = |base: String, policy| -> Box<dyn PriceSource> {
            Box::new(LambdaSource::new(Some(base), "secret-key".into(), policy))
        };
        check_failure_modes(&make, "secret-key", FIXTURE).await;
    }
}
