//! SkyPilot catalog CSV (`vms.csv`, schemas v6–v8, any cloud).
//!
//! Columns are found by header name, in any order; CRLF or LF; `GpuInfo` as a Python
//! dict repr, JSON, a bare name or empty; counts as `8` or `8.0`; an empty `Price` with a
//! `SpotPrice` is a spot-only offer; rows without an accelerator are CPU-only and counted.
//! Bad rows are skipped with their line number and reason, never silently.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::http;
use super::source::{FetchFuture, PriceSource, SourceError, SourcePolicy};
use super::{pyrepr, Availability, ParseReport, RawOffer, Skipped};
use crate::domain::money::MicroUsd;

/// Why a whole document was refused.
#[derive(Debug, thiserror::Error)]
pub enum SkypilotError {
    #[error("not a SkyPilot catalog: missing column {0}")]
    MissingColumn(&'static str),
    #[error("cannot read CSV: {0}")]
    Csv(String),
}

/// Region recorded when the catalog row has none.
pub const UNKNOWN_REGION: &str = "unknown";

const REQUIRED: [&str; 3] = ["InstanceType", "AcceleratorName", "Region"];

/// Parses a whole `vms.csv` for `provider` (the cloud's name, e.g. `lambda`).
pub fn parse(text: &str, provider: &str) -> Result<ParseReport, SkypilotError> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| SkypilotError::Csv(e.to_string()))?
        .clone();
    let columns: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h, i)).collect();
    for name in REQUIRED {
        if !columns.contains_key(name) {
            return Err(SkypilotError::MissingColumn(name));
        }
    }
    let mut report = ParseReport::default();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                report.skipped.push(Skipped {
                    at: line,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let cell = |name: &str| {
            columns
                .get(name)
                .and_then(|i| record.get(*i))
                .filter(|v| !v.is_empty())
        };
        match parse_row(&cell, provider) {
            Ok(Some(offer)) => report.offers.push(offer),
            Ok(None) => report.cpu_only += 1,
            Err(reason) => report.skipped.push(Skipped { at: line, reason }),
        }
    }
    Ok(report)
}

/// One row: `Ok(None)` for a CPU-only row.
fn parse_row<'a>(
    cell: &dyn Fn(&str) -> Option<&'a str>,
    provider: &str,
) -> Result<Option<RawOffer>, String> {
    let Some(gpu_name) = cell("AcceleratorName") else {
        return Ok(None);
    };
    let instance_type = cell("InstanceType").ok_or("no InstanceType")?.to_owned();
    // Some catalogs (seeweb) leave Region empty; the offer is real, its location unknown.
    let region = cell("Region").unwrap_or(UNKNOWN_REGION).to_owned();
    let gpu_count = match cell("AcceleratorCount").map(parse_count) {
        Some(Ok(n)) => n,
        Some(Err(e)) => return Err(e),
        None => return Err("no AcceleratorCount".into()),
    };
    let price = money(cell("Price"), "Price")?.filter(|p| p.0 > 0);
    let spot_price = money(cell("SpotPrice"), "SpotPrice")?.filter(|p| p.0 > 0);
    if price.is_none() && spot_price.is_none() {
        return Err("no price: Price and SpotPrice are both empty or zero".into());
    }
    let info = cell("GpuInfo").and_then(pyrepr::to_json);
    let mut extras = serde_json::Map::new();
    if let Some(info_name) = info
        .as_ref()
        .and_then(gpu_info_name)
        .filter(|n| *n != gpu_name)
    {
        extras.insert("gpu_info_name".into(), Value::String(info_name.to_owned()));
    }
    Ok(Some(RawOffer {
        provider: provider.to_owned(),
        instance_type,
        region,
        zone: cell("AvailabilityZone").map(str::to_owned),
        gpu_name: gpu_name.to_owned(),
        gpu_count,
        gpu_memory_mib: info.as_ref().and_then(|i| gpu_memory_mib(i, gpu_count)),
        vcpus: number(cell("vCPUs")),
        ram_gb: number(cell("MemoryGiB")),
        disk_gb: number(cell("StorageGiB")),
        price,
        spot_price,
        availability: Availability::Unknown,
        extras,
    }))
}

fn parse_count(raw: &str) -> Result<u32, String> {
    match raw.parse::<f64>() {
        Ok(n) if n >= 1.0 && n.fract() == 0.0 && n <= 1024.0 => Ok(n as u32),
        _ => Err(format!(
            "AcceleratorCount {raw:?} is not a whole number of GPUs"
        )),
    }
}

fn money(raw: Option<&str>, column: &str) -> Result<Option<MicroUsd>, String> {
    match raw {
        None => Ok(None),
        Some(text) => match MicroUsd::parse_usd(text) {
            Ok(m) if m.0 >= 0 => Ok(Some(m)),
            _ => Err(format!("{column} {text:?} is not a price")),
        },
    }
}

fn number(raw: Option<&str>) -> Option<f64> {
    raw.and_then(|s| s.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n >= 0.0)
}

fn gpu_info_name(info: &Value) -> Option<&str> {
    info.get("Gpus")?.get(0)?.get("Name")?.as_str()
}

/// Memory per GPU: the first GPU's `MemoryInfo.SizeInMiB`, else the total over the count.
fn gpu_memory_mib(info: &Value, count: u32) -> Option<u64> {
    let first = info.get("Gpus").and_then(|g| g.get(0));
    let per_gpu = first
        .and_then(|g| g.get("MemoryInfo"))
        .and_then(|m| m.get("SizeInMiB"))
        .and_then(Value::as_f64);
    let total = info
        .get("TotalGpuMemoryInMiB")
        .or_else(|| first.and_then(|g| g.get("TotalGpuMemoryInMiB")))
        .and_then(Value::as_f64)
        .map(|t| t / f64::from(count.max(1)));
    per_gpu
        .or(total)
        .filter(|m| *m > 0.0)
        .map(|m| m.round() as u64)
}

/// Largest catalog read, from a URL or a file.
pub const CATALOG_LIMIT: usize = 128 << 20;

/// Where a catalog lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Location {
    Url(String),
    Path(PathBuf),
}

/// A SkyPilot `vms.csv` for one cloud, read from an `http(s)://` URL or a local path.
/// Its id is `skypilot:<cloud>`; its offers carry `<cloud>` as their provider.
pub struct SkypilotSource {
    id: String,
    cloud: String,
    location: Location,
    client: reqwest::Client,
    policy: SourcePolicy,
}

impl SkypilotSource {
    /// A source for `cloud`'s catalog at `location`: a URL when it starts with `http://`
    /// or `https://`, else a path (a leading `file://` is dropped).
    pub fn new(cloud: String, location: String, policy: SourcePolicy) -> Self {
        let lower = location.to_ascii_lowercase();
        let location = if lower.starts_with("http://") || lower.starts_with("https://") {
            Location::Url(location)
        } else {
            let path = location.strip_prefix("file://").unwrap_or(&location);
            Location::Path(PathBuf::from(path))
        };
        Self {
            id: format!("skypilot:{cloud}"),
            cloud,
            location,
            client: http::client(policy.reach),
            policy,
        }
    }

    async fn fetch_once(&self) -> Result<ParseReport, SourceError> {
        let text = match &self.location {
            Location::Url(url) => {
                let request = self.client.get(url);
                http::send(request, self.policy.timeout, CATALOG_LIMIT).await?
            }
            Location::Path(path) => read_catalog(path).await?,
        };
        let cloud = self.cloud.clone();
        http::parse_blocking(text, move |text| parse(text, &cloud)).await
    }
}

/// Reads a catalog file: a missing or unreadable file is a configuration error.
async fn read_catalog(path: &Path) -> Result<String, SourceError> {
    let failed = |e: std::io::Error| {
        let message = format!("cannot read {}: {e}", path.display());
        match e.kind() {
            ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::IsADirectory => {
                SourceError::Config(message)
            }
            ErrorKind::InvalidData => SourceError::Parse(message),
            _ => SourceError::Transport(message),
        }
    };
    let size = tokio::fs::metadata(path).await.map_err(failed)?.len();
    if size > CATALOG_LIMIT as u64 {
        let message = format!("{} is larger than {CATALOG_LIMIT} bytes", path.display());
        return Err(SourceError::Config(message));
    }
    tokio::fs::read_to_string(path).await.map_err(failed)
}

impl PriceSource for SkypilotSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(self.fetch_once())
    }
}

#[cfg(test)]
mod source_tests {
    use std::io::Write;

    use super::*;
    use crate::providers::fake_server::{check_failure_modes, FakeServer, Reply};

    const LAMBDA: &str =
        include_str!("../../../shared/data/catalogs/skypilot-catalog/v8/lambda/vms.csv");

    #[tokio::test]
    async fn a_catalog_file_is_read_and_its_offers_carry_the_cloud() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(LAMBDA.as_bytes()).unwrap();
        let location = format!("file://{}", file.path().display());
        let source = SkypilotSource::new("lambda".into(), location, SourcePolicy::catalog());
        assert_eq!(source.id(), "skypilot:lambda");
        let report = source.fetch().await.unwrap();
        assert_eq!(report, parse(LAMBDA, "lambda").unwrap());
        assert_eq!((report.offers.len(), report.cpu_only), (374, 34));
        assert!(report.offers.iter().all(|o| o.provider == "lambda"));
    }

    #[tokio::test]
    async fn a_missing_file_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("vms.csv").to_string_lossy().into_owned();
        let source = SkypilotSource::new("aws".into(), missing, SourcePolicy::catalog());
        let err = source.fetch().await.unwrap_err();
        assert!(
            matches!(&err, SourceError::Config(m) if m.contains("vms.csv")),
            "{err:?}"
        );
        assert!(!err.is_retryable());
    }

    #[tokio::test]
    async fn a_catalog_url_is_fetched_with_get() {
        let server = FakeServer::start(vec![Reply::ok(LAMBDA)]).await;
        let url = format!("{}/catalogs/v8/lambda/vms.csv", server.base_url);
        let source = SkypilotSource::new("lambda".into(), url, SourcePolicy::catalog());
        let report = source.fetch().await.unwrap();
        assert_eq!(report.offers.len(), 374);
        let requests = server.requests();
        assert_eq!(requests[0].method, "GET");
        assert_eq!(requests[0].path, "/catalogs/v8/lambda/vms.csv");
        assert!(!requests[0].headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn the_url_source_maps_every_failure_mode() {
        let make = |base: String, policy| -> Box<dyn PriceSource> {
            let url = format!("{base}/vms.csv");
            Box::new(SkypilotSource::new("lambda".into(), url, policy))
        };
        check_failure_modes(&make, "", LAMBDA).await;
    }
}

#[cfg(test)]
mod tests;
