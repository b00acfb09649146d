//! Reading GPUs through `nvidia-smi --query-gpu … --format=csv,noheader,nounits` and
//! parsing its output; values it cannot report (`[N/A]`, `[Not Supported]`) are `None`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::pods::telemetry::TelemetrySample;

/// The fields asked for, in output order.
pub const QUERY: &str = "index,uuid,name,utilization.gpu,memory.used,memory.total,\
temperature.gpu,power.draw,power.limit";
/// How long one `nvidia-smi` run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(15);

/// One GPU's reading.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuReading {
    pub index: u32,
    pub uuid: String,
    pub name: String,
    pub utilization_pct: Option<f64>,
    pub memory_used_mib: Option<u64>,
    pub memory_total_mib: Option<u64>,
    pub temperature_c: Option<u32>,
    pub power_w: Option<f64>,
    pub power_limit_w: Option<f64>,
}

impl GpuReading {
    /// The wire sample of this reading taken at `at`.
    pub fn sample(&self, at: DateTime<Utc>) -> TelemetrySample {
        TelemetrySample {
            at,
            gpu_index: self.index,
            uuid: self.uuid.clone(),
            name: self.name.clone(),
            utilization_pct: self.utilization_pct,
            memory_used_mib: self.memory_used_mib,
            memory_total_mib: self.memory_total_mib,
            temperature_c: self.temperature_c,
            power_w: self.power_w,
            power_limit_w: self.power_limit_w,
        }
    }
}

/// Why no reading came back.
#[derive(Debug, thiserror::Error)]
pub enum SmiError {
    #[error("{0} was not found or cannot be run: {1}")]
    NotFound(PathBuf, String),
    #[error("nvidia-smi failed ({status}): {message}")]
    Failed { status: String, message: String },
    #[error("nvidia-smi reported no GPUs")]
    NoGpus,
    #[error("nvidia-smi did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot parse nvidia-smi output, line {line}: {message}")]
    Parse { line: usize, message: String },
}

impl SmiError {
    /// Whether this means the machine has no usable NVIDIA GPU (rather than a glitch).
    pub fn means_no_gpu(&self) -> bool {
        matches!(
            self,
            Self::NotFound(..) | Self::Failed { .. } | Self::NoGpus
        )
    }
}

/// A value, `None` when nvidia-smi cannot report it (`[N/A]`, `[Not Supported]`, …).
fn value<T: std::str::FromStr>(field: &str, raw: &str, line: usize) -> Result<Option<T>, SmiError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.starts_with('[') || raw.eq_ignore_ascii_case("N/A") {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| SmiError::Parse {
        line,
        message: format!("{field} is not a number: {raw:?}"),
    })
}

/// Memory in MiB; a fractional value (some drivers) is rounded.
fn mib(field: &str, raw: &str, line: usize) -> Result<Option<u64>, SmiError> {
    Ok(value::<f64>(field, raw, line)?
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| v.round() as u64))
}

/// Parses the CSV output (no header, no units), one GPU a line; blank lines are skipped.
pub fn parse(stdout: &str) -> Result<Vec<GpuReading>, SmiError> {
    let mut gpus = Vec::new();
    for (i, text) in stdout.lines().enumerate() {
        let line = i + 1;
        if text.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        if fields.len() != 9 {
            return Err(SmiError::Parse {
                line,
                message: format!("expected 9 comma-separated fields, got {}", fields.len()),
            });
        }
        let index = value::<u32>("index", fields[0], line)?.ok_or_else(|| SmiError::Parse {
            line,
            message: "index is missing".into(),
        })?;
        gpus.push(GpuReading {
            index,
            uuid: fields[1].to_owned(),
            name: fields[2].to_owned(),
            utilization_pct: value("utilization.gpu", fields[3], line)?,
            memory_used_mib: mib("memory.used", fields[4], line)?,
            memory_total_mib: mib("memory.total", fields[5], line)?,
            temperature_c: value::<f64>("temperature.gpu", fields[6], line)?
                .filter(|t| t.is_finite() && *t >= 0.0)
                .map(|t| t.round() as u32),
            power_w: value("power.draw", fields[7], line)?,
            power_limit_w: value("power.limit", fields[8], line)?,
        });
    }
    if gpus.is_empty() {
        return Err(SmiError::NoGpus);
    }
    Ok(gpus)
}

/// Runs `program` (nvidia-smi or a stand-in) and parses what it reports.
pub async fn read(program: &Path) -> Result<Vec<GpuReading>, SmiError> {
    let run = tokio::process::Command::new(program)
        .arg(format!("--query-gpu={QUERY}"))
        .arg("--format=csv,noheader,nounits")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .map_err(|_| SmiError::Timeout(RUN_TIMEOUT))?
        .map_err(|e| SmiError::NotFound(program.to_owned(), e.to_string()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = [stderr.trim(), stdout.trim()]
            .into_iter()
            .find(|m| !m.is_empty())
            .unwrap_or("no output")
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        return Err(SmiError::Failed {
            status: output.status.to_string(),
            message,
        });
    }
    if stdout.trim().starts_with("No devices were found") {
        return Err(SmiError::NoGpus);
    }
    parse(&stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H100X8: &str = include_str!("testdata/h100x8.csv");
    const NA_POWER: &str = include_str!("testdata/na_power.csv");
    const GARBAGE: &str = include_str!("testdata/garbage.csv");

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/agent/testdata")
            .join(name)
    }

    #[test]
    fn eight_h100s_parse_with_every_value() {
        let gpus = parse(H100X8).unwrap();
        assert_eq!(gpus.len(), 8);
        assert_eq!(gpus[0].index, 0);
        assert_eq!(gpus[0].name, "NVIDIA H100 80GB HBM3");
        assert!(gpus[0].uuid.starts_with("GPU-"));
        assert_eq!(gpus[0].utilization_pct, Some(87.0));
        assert_eq!(gpus[0].memory_used_mib, Some(71234));
        assert_eq!(gpus[0].memory_total_mib, Some(81559));
        assert_eq!(gpus[0].temperature_c, Some(61));
        assert_eq!(gpus[0].power_w, Some(312.5));
        assert_eq!(gpus[0].power_limit_w, Some(700.0));
        assert_eq!(gpus[7].index, 7);
    }

    #[test]
    fn unsupported_values_are_none() {
        let gpus = parse(NA_POWER).unwrap();
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].power_w, None);
        assert_eq!(gpus[0].power_limit_w, None);
        assert_eq!(gpus[0].utilization_pct, Some(0.0));
        assert_eq!(gpus[1].utilization_pct, None, "[Not Supported]");
        assert_eq!(gpus[1].memory_used_mib, Some(1));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let err = parse(GARBAGE).unwrap_err();
        assert!(matches!(err, SmiError::Parse { line: 2, .. }), "{err}");
        assert!(!err.means_no_gpu());
        let err = parse("0, GPU-1, X, lots, 1, 2, 3, 4, 5\n").unwrap_err();
        assert!(err.to_string().contains("utilization.gpu"), "{err}");
        assert!(matches!(parse("\n\n"), Err(SmiError::NoGpus)));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_machine_without_a_driver_means_no_gpu() {
        let err = read(&testdata("nvidia-smi-no-driver.sh"))
            .await
            .unwrap_err();
        assert!(err.means_no_gpu(), "{err}");
        assert!(
            err.to_string()
                .contains("couldn't communicate with the NVIDIA driver"),
            "{err}"
        );
        let err = read(&testdata("does-not-exist")).await.unwrap_err();
        assert!(matches!(err, SmiError::NotFound(..)), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_recorded_run_reads_through_the_process() {
        let gpus = read(&testdata("nvidia-smi-h100x8.sh")).await.unwrap();
        assert_eq!(gpus.len(), 8);
        let sample = gpus[3].sample(Utc::now());
        assert_eq!(sample.gpu_index, 3);
    }
}
