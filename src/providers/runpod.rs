//! RunPod GraphQL `gpuTypes` response. Each GPU type becomes up to two single-GPU offers:
//! Secure Cloud (`securePrice`, `secureSpotPrice`) and Community Cloud (`communityPrice`,
//! `communitySpotPrice`). `communityPrice` is a placeholder when `communityCloud` is false,
//! so no community offer is made then; likewise for secure. Prices are per GPU-hour.

use serde::Deserialize;
use serde_json::{json, Value};

use super::http;
use super::source::{FetchFuture, PriceSource, SourceError, SourcePolicy};
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

/// Default base URL of the RunPod API.
pub const DEFAULT_BASE_URL: &str = "https://api.runpod.io";

/// The GraphQL query [`RunpodSource`] sends.
pub const GPU_TYPES_QUERY: &str = "query GpuTypes { gpuTypes { id displayName memoryInGb \
    maxGpuCount secureCloud communityCloud securePrice communityPrice secureSpotPrice \
    communitySpotPrice } }";

/// Largest `gpuTypes` response read.
pub const BODY_LIMIT: usize = 4 << 20;

/// The live RunPod GPU price list (`POST /graphql`).
///
/// GraphQL answers errors with status 200: an `errors` answer whose message speaks of
/// authorisation (unauthorized, unauthenticated, forbidden, API key) is reported as
/// [`SourceError::Status`] 401, so it is not retried; any other as [`SourceError::Parse`].
pub struct RunpodSource {
    client: reqwest::Client,
    endpoint: String,
    api_key: String,
    policy: SourcePolicy,
}

impl RunpodSource {
    /// A source for `base_url` (default [`DEFAULT_BASE_URL`]) with the account's API key.
    pub fn new(base_url: Option<String>, api_key: String, policy: SourcePolicy) -> Self {
        let base = base_url.unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
        Self {
            client: http::client(policy.reach),
            endpoint: format!("{}/graphql", base.trim_end_matches('/')),
            api_key,
            policy,
        }
    }

    async fn fetch_once(&self) -> Result<ParseReport, SourceError> {
        let request = self
            .client
            .post(&self.endpoint)
            .bearer_auth(&self.api_key)
            .json(&json!({ "query": GPU_TYPES_QUERY }));
        let result = match http::send(request, self.policy.timeout, BODY_LIMIT).await {
            Ok(text) => http::parse_blocking(text, parse)
                .await
                .map_err(graphql_auth),
            Err(e) => Err(e),
        };
        result.map_err(|e| http::redact(e, &self.api_key))
    }
}

/// Turns a GraphQL authorisation error into a 401.
fn graphql_auth(err: SourceError) -> SourceError {
    let SourceError::Parse(message) = &err else {
        return err;
    };
    let lower = message.to_ascii_lowercase();
    let auth = ["unauthorized", "unauthenticated", "forbidden", "api key"];
    if lower.contains("graphql errors") && auth.iter().any(|word| lower.contains(word)) {
        let snippet = http::snippet(message);
        SourceError::Status {
            status: 401,
            snippet,
            retry_after: None,
        }
    } else {
        err
    }
}

impl PriceSource for RunpodSource {
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

#[cfg(test)]
mod source_tests {
    use super::*;
    use crate::providers::fake_server::{check_failure_modes, FakeServer, Reply};

    const CAPTURED: &str =
        include_str!("../../../shared/data/catalogs/runpod-graphql/gpu_prices.json");

    fn wrapped() -> String {
        format!("{{\"data\": {{\"gpuTypes\": {CAPTURED}}}}}")
    }

    fn source(server: &FakeServer) -> RunpodSource {
        RunpodSource::new(
            Some(server.base_url.clone()),
            "rp-key".into(),
            SourcePolicy::http(),
        )
    }

    #[tokio::test]
    async fn the_live_source_posts_the_query_and_parses_the_captured_response() {
        let server = FakeServer::start(vec![Reply::ok(wrapped())]).await;
        let report = source(&server).fetch().await.unwrap();
        assert_eq!(
            report,
            parse(CAPTURED).unwrap(),
            "same offers as the bare capture"
        );
        assert!(report.offers.len() > 40);
        let requests = server.requests();
        let request = &requests[0];
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/graphql")
        );
        assert_eq!(request.headers["authorization"], "Bearer rp-key");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        let query = body["query"].as_str().unwrap();
        assert!(
            query.starts_with("query GpuTypes { gpuTypes { id displayName"),
            "{query}"
        );
        for field in [
            "memoryInGb",
            "secureCloud",
            "communitySpotPrice",
            "secureSpotPrice",
        ] {
            assert!(query.contains(field), "{field} missing from {query}");
        }
    }

    #[tokio::test]
    async fn graphql_errors_are_401_when_about_authorisation_else_parse_errors() {
        let unauthorized =
            r#"{"errors": [{"message": "Unauthorized: bad key rp-key"}], "data": null}"#;
        let broken = r#"{"errors": [{"message": "Cannot query field \"foo\""}]}"#;
        let server = FakeServer::start(vec![Reply::ok(unauthorized), Reply::ok(broken)]).await;
        let err = source(&server).fetch().await.unwrap_err();
        assert!(
            matches!(err, SourceError::Status { status: 401, .. }),
            "{err:?}"
        );
        assert!(
            !err.is_retryable() && !err.to_string().contains("rp-key"),
            "{err}"
        );
        let err = source(&server).fetch().await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Parse(m) if m.contains("Cannot query field")),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn the_live_source_maps_every_failure_mode() {
        let make = |base: String, policy| -> Box<dyn PriceSource> {
            Box::new(RunpodSource::new(Some(base), "rp-key".into(), policy))
        };
        check_failure_modes(&make, "rp-key", &wrapped()).await;
    }
}
