//! Vast.ai bundles search response (`POST /api/v0/bundles/`): a JSON array of offers, or an
//! object with an `offers` array. Each offer is one machine slice: `dph_total` is the
//! on-demand price of the whole slice per hour, `min_bid` the interruptible floor.
//! Reliability, DLPerf, verification and network speeds are kept as extras.

use serde::Deserialize;
use serde_json::{json, Value};

use super::http;
use super::source::{FetchFuture, PriceSource, SourceError, SourcePolicy};
use super::{Availability, ParseReport, RawOffer, Skipped};
use crate::domain::money::MicroUsd;

/// Provider id used for Vast.ai offers.
pub const PROVIDER: &str = "vastai";

/// Why a whole document was refused.
#[derive(Debug, thiserror::Error)]
#[error("not a Vast.ai search response: {0}")]
pub struct VastError(String);

#[derive(Deserialize)]
struct VastOffer {
    id: u64,
    machine_id: Option<u64>,
    gpu_name: String,
    num_gpus: f64,
    gpu_ram: Option<f64>,
    cpu_cores_effective: Option<f64>,
    cpu_ram: Option<f64>,
    disk_space: Option<f64>,
    dph_total: Option<f64>,
    min_bid: Option<f64>,
    reliability2: Option<f64>,
    reliability: Option<f64>,
    dlperf: Option<f64>,
    geolocation: Option<String>,
    rentable: Option<bool>,
    rented: Option<bool>,
    verification: Option<String>,
    inet_down: Option<f64>,
    inet_up: Option<f64>,
}

/// Parses a search response.
pub fn parse(text: &str) -> Result<ParseReport, VastError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| VastError(e.to_string()))?;
    let items = match doc {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("offers") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(VastError(
                    "expected an array or an object with `offers`".into(),
                ))
            }
        },
        _ => {
            return Err(VastError(
                "expected an array or an object with `offers`".into(),
            ))
        }
    };
    let mut report = ParseReport::default();
    for (index, item) in items.into_iter().enumerate() {
        let at = index + 1;
        match serde_json::from_value::<VastOffer>(item)
            .map_err(|e| e.to_string())
            .and_then(convert)
        {
            Ok(offer) => report.offers.push(offer),
            Err(reason) => report.skipped.push(Skipped { at, reason }),
        }
    }
    Ok(report)
}

fn convert(o: VastOffer) -> Result<RawOffer, String> {
    if o.num_gpus < 1.0 || o.num_gpus.fract() != 0.0 {
        return Err(format!(
            "num_gpus {} is not a whole number of GPUs",
            o.num_gpus
        ));
    }
    let price = o
        .dph_total
        .filter(|p| *p > 0.0)
        .map(MicroUsd::from_usd_f64)
        .transpose()
        .map_err(|e| e.to_string())?
        .ok_or("no price: dph_total is missing or zero")?;
    let spot_price = o
        .min_bid
        .filter(|p| *p > 0.0)
        .map(MicroUsd::from_usd_f64)
        .transpose()
        .map_err(|e| e.to_string())?;
    let availability = match (o.rentable, o.rented) {
        (Some(true), Some(false) | None) => Availability::Available,
        (Some(false), _) | (_, Some(true)) => Availability::Unavailable,
        _ => Availability::Unknown,
    };
    let extras = json!({
        "machine_id": o.machine_id,
        "reliability": o.reliability2.or(o.reliability),
        "dlperf": o.dlperf,
        "verification": o.verification,
        "inet_down_mbps": o.inet_down,
        "inet_up_mbps": o.inet_up,
    });
    let Value::Object(mut extras) = extras else {
        unreachable!("json! object")
    };
    extras.retain(|_, v| !v.is_null());
    Ok(RawOffer {
        provider: PROVIDER.into(),
        // Vast has no instance types: each offer is a slice of one machine, so its offer id
        // is part of its identity.
        instance_type: format!("{}x {} #{}", o.num_gpus, o.gpu_name, o.id),
        region: o
            .geolocation
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| "unknown".into()),
        zone: None,
        gpu_name: o.gpu_name,
        gpu_count: o.num_gpus as u32,
        gpu_memory_mib: o.gpu_ram.filter(|m| *m > 0.0).map(|m| m.round() as u64),
        vcpus: o.cpu_cores_effective,
        ram_gb: o.cpu_ram.map(|mib| (mib / 1024.0 * 10.0).round() / 10.0),
        disk_gb: o.disk_space,
        price: Some(price),
        spot_price,
        availability,
        extras: {
            extras.insert("offer_id".into(), json!(o.id));
            extras
        },
    })
}

/// Default base URL of the Vast.ai console API.
pub const DEFAULT_BASE_URL: &str = "https://console.vast.ai";

/// Largest search response read (5,000 offers are about 14 MB).
pub const BODY_LIMIT: usize = 64 << 20;

/// The search [`VastSource`] sends: verified, rentable, unrented on-demand offers on
/// Vast's own hosts, cheapest first.
pub fn search_query() -> Value {
    json!({
        "verified": {"eq": true},
        "rentable": {"eq": true},
        "rented": {"eq": false},
        "external": {"eq": false},
        "type": "on-demand",
        "order": [["dph_total", "asc"]],
        "limit": 5000
    })
}

/// The live Vast.ai marketplace (`POST /api/v0/bundles/`); the search works without a key.
pub struct VastSource {
    client: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
    policy: SourcePolicy,
}

impl VastSource {
    /// A source for `base_url` (default [`DEFAULT_BASE_URL`]), with an optional API key.
    pub fn new(base_url: Option<String>, api_key: Option<String>, policy: SourcePolicy) -> Self {
        let base = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Self {
            client: http::client(policy.reach),
            endpoint: format!("{}/api/v0/bundles/", base.trim_end_matches('/')),
            api_key: api_key.filter(|k| !k.is_empty()),
            policy,
        }
    }

    async fn fetch_once(&self) -> Result<ParseReport, SourceError> {
        let mut request = self.client.post(&self.endpoint).json(&search_query());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let text = http::send(request, self.policy.timeout, BODY_LIMIT)
            .await
            .map_err(|e| http::redact(e, self.api_key.as_deref().unwrap_or_default()))?;
        http::parse_blocking(text, parse).await
    }
}

impl PriceSource for VastSource {
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

    const CAPTURED: &str = include_str!("../../../shared/data/catalogs/vast-python/search.json");

    #[test]
    fn the_captured_response_parses_every_offer() {
        let report = parse(CAPTURED).unwrap();
        assert_eq!(report.offers.len(), 1396);
        assert!(report.skipped.is_empty(), "{:?}", report.skipped.first());
        let first = &report.offers[0];
        assert_eq!(first.gpu_name, "RTX 4090");
        assert_eq!((first.gpu_count, first.gpu_memory_mib), (1, Some(24564)));
        assert_eq!(first.price, Some(MicroUsd(168_056)));
        assert_eq!(first.spot_price, Some(MicroUsd(160_000)));
        assert_eq!(first.region, "South Korea, KR");
        assert_eq!(first.availability, Availability::Available);
        assert_eq!(first.extras["offer_id"], 13_489_095);
        assert!(first.extras["reliability"].as_f64().unwrap() > 0.99);
        assert!(first.extras.contains_key("dlperf"));
    }

    #[test]
    fn bad_records_are_skipped_with_reasons_and_bad_documents_refused() {
        let text = r#"{"offers": [
            {"id": 1, "gpu_name": "A40", "num_gpus": 2, "dph_total": 0.8, "rentable": true, "rented": true},
            {"id": 2, "gpu_name": "A40", "num_gpus": 0.5, "dph_total": 0.8},
            {"id": 3, "gpu_name": "A40", "num_gpus": 1, "dph_total": 0},
            {"id": 4, "num_gpus": 1}
        ]}"#;
        let report = parse(text).unwrap();
        assert_eq!(report.offers.len(), 1);
        assert_eq!(report.offers[0].availability, Availability::Unavailable);
        assert_eq!(report.offers[0].region, "unknown");
        let reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(
            reasons[0].contains("whole number")
                && reasons[1].contains("no price")
                && reasons[2].contains("gpu_name"),
            "{reasons:?}"
        );
        assert!(parse("{\"offers\": 3}").is_err());
        assert!(parse("[{\"id\": 1,").is_err(), "truncated body");
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;
    use crate::providers::fake_server::{check_failure_modes, FakeServer, Reply};

    const CAPTURED: &str = include_str!("../../../shared/data/catalogs/vast-python/search.json");
    const SMALL: &str =
        r#"{"offers": [{"id": 7, "gpu_name": "RTX 4090", "num_gpus": 2, "dph_total": 0.7}]}"#;

    #[tokio::test]
    async fn the_live_source_posts_the_search_and_parses_the_captured_response() {
        let server =
            FakeServer::start(vec![Reply::ok(format!("{{\"offers\": {CAPTURED}}}"))]).await;
        let source = VastSource::new(
            Some(server.base_url.clone()),
            Some("vast-key".into()),
            SourcePolicy::http(),
        );
        assert_eq!(source.id(), "vastai");
        let report = source.fetch().await.unwrap();
        assert_eq!(report.offers.len(), 1396);
        assert_eq!(report.offers[0].price, Some(MicroUsd(168_056)));
        let requests = server.requests();
        let request = &requests[0];
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/api/v0/bundles/")
        );
        assert_eq!(request.headers["authorization"], "Bearer vast-key");
        assert_eq!(request.headers["content-type"], "application/json");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["rentable"], json!({"eq": true}));
        assert_eq!(body["order"], json!([["dph_total", "asc"]]));
        assert_eq!(body, search_query());
    }

    #[tokio::test]
    async fn without_a_key_no_authorization_header_is_sent() {
        let server = FakeServer::start(vec![Reply::ok(SMALL)]).await;
        let source = VastSource::new(
            Some(server.base_url.clone()),
            Some(String::new()),
            SourcePolicy::http(),
        );
        assert_eq!(source.fetch().await.unwrap().offers[0].gpu_count, 2);
        assert!(!server.requests()[0].headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn the_live_source_maps_every_failure_mode() {
        let make = |base: String, policy| -> Box<dyn PriceSource> {
            Box::new(VastSource::new(Some(base), Some("vast-key".into()), policy))
        };
        check_failure_modes(&make, "vast-key", SMALL).await;
    }
}
