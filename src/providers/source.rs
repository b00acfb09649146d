//! The `PriceSource` seam: anything that yields offers (a provider API, a catalog file, the
//! demo market), with its own schedule and failure policy.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::ParseReport;

/// The future returned by [`PriceSource::fetch`].
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ParseReport, SourceError>> + Send + 'a>>;

/// A source of GPU offers.
pub trait PriceSource: Send + Sync {
    /// Stable id, also the provider id of its offers unless they say otherwise:
    /// `vastai`, `runpod`, `lambda`, `skypilot:<cloud>` (offers carry `<cloud>`), `file:<name>`, `demo`.
    fn id(&self) -> &str;
    /// Schedule, timeout, retry and circuit-breaker settings.
    fn policy(&self) -> &SourcePolicy;
    /// One fetch of the complete current offer list (a single attempt: no retries inside).
    fn fetch(&self) -> FetchFuture<'_>;
}

/// How often and how patiently a source is fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePolicy {
    /// Time between fetches.
    pub interval: Duration,
    /// Limit for one attempt.
    pub timeout: Duration,
    /// Extra attempts after a retryable failure.
    pub retries: u32,
    /// First backoff; doubled per retry, with ±50 % jitter.
    pub backoff: Duration,
    /// Offers not refreshed for this long are stale.
    pub stale_after: Duration,
    /// Consecutive failed fetches that open the circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit refuses fetches before one trial.
    pub breaker_cooldown: Duration,
    /// Which addresses the source's HTTP client may reach.
    pub reach: crate::net_guard::Reach,
}

impl SourcePolicy {
    /// Defaults for a live HTTP API: every 5 minutes, 20 s timeout, 3 retries.
    pub fn http() -> Self {
        Self {
            interval: Duration::from_secs(300),
            timeout: Duration::from_secs(20),
            retries: 3,
            backoff: Duration::from_millis(500),
            stale_after: Duration::from_secs(1800),
            breaker_threshold: 3,
            breaker_cooldown: Duration::from_secs(300),
            reach: crate::net_guard::Reach::PublicOnly,
        }
    }

    /// Defaults for a file or catalog URL: every 15 minutes, stale after a day.
    pub fn catalog() -> Self {
        Self {
            interval: Duration::from_secs(900),
            stale_after: Duration::from_secs(86_400),
            ..Self::http()
        }
    }
}

/// Why a fetch failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The server answered with an error status.
    #[error("HTTP {status}: {snippet}")]
    Status {
        status: u16,
        snippet: String,
        retry_after: Option<Duration>,
    },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// Connection refused or reset, DNS, TLS, a body cut short.
    #[error("transport error: {0}")]
    Transport(String),
    /// The body is not the expected format.
    #[error("unexpected response: {0}")]
    Parse(String),
    /// Missing key, bad URL or path.
    #[error("{0}")]
    Config(String),
    /// The circuit breaker is open; no request was made.
    #[error("circuit open after repeated failures; next try in {0:?}")]
    CircuitOpen(Duration),
}

impl SourceError {
    /// Whether another attempt may succeed: timeouts, transport errors, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Parse(_) | Self::Config(_) | Self::CircuitOpen(_) => false,
        }
    }
}
