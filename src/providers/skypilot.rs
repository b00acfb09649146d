//! SkyPilot catalog CSV (`vms.csv`, schemas v6–v8, any cloud).
//!
//! Columns are found by header name, in any order; CRLF or LF; `GpuInfo` as a Python
//! dict repr, JSON, a bare name or empty; counts as `8` or `8.0`; an empty `Price` with a
//! `SpotPrice` is a spot-only offer; rows without an accelerator are CPU-only and counted.
//! Bad rows are skipped with their line number and reason, never silently.

use std::collections::HashMap;

use serde_json::Value;

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

#[cfg(test)]
mod tests;
