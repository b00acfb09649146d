//! GPU telemetry of pods: the per-pod agent token, the samples the node agent posts
//! (`gpubroker agent`, `src/agent`), their validation and their downsampling into
//! (GPU, minute) aggregates. See docs/pods.md, "GPU node agent and telemetry".

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{PodError, PodState, Pods};
use crate::auth::sha256_hex;
use crate::store::pods::PodRow;
use crate::store::telemetry::{TelemetryBucket, TelemetryRow};

/// Prefix of agent tokens.
pub const AGENT_TOKEN_PREFIX: &str = "gpa_";
/// Most samples accepted in one post.
pub const MAX_SAMPLES_PER_POST: usize = 100;
/// How far in the future a sample's time may be (clock skew).
pub const MAX_FUTURE: ChronoDuration = ChronoDuration::minutes(5);
/// How long aggregates are kept; older samples are ignored on ingest.
pub const RETENTION: ChronoDuration = ChronoDuration::days(7);
/// Longest readable window, minutes (7 days).
pub const MAX_WINDOW_MINUTES: i64 = 10_080;
/// Longest step of a read series, minutes (1 day).
pub const MAX_STEP_MINUTES: i64 = 1_440;
/// Highest GPU index accepted.
const MAX_GPU_INDEX: u32 = 63;

/// One reading of one GPU, as `nvidia-smi --query-gpu` reports it; unknown values
/// (`[N/A]`, `[Not Supported]`) are `null`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySample {
    /// When the reading was taken (at most 5 minutes in the future).
    pub at: DateTime<Utc>,
    /// The GPU's index on the machine (0 to 63).
    pub gpu_index: u32,
    /// The GPU's UUID (`GPU-…`).
    pub uuid: String,
    /// The GPU's product name.
    pub name: String,
    /// GPU utilisation, percent (0 to 100).
    pub utilization_pct: Option<f64>,
    pub memory_used_mib: Option<u64>,
    pub memory_total_mib: Option<u64>,
    pub temperature_c: Option<u32>,
    /// Power draw, watts.
    pub power_w: Option<f64>,
    /// Power limit, watts.
    pub power_limit_w: Option<f64>,
}

/// What the agent posts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TelemetryBatch {
    /// 1 to 100 samples.
    pub samples: Vec<TelemetrySample>,
}

/// Checks one sample against the wire contract at `now`.
pub fn validate(i: usize, s: &TelemetrySample, now: DateTime<Utc>) -> Result<(), String> {
    let bad = |what: &str| Err(format!("samples[{i}]: {what}"));
    if s.at > now + MAX_FUTURE {
        return bad("at is more than 5 minutes in the future");
    }
    if s.gpu_index > MAX_GPU_INDEX {
        return bad("gpu_index must be 0 to 63");
    }
    if s.uuid.len() > 100 || s.name.len() > 100 {
        return bad("uuid and name must be at most 100 bytes");
    }
    if s.uuid.chars().chain(s.name.chars()).any(char::is_control) {
        return bad("uuid and name must be printable");
    }
    if let Some(u) = s.utilization_pct {
        if !(0.0..=100.0).contains(&u) {
            return bad("utilization_pct must be 0 to 100");
        }
    }
    for (what, v) in [("power_w", s.power_w), ("power_limit_w", s.power_limit_w)] {
        if let Some(v) = v {
            if !v.is_finite() || !(0.0..=100_000.0).contains(&v) {
                return bad(&format!("{what} must be 0 to 100000"));
            }
        }
    }
    let too_big = |v: Option<u64>| v.is_some_and(|v| v > 1 << 40);
    if too_big(s.memory_used_mib) || too_big(s.memory_total_mib) {
        return bad("memory is out of range");
    }
    if s.temperature_c.is_some_and(|t| t > 250) {
        return bad("temperature_c must be 0 to 250");
    }
    Ok(())
}

fn max_f(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Folds samples into one aggregate per (GPU, minute).
pub fn aggregate(samples: &[TelemetrySample]) -> Vec<TelemetryBucket> {
    let mut buckets: BTreeMap<(i64, i64), TelemetryBucket> = BTreeMap::new();
    for s in samples {
        let at = s.at.trunc_subsecs(0);
        let key = (i64::from(s.gpu_index), at.timestamp().div_euclid(60));
        let b = buckets.entry(key).or_insert_with(|| TelemetryBucket {
            gpu_index: key.0,
            minute: key.1,
            uuid: s.uuid.clone(),
            name: s.name.clone(),
            samples: 0,
            util_n: 0,
            util_sum: 0.0,
            util_max: None,
            mem_n: 0,
            mem_used_sum: 0,
            mem_used_max: None,
            mem_total: None,
            temp_max: None,
            power_n: 0,
            power_sum: 0.0,
            power_max: None,
            power_limit: None,
            last_at: at,
        });
        b.samples += 1;
        if let Some(u) = s.utilization_pct {
            b.util_n += 1;
            b.util_sum += u;
            b.util_max = max_f(b.util_max, Some(u));
        }
        if let Some(m) = s.memory_used_mib.and_then(|m| i64::try_from(m).ok()) {
            b.mem_n += 1;
            b.mem_used_sum += m;
            b.mem_used_max = b.mem_used_max.max(Some(m));
        }
        if let Some(t) = s.memory_total_mib.and_then(|m| i64::try_from(m).ok()) {
            b.mem_total = Some(t);
        }
        b.temp_max = b.temp_max.max(s.temperature_c.map(i64::from));
        if let Some(p) = s.power_w {
            b.power_n += 1;
            b.power_sum += p;
            b.power_max = max_f(b.power_max, Some(p));
        }
        b.power_limit = s.power_limit_w.or(b.power_limit);
        if at >= b.last_at {
            b.last_at = at;
            b.uuid.clone_from(&s.uuid);
            b.name.clone_from(&s.name);
        }
    }
    buckets.into_values().collect()
}

/// Whole minutes since the Unix epoch of `at`.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// The start of epoch minute `minute`.
pub fn minute_start(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute.saturating_mul(60), 0).unwrap_or_default()
}

/// What an ingest kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ingested {
    pub accepted: usize,
    /// Samples older than the retention window, skipped.
    pub ignored: usize,
}

impl Pods {
    /// Issues a new agent token for `pod` (replacing any earlier one); answers the token,
    /// which is never stored (only its SHA-256 hex).
    pub async fn issue_agent_token(&self, pod: &PodRow) -> Result<String, PodError> {
        let state = super::service::state_of(pod);
        if !matches!(
            state,
            PodState::Requested | PodState::Provisioning | PodState::Running
        ) {
            return Err(PodError::Conflict(format!(
                "the pod is {}; agent tokens are issued for pods that are starting or running",
                state.as_str()
            )));
        }
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| PodError::Invalid("cannot generate random bytes".into()))?;
        let token = format!("{AGENT_TOKEN_PREFIX}{}", B64URL.encode(bytes));
        self.store
            .pod_agent_token_set(&pod.id, &sha256_hex(token.as_bytes()))
            .await?;
        self.store
            .audit_append(
                &format!("user:{}", pod.user_id),
                "pods.agent_token_issued",
                Some(&format!("pod:{}", pod.id)),
                serde_json::json!({}),
            )
            .await?;
        Ok(token)
    }

    /// The pod `token` was issued for; `None` for a malformed or unknown token.
    pub async fn pod_of_agent(&self, token: &str) -> Result<Option<PodRow>, PodError> {
        if !token.starts_with(AGENT_TOKEN_PREFIX) || token.len() > 200 {
            return Ok(None);
        }
        Ok(self
            .store
            .pod_by_agent_token(&sha256_hex(token.as_bytes()))
            .await?)
    }

    /// Validates and stores `batch` for `pod`, which must be provisioning or running.
    pub async fn ingest_telemetry(
        &self,
        pod: &PodRow,
        batch: &TelemetryBatch,
    ) -> Result<Ingested, PodError> {
        let n = batch.samples.len();
        if n == 0 || n > MAX_SAMPLES_PER_POST {
            return Err(PodError::Invalid(format!(
                "post 1 to {MAX_SAMPLES_PER_POST} samples, not {n}"
            )));
        }
        let now = Utc::now();
        for (i, s) in batch.samples.iter().enumerate() {
            validate(i, s, now).map_err(PodError::Invalid)?;
        }
        let state = super::service::state_of(pod);
        if !matches!(state, PodState::Provisioning | PodState::Running) {
            return Err(PodError::Conflict(format!(
                "the pod is {}; telemetry is accepted while it is provisioning or running",
                state.as_str()
            )));
        }
        let oldest = now - RETENTION;
        let kept: Vec<TelemetrySample> = batch
            .samples
            .iter()
            .filter(|s| s.at >= oldest)
            .cloned()
            .collect();
        let buckets = aggregate(&kept);
        if !buckets.is_empty() {
            self.store.telemetry_merge(&pod.id, &buckets).await?;
        }
        metrics::counter!("gpubroker_pod_telemetry_samples_total").increment(kept.len() as u64);
        Ok(Ingested {
            accepted: kept.len(),
            ignored: n - kept.len(),
        })
    }

    /// `pod`'s telemetry of the last `minutes` minutes in steps of `step` minutes, and
    /// the newest sample time.
    pub async fn telemetry(
        &self,
        pod: &PodRow,
        minutes: i64,
        step: i64,
    ) -> Result<(Vec<TelemetryRow>, Option<DateTime<Utc>>), PodError> {
        if !(1..=MAX_WINDOW_MINUTES).contains(&minutes) {
            return Err(PodError::Invalid(format!(
                "minutes must be 1 to {MAX_WINDOW_MINUTES}"
            )));
        }
        if !(1..=MAX_STEP_MINUTES).contains(&step) {
            return Err(PodError::Invalid(format!(
                "step must be 1 to {MAX_STEP_MINUTES}"
            )));
        }
        let since = minute_of(Utc::now()) - minutes + 1;
        let rows = self.store.telemetry_series(&pod.id, since, step).await?;
        let last = self.store.telemetry_last_at(&pod.id).await?;
        Ok((rows, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: &str, gpu: u32, util: Option<f64>, power: Option<f64>) -> TelemetrySample {
        TelemetrySample {
            at: at.parse().unwrap(),
            gpu_index: gpu,
            uuid: format!("GPU-{gpu}"),
            name: "NVIDIA H100 80GB HBM3".into(),
            utilization_pct: util,
            memory_used_mib: Some(1000),
            memory_total_mib: Some(81559),
            temperature_c: Some(60),
            power_w: power,
            power_limit_w: Some(700.0),
        }
    }

    #[test]
    fn samples_fold_per_gpu_and_minute_with_sums_counts_and_maxima() {
        let buckets = aggregate(&[
            sample("2026-01-01T00:00:05.5Z", 0, Some(10.0), Some(100.0)),
            sample("2026-01-01T00:00:35Z", 0, Some(30.0), None),
            sample("2026-01-01T00:01:00Z", 0, None, Some(50.0)),
            sample("2026-01-01T00:00:10Z", 1, Some(90.0), Some(300.0)),
        ]);
        assert_eq!(buckets.len(), 3);
        let first = &buckets[0];
        assert_eq!((first.gpu_index, first.samples), (0, 2));
        assert_eq!(
            (first.util_n, first.util_sum, first.util_max),
            (2, 40.0, Some(30.0))
        );
        assert_eq!((first.power_n, first.power_sum), (1, 100.0));
        assert_eq!(first.last_at.to_rfc3339(), "2026-01-01T00:00:35+00:00");
        assert_eq!(buckets[1].minute, first.minute + 1);
        assert_eq!((buckets[1].util_n, buckets[1].util_max), (0, None));
        assert_eq!(buckets[2].gpu_index, 1);
    }

    #[test]
    fn validation_names_the_bad_sample() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let ok = sample("2026-01-01T00:04:00Z", 0, Some(100.0), Some(0.0));
        assert!(validate(0, &ok, now).is_ok());
        let future = sample("2026-01-01T00:06:00Z", 0, Some(1.0), None);
        assert!(validate(0, &future, now).unwrap_err().contains("future"));
        let pct = sample("2026-01-01T00:00:00Z", 0, Some(100.5), None);
        assert_eq!(
            validate(3, &pct, now).unwrap_err(),
            "samples[3]: utilization_pct must be 0 to 100"
        );
        let power = sample("2026-01-01T00:00:00Z", 0, None, Some(-1.0));
        assert!(validate(0, &power, now).unwrap_err().contains("power_w"));
        let nan = sample("2026-01-01T00:00:00Z", 0, Some(f64::NAN), None);
        assert!(validate(0, &nan, now).is_err());
    }
}
