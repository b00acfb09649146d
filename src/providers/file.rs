//! The operator's own offers (on-prem machines, private deals) from a CSV or JSON file.
//!
//! Both formats use our offer fields: `provider`, `instance_type`, `region`, `gpu` (the raw
//! name), `gpu_count` (required), `zone`, `gpu_memory_gb`, `vcpus`, `ram_gb`, `disk_gb`,
//! `price_per_hour`, `spot_price_per_hour` (at least one price) and `availability`
//! (`available`, `limited`, `unavailable`, `unknown`; default unknown). CSV is header-based,
//! in any column order, prices parsed exactly from their decimal text; JSON is an array of
//! objects or `{"offers": [...]}`. Other columns or fields are kept as extras. Bad rows are
//! skipped with their line (CSV) or record number (JSON) and the reason, never silently.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::source::{FetchFuture, PriceSource, SourceError, SourcePolicy};
use super::{Availability, ParseReport, RawOffer, Skipped};
use crate::domain::money::MicroUsd;

/// Columns every CSV file must have.
pub const REQUIRED_COLUMNS: [&str; 5] = ["provider", "instance_type", "region", "gpu", "gpu_count"];

/// Every field with a meaning; anything else goes to extras.
const KNOWN: [&str; 13] = [
    "provider",
    "instance_type",
    "region",
    "zone",
    "gpu",
    "gpu_count",
    "gpu_memory_gb",
    "vcpus",
    "ram_gb",
    "disk_gb",
    "price_per_hour",
    "spot_price_per_hour",
    "availability",
];

/// Why a whole file was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("missing required column {0}")]
    MissingColumn(String),
    #[error("column {0} appears twice")]
    DuplicateColumn(String),
    #[error("cannot read CSV: {0}")]
    Csv(String),
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("expected an array of offers or an object with an `offers` array")]
    Shape,
    #[error("{0}: an offers file must end in .csv or .json")]
    UnknownFormat(String),
}

/// The two file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// The format named by the path's extension (case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Parses `text` in `format`.
pub fn parse(text: &str, format: Format) -> Result<ParseReport, FileError> {
    match format {
        Format::Csv => parse_csv(text),
        Format::Json => parse_json(text),
    }
}

/// Parses a CSV offers file (header row first; LF or CRLF; a UTF-8 BOM is ignored).
pub fn parse_csv(text: &str) -> Result<ParseReport, FileError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| FileError::Csv(e.to_string()))?;
    let names = column_names(headers)?;
    let mut report = ParseReport::default();
    for (index, record) in reader.records().enumerate() {
        let fallback_line = index + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let at = e.position().map_or(fallback_line, |p| p.line() as usize);
                report.skipped.push(Skipped {
                    at,
                    reason: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let at = record
            .position()
            .map_or(fallback_line, |p| p.line() as usize);
        let fields: Map<String, Value> = names
            .iter()
            .zip(record.iter())
            .filter(|(_, cell)| !cell.is_empty())
            .map(|(name, cell)| (name.clone(), Value::String(cell.to_owned())))
            .collect();
        match record_to_offer(fields) {
            Ok(offer) => report.offers.push(offer),
            Err(reason) => report.skipped.push(Skipped { at, reason }),
        }
    }
    Ok(report)
}

/// Header names: known fields matched case-insensitively (and stored lowercase), other
/// names kept as written; duplicates and missing required columns refuse the file.
fn column_names(headers: &csv::StringRecord) -> Result<Vec<String>, FileError> {
    let mut names = Vec::with_capacity(headers.len());
    let mut seen = HashSet::new();
    for header in headers {
        let lower = header.to_ascii_lowercase();
        let name = if KNOWN.contains(&lower.as_str()) {
            lower
        } else {
            header.to_owned()
        };
        if !seen.insert(name.clone()) {
            return Err(FileError::DuplicateColumn(name));
        }
        names.push(name);
    }
    if let Some(missing) = REQUIRED_COLUMNS.iter().find(|c| !seen.contains(**c)) {
        return Err(FileError::MissingColumn((*missing).to_owned()));
    }
    if !seen.contains("price_per_hour") && !seen.contains("spot_price_per_hour") {
        return Err(FileError::MissingColumn(
            "price_per_hour (or spot_price_per_hour)".into(),
        ));
    }
    Ok(names)
}

/// Parses a JSON offers file: an array of objects or `{"offers": [...]}`.
pub fn parse_json(text: &str) -> Result<ParseReport, FileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| FileError::Json(e.to_string()))?;
    let items = match doc {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("offers") {
            Some(Value::Array(items)) => items,
            _ => return Err(FileError::Shape),
        },
        _ => return Err(FileError::Shape),
    };
    let mut report = ParseReport::default();
    for (index, item) in items.into_iter().enumerate() {
        let result = match item {
            Value::Object(fields) => record_to_offer(fields),
            other => Err(format!("expected an object, found {}", kind(&other))),
        };
        match result {
            Ok(offer) => report.offers.push(offer),
            Err(reason) => report.skipped.push(Skipped {
                at: index + 1,
                reason,
            }),
        }
    }
    Ok(report)
}

/// One row or record; CSV cells arrive as JSON strings, so both formats share the rules.
fn record_to_offer(mut fields: Map<String, Value>) -> Result<RawOffer, String> {
    fields.retain(|_, v| !v.is_null());
    let mut text = |name: &str| take_text(&mut fields, name);
    let provider = text("provider")?.ok_or("no provider")?;
    let instance_type = text("instance_type")?.ok_or("no instance_type")?;
    let region = text("region")?.ok_or("no region")?;
    let zone = text("zone")?;
    let gpu_name = text("gpu")?.ok_or("no gpu")?;
    let availability = match text("availability")? {
        None => Availability::Unknown,
        Some(a) => parse_availability(&a)?,
    };
    let gpu_count = take_count(&mut fields)?;
    let mut number = |name: &str| take_number(&mut fields, name);
    let gpu_memory_mib = number("gpu_memory_gb")?.map(|gb| (gb * 1024.0).round() as u64);
    let (vcpus, ram_gb, disk_gb) = (number("vcpus")?, number("ram_gb")?, number("disk_gb")?);
    let price = take_price(&mut fields, "price_per_hour")?;
    let spot_price = take_price(&mut fields, "spot_price_per_hour")?;
    if price.is_none() && spot_price.is_none() {
        return Err("no price: price_per_hour and spot_price_per_hour are both empty".into());
    }
    Ok(RawOffer {
        provider,
        instance_type,
        region,
        zone,
        gpu_name,
        gpu_count,
        gpu_memory_mib,
        vcpus,
        ram_gb,
        disk_gb,
        price,
        spot_price,
        availability,
        extras: fields,
    })
}

fn take_text(fields: &mut Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.remove(name) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => Err(format!("{name} must be text, not {}", kind(&other))),
    }
}

/// A finite, non-negative number from a JSON number or a numeric string.
fn take_number(fields: &mut Map<String, Value>, name: &str) -> Result<Option<f64>, String> {
    let value = match fields.remove(name) {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        Some(other) => return Err(format!("{name} must be a number, not {}", kind(&other))),
    };
    match value {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(format!("{name} is not a non-negative number")),
    }
}

fn take_count(fields: &mut Map<String, Value>) -> Result<u32, String> {
    let raw = fields.get("gpu_count").map(ToString::to_string);
    match take_number(fields, "gpu_count")? {
        Some(n) if (1.0..=1024.0).contains(&n) && n.fract() == 0.0 => Ok(n as u32),
        Some(_) => Err(format!(
            "gpu_count {} is not a whole number of GPUs from 1 to 1024",
            raw.unwrap_or_default()
        )),
        None => Err("no gpu_count".into()),
    }
}

/// A positive price: decimal text parsed exactly, a JSON number rounded to the micro-dollar.
fn take_price(fields: &mut Map<String, Value>, name: &str) -> Result<Option<MicroUsd>, String> {
    let (shown, parsed) = match fields.remove(name) {
        None => return Ok(None),
        Some(Value::String(s)) => (s.clone(), MicroUsd::parse_usd(&s).ok()),
        Some(Value::Number(n)) => (
            n.to_string(),
            n.as_f64().and_then(|f| MicroUsd::from_usd_f64(f).ok()),
        ),
        Some(other) => return Err(format!("{name} must be a price, not {}", kind(&other))),
    };
    match parsed {
        Some(p) if p.0 > 0 => Ok(Some(p)),
        _ => Err(format!(
            "{name} {shown:?} is not a positive price in dollars"
        )),
    }
}

fn parse_availability(text: &str) -> Result<Availability, String> {
    match text.to_ascii_lowercase().as_str() {
        "available" => Ok(Availability::Available),
        "limited" => Ok(Availability::Limited),
        "unavailable" => Ok(Availability::Unavailable),
        "unknown" => Ok(Availability::Unknown),
        _ => Err(format!(
            "availability {text:?} is not one of available, limited, unavailable, unknown"
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A CSV or JSON offers file, read afresh on every fetch. Its id is `file:<file stem>`.
#[derive(Clone, Debug)]
pub struct FileSource {
    id: String,
    path: PathBuf,
    format: Format,
    policy: SourcePolicy,
}

impl FileSource {
    /// A source for `path`; the extension (`.csv` or `.json`) decides the format.
    pub fn new(path: impl Into<PathBuf>, policy: SourcePolicy) -> Result<Self, FileError> {
        let path = path.into();
        let format = Format::from_path(&path)
            .ok_or_else(|| FileError::UnknownFormat(path.display().to_string()))?;
        let stem = path
            .file_stem()
            .map_or_else(|| "offers".into(), |s| s.to_string_lossy());
        Ok(Self {
            id: format!("file:{stem}"),
            path,
            format,
            policy,
        })
    }

    /// The file this source reads.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl PriceSource for FileSource {
    fn id(&self) -> &str {
        &self.id
    }

    fn policy(&self) -> &SourcePolicy {
        &self.policy
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let text = tokio::fs::read_to_string(&self.path)
                .await
                .map_err(|e| read_error(&self.path, &e))?;
            parse(&text, self.format).map_err(|e| SourceError::Parse(e.to_string()))
        })
    }
}

/// A missing or forbidden file is configuration; bad bytes are a format problem; anything
/// else may pass (a file being replaced) and is retried.
fn read_error(path: &Path, e: &std::io::Error) -> SourceError {
    let message = format!("cannot read {}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            SourceError::Config(message)
        }
        std::io::ErrorKind::InvalidData => SourceError::Parse(message),
        _ => SourceError::Transport(message),
    }
}

#[cfg(test)]
mod tests;
