//! Timeouts, retries with jittered exponential backoff, and a circuit breaker around the
//! fetches of one [`PriceSource`], all driven by its [`SourcePolicy`].
//!
//! The breaker counts fetches, not attempts: a fetch that succeeds after two retries is one
//! success. Time is `tokio::time`, so the breaker and the backoff follow a paused clock.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Serialize, Serializer};
use tokio::time::Instant;

use super::source::{PriceSource, SourceError, SourcePolicy};
use super::ParseReport;

/// Upper bound of one backoff before jitter, whatever the retry count.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A successful fetch and what it took.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchOutcome {
    pub report: ParseReport,
    /// Attempts made, 1 when the first succeeded.
    pub attempts: u32,
    /// From the first attempt to the end of the last, backoff included.
    pub latency: Duration,
}

/// What the circuit breaker of a source does with the next fetch.
/// Serialises as `{"state": "closed"}`, `{"state": "open", "retry_in_ms": 1234}` or
/// `{"state": "halfopen"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum BreakerState {
    /// Fetches run.
    Closed,
    /// Fetches are refused until `until`.
    Open {
        #[serde(rename = "retry_in_ms", serialize_with = "remaining_ms")]
        until: Instant,
    },
    /// The cooldown is over: the next fetch is a trial (or one is running) whose outcome
    /// closes or re-opens the circuit.
    HalfOpen,
}

fn remaining_ms<S: Serializer>(until: &Instant, serializer: S) -> Result<S::Ok, S::Error> {
    let ms = until.saturating_duration_since(Instant::now()).as_millis();
    serializer.serialize_u64(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Closed with its count of consecutive failed fetches, open until an instant, or half
/// open while the trial fetch runs.
#[derive(Clone, Copy, Debug)]
enum Circuit {
    Closed(u32),
    Open(Instant),
    HalfOpen,
}

/// Opens after `breaker_threshold` consecutive failed fetches, refuses fetches for
/// `breaker_cooldown`, then lets one trial through: success closes it, failure re-opens it.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    circuit: Mutex<Circuit>,
}

impl CircuitBreaker {
    /// A closed breaker with the thresholds of `policy` (a threshold of 0 counts as 1).
    pub fn new(policy: &SourcePolicy) -> Self {
        Self {
            threshold: policy.breaker_threshold.max(1),
            cooldown: policy.breaker_cooldown,
            circuit: Mutex::new(Circuit::Closed(0)),
        }
    }

    /// The current state; an open circuit whose cooldown is over reports `HalfOpen`.
    pub fn state(&self) -> BreakerState {
        match *self.lock() {
            Circuit::Closed(_) => BreakerState::Closed,
            Circuit::Open(until) if Instant::now() < until => BreakerState::Open { until },
            Circuit::Open(_) | Circuit::HalfOpen => BreakerState::HalfOpen,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Circuit> {
        // The state is a plain value, valid even if a holder panicked.
        self.circuit.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets one fetch through, or says how long the circuit stays open (zero while a trial
    /// is running).
    fn admit(&self) -> Result<Admission<'_>, Duration> {
        let mut circuit = self.lock();
        match *circuit {
            Circuit::Closed(_) => {}
            Circuit::Open(until) => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                *circuit = Circuit::HalfOpen;
            }
            Circuit::HalfOpen => return Err(Duration::ZERO),
        }
        Ok(Admission {
            breaker: self,
            settled: false,
        })
    }

    /// Records the outcome of one fetch; true when this failure opened the circuit.
    fn record(&self, ok: bool) -> bool {
        let mut circuit = self.lock();
        let failures = match *circuit {
            _ if ok => 0,
            Circuit::Closed(failures) => failures.saturating_add(1),
            Circuit::Open(_) | Circuit::HalfOpen => self.threshold,
        };
        let opens = failures >= self.threshold;
        *circuit = if opens {
            Circuit::Open(Instant::now() + self.cooldown)
        } else {
            Circuit::Closed(failures)
        };
        opens
    }

    /// A trial that ended without an outcome (its future was dropped) lets the next fetch
    /// try at once.
    fn abandon(&self) {
        let mut circuit = self.lock();
        if matches!(*circuit, Circuit::HalfOpen) {
            *circuit = Circuit::Open(Instant::now());
        }
    }
}

/// One admitted fetch; dropping it unsettled abandons a trial.
struct Admission<'a> {
    breaker: &'a CircuitBreaker,
    settled: bool,
}

impl Admission<'_> {
    fn settle(mut self, ok: bool) -> bool {
        self.settled = true;
        self.breaker.record(ok)
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.abandon();
        }
    }
}

/// Fetches `source` under its policy: refused with [`SourceError::CircuitOpen`] while the
/// breaker is open; each attempt bounded by `policy.timeout`; retryable errors retried up to
/// `policy.retries` times after `backoff × 2ⁿ` (±50 % jitter) or the server's `Retry-After`
/// when longer. A `Retry-After` beyond `policy.interval` is not waited for: the error is
/// returned and the next scheduled fetch comes sooner.
pub async fn fetch_resilient(
    source: &dyn PriceSource,
    breaker: &CircuitBreaker,
) -> Result<FetchOutcome, SourceError> {
    let admission = breaker.admit().map_err(SourceError::CircuitOpen)?;
    let started = Instant::now();
    let (result, attempts) = attempt_with_retries(source).await;
    if admission.settle(result.is_ok()) {
        tracing::warn!(
            source = source.id(),
            cooldown_s = source.policy().breaker_cooldown.as_secs(),
            "circuit opened after repeated failures"
        );
    }
    result.map(|report| FetchOutcome {
        report,
        attempts,
        latency: started.elapsed(),
    })
}

async fn attempt_with_retries(source: &dyn PriceSource) -> (Result<ParseReport, SourceError>, u32) {
    let policy = source.policy();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = tokio::time::timeout(policy.timeout, source.fetch())
            .await
            .unwrap_or(Err(SourceError::Timeout(policy.timeout)));
        let err = match result {
            Ok(report) => return (Ok(report), attempts),
            Err(err) => err,
        };
        let Some(delay) = retry_delay(policy, attempts, &err) else {
            return (Err(err), attempts);
        };
        let delay_ms = delay.as_millis();
        tracing::debug!(source = source.id(), attempts, error = %err, delay_ms, "retrying");
        tokio::time::sleep(delay).await;
    }
}

/// The wait after `failed` failed attempts, or `None` when there is no retry.
fn retry_delay(policy: &SourcePolicy, failed: u32, err: &SourceError) -> Option<Duration> {
    if !err.is_retryable() || failed > policy.retries {
        return None;
    }
    let factor = 1u32
        .checked_shl(failed.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let backoff = jitter(policy.backoff.saturating_mul(factor).min(MAX_BACKOFF));
    let retry_after = match err {
        SourceError::Status { retry_after, .. } => *retry_after,
        _ => None,
    };
    match retry_after {
        Some(wait) if wait > policy.interval => None,
        Some(wait) => Some(backoff.max(wait)),
        None => Some(backoff),
    }
}

/// `base` times a random factor in [0.5, 1.5).
fn jitter(base: Duration) -> Duration {
    let random = getrandom::u32().unwrap_or(u32::MAX / 2);
    base.mul_f64(0.5 + f64::from(random) / (f64::from(u32::MAX) + 1.0))
}

#[cfg(test)]
mod tests {
    //! Real time in milliseconds: the crate's tokio has no `test-util` feature, so the
    //! clock cannot be paused. Lower bounds are exact (a sleep never ends early); upper
    //! bounds leave room for a loaded machine.

    use super::*;
    use crate::providers::fake_server::{ok_step, status_step, ScriptedSource, Step};

    const TIMEOUT: Duration = Duration::from_millis(200);
    const BACKOFF: Duration = Duration::from_millis(20);
    const COOLDOWN: Duration = Duration::from_millis(300);
    const SLACK: Duration = Duration::from_secs(2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn policy(retries: u32, breaker_threshold: u32) -> SourcePolicy {
        SourcePolicy {
            timeout: TIMEOUT,
            retries,
            backoff: BACKOFF,
            breaker_threshold,
            breaker_cooldown: COOLDOWN,
            ..SourcePolicy::http()
        }
    }

    fn scripted(policy: SourcePolicy, steps: Vec<Step>) -> (ScriptedSource, CircuitBreaker) {
        let breaker = CircuitBreaker::new(&policy);
        (ScriptedSource::new(policy, steps), breaker)
    }

    fn slow() -> Step {
        (Duration::from_secs(30), ok_step(0).1)
    }

    fn is_status(result: &Result<FetchOutcome, SourceError>, code: u16) -> bool {
        matches!(result, Err(SourceError::Status { status, .. }) if *status == code)
    }

    fn open_for(err: &SourceError) -> Duration {
        match err {
            SourceError::CircuitOpen(left) => *left,
            other => panic!("expected an open circuit: {other:?}"),
        }
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_with_growing_backoff_then_succeed() {
        let reset = (Duration::ZERO, Err(SourceError::Transport("reset".into())));
        let steps = vec![status_step(500, None), reset, ok_step(7)];
        let (source, breaker) = scripted(policy(3, 2), steps);
        let outcome = fetch_resilient(&source, &breaker).await.unwrap();
        let seen = (outcome.attempts, source.calls(), outcome.report.cpu_only);
        assert_eq!(seen, (3, 3, 7));
        // Backoffs of 20 ms and 40 ms, each jittered by ±50 %: at least 10 + 20 ms.
        assert!((ms(30)..SLACK).contains(&outcome.latency), "{outcome:?}");
        assert_eq!(breaker.state(), BreakerState::Closed);
    }

    #[tokio::test]
    async fn non_retryable_errors_are_returned_at_once_and_retries_are_bounded() {
        let (source, breaker) = scripted(policy(3, 2), vec![status_step(401, None), ok_step(0)]);
        assert!(is_status(&fetch_resilient(&source, &breaker).await, 401));
        assert_eq!(source.calls(), 1);
        let codes = [503, 502, 500].map(|code| status_step(code, None));
        let steps = [codes.to_vec(), vec![ok_step(0)]].concat();
        let (source, breaker) = scripted(policy(2, 2), steps);
        assert!(is_status(&fetch_resilient(&source, &breaker).await, 500));
        assert_eq!(source.calls(), 3);
    }

    #[tokio::test]
    async fn a_slow_attempt_times_out_and_is_retried() {
        let (source, breaker) = scripted(policy(1, 2), vec![slow(), ok_step(0)]);
        let started = Instant::now();
        let outcome = fetch_resilient(&source, &breaker).await.unwrap();
        assert_eq!(outcome.attempts, 2);
        assert!((TIMEOUT..SLACK).contains(&started.elapsed()), "{outcome:?}");
        let (source, breaker) = scripted(policy(0, 2), vec![slow()]);
        let err = fetch_resilient(&source, &breaker).await.unwrap_err();
        assert_eq!(err, SourceError::Timeout(TIMEOUT));
    }

    #[tokio::test]
    async fn the_breaker_opens_refuses_half_opens_and_closes() {
        let steps = vec![status_step(500, None), status_step(500, None), ok_step(0)];
        let (source, breaker) = scripted(policy(0, 2), steps);
        fetch_resilient(&source, &breaker).await.unwrap_err();
        assert_eq!(breaker.state(), BreakerState::Closed, "below the threshold");
        fetch_resilient(&source, &breaker).await.unwrap_err();
        let state = breaker.state();
        assert!(matches!(state, BreakerState::Open { .. }), "{state:?}");
        let err = fetch_resilient(&source, &breaker).await.unwrap_err();
        let left = (ms(1)..=COOLDOWN).contains(&open_for(&err));
        assert!(
            left && source.calls() == 2,
            "refused without a call: {err:?}"
        );
        tokio::time::sleep(COOLDOWN).await;
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        fetch_resilient(&source, &breaker).await.unwrap();
        assert_eq!((breaker.state(), source.calls()), (BreakerState::Closed, 3));
    }

    #[tokio::test]
    async fn a_failed_trial_reopens_the_circuit_for_a_full_cooldown() {
        let steps = vec![status_step(500, None), status_step(500, None)];
        let (source, breaker) = scripted(policy(0, 1), steps);
        fetch_resilient(&source, &breaker).await.unwrap_err();
        tokio::time::sleep(COOLDOWN).await;
        assert!(is_status(&fetch_resilient(&source, &breaker).await, 500));
        let err = fetch_resilient(&source, &breaker).await.unwrap_err();
        assert!(
            open_for(&err) > COOLDOWN / 2,
            "a full cooldown again: {err:?}"
        );
        assert_eq!(source.calls(), 2);
    }

    #[tokio::test]
    async fn the_breaker_counts_fetches_not_attempts_and_a_success_resets_it() {
        let (source, breaker) = scripted(policy(3, 2), vec![status_step(500, None); 4]);
        fetch_resilient(&source, &breaker).await.unwrap_err();
        assert_eq!((source.calls(), breaker.state()), (4, BreakerState::Closed));
        source.push(ok_step(0));
        fetch_resilient(&source, &breaker).await.unwrap();
        source.push(status_step(400, None));
        fetch_resilient(&source, &breaker).await.unwrap_err();
        assert_eq!(
            breaker.state(),
            BreakerState::Closed,
            "reset by the success"
        );
    }

    #[tokio::test]
    async fn retry_after_is_honoured_when_longer_than_the_backoff() {
        let steps = vec![status_step(429, Some(ms(250))), ok_step(0)];
        let (source, breaker) = scripted(policy(3, 2), steps);
        let outcome = fetch_resilient(&source, &breaker).await.unwrap();
        let waited = (ms(250)..SLACK).contains(&outcome.latency);
        assert!(outcome.attempts == 2 && waited, "{outcome:?}");
        let hour = Some(Duration::from_secs(3600));
        let (source, breaker) = scripted(policy(3, 2), vec![status_step(429, hour), ok_step(0)]);
        assert!(is_status(&fetch_resilient(&source, &breaker).await, 429));
        assert_eq!(
            source.calls(),
            1,
            "a wait beyond the interval is not retried"
        );
    }

    #[tokio::test]
    async fn an_abandoned_trial_lets_the_next_fetch_try() {
        let steps = vec![status_step(500, None), slow(), ok_step(0)];
        let (source, breaker) = scripted(policy(0, 1), steps);
        fetch_resilient(&source, &breaker).await.unwrap_err();
        tokio::time::sleep(COOLDOWN).await;
        let trial = fetch_resilient(&source, &breaker);
        tokio::time::timeout(ms(20), trial).await.unwrap_err();
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        fetch_resilient(&source, &breaker).await.unwrap();
        assert_eq!((breaker.state(), source.calls()), (BreakerState::Closed, 3));
    }

    #[test]
    fn breaker_states_serialise_lowercase() {
        let state = |s: BreakerState| serde_json::to_value(s).unwrap();
        let until = Instant::now() + ms(1500);
        let open = state(BreakerState::Open { until });
        let retry_in = open["retry_in_ms"].as_u64().unwrap();
        assert!(
            open["state"] == "open" && (1400..=1500).contains(&retry_in),
            "{open}"
        );
        assert_eq!(
            state(BreakerState::Closed).to_string(),
            r#"{"state":"closed"}"#
        );
        assert_eq!(state(BreakerState::HalfOpen)["state"], "halfopen");
    }

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let err = SourceError::Timeout(TIMEOUT);
        for failed in 1..=3 {
            let delay = retry_delay(&policy(3, 2), failed, &err).unwrap();
            let base = BACKOFF * (1 << (failed - 1));
            assert!((base / 2..base * 3 / 2).contains(&delay), "{delay:?}");
        }
        assert_eq!(retry_delay(&policy(3, 2), 4, &err), None, "3 retries");
        let capped = retry_delay(&policy(100, 2), 64, &err).unwrap();
        assert!(capped < MAX_BACKOFF * 3 / 2);
    }
}
