//! Bootstrap settings: flags > environment > optional `gpubroker.toml`, validated once.
//!
//! Everything the process needs before it can reach its database lives here. Runtime
//! configuration (provider keys, payment keys, plans) lives in the database config store.
//! [`RawSettings`] holds one layer with every field optional; [`RawSettings::layer_over`]
//! merges layers and [`RawSettings::validate`] turns the merged layer into [`Settings`]
//! or one [`SettingsError`] naming every problem found.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::secret::{MasterKey, MasterKeyError};

pub mod cluster;
pub mod mail;
pub mod payments;
pub mod pods;
pub mod sources;
mod validate;
use validate::postgres_tls_problem;
pub mod ws;
pub use cluster::LeaseSettings;
pub use sources::{ProviderCredentials, SourceSpec};

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:10355";
/// Default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "gpubroker-data";
/// File name of the generated development master key inside the data dir.
pub const MASTER_KEY_FILE: &str = "master.key";
/// File name of the embedded SQLite database inside the data dir.
pub const SQLITE_FILE: &str = "gpubroker.db";

/// One settings layer; every field optional so layers can be merged.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub db_pool_max: Option<u32>,
    pub db_pool_idle_timeout: Option<String>,
    pub db_pool_connection_timeout: Option<String>,
    pub env: Option<String>,
    pub master_key: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub public_url: Option<String>,
    pub debug: Option<bool>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub drain_delay: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub sources: Option<String>,
    pub vastai_api_key: Option<String>,
    pub runpod_api_key: Option<String>,
    pub lambda_api_key: Option<String>,
    pub vastai_api_url: Option<String>,
    pub runpod_api_url: Option<String>,
    pub lambda_api_url: Option<String>,
    pub llm_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key: Option<String>,
    pub rate_limit_free: Option<u32>,
    pub rate_limit_pro: Option<u32>,
    pub rate_limit_enterprise: Option<u32>,
    pub trust_forwarded_for: Option<bool>,
    pub cors_origins: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub allow_private_urls: Option<bool>,
    pub payment_gateway: Option<String>,
    pub stripe_secret_key: Option<String>,
    pub stripe_webhook_secret: Option<String>,
    pub stripe_api_url: Option<String>,
    pub lease_ttl: Option<String>,
    pub lease_renew: Option<String>,
    pub pod_meter_interval: Option<String>,
    pub pod_tick: Option<String>,
    pub pod_prepaid: Option<String>,
    pub ws_max_message_bytes: Option<usize>,
    pub ws_max_subscriptions: Option<usize>,
    pub ws_max_connections_per_user: Option<usize>,
    pub ws_queue_messages: Option<usize>,
    pub ws_queue_bytes: Option<usize>,
    pub ws_heartbeat: Option<String>,
    pub ws_idle_timeout: Option<String>,
    pub ws_snapshot_limit: Option<usize>,
    pub pod_image: Option<String>,
    pub pod_disk_gb: Option<u32>,
    pub lambda_ssh_key: Option<String>,
}

impl fmt::Debug for RawSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSettings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("env", &self.env)
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("public_url", &self.public_url)
            .field("debug", &self.debug)
            .finish_non_exhaustive()
    }
}

/// Deployment environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the database lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// Embedded SQLite file.
    Sqlite(PathBuf),
    /// PostgreSQL connection URL (may carry a password: never log it unredacted).
    Postgres(String),
}

impl fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => write!(f, "{}", redact_url(url)),
        }
    }
}

/// Database connection and pool settings.
#[derive(Clone, Debug)]
pub struct DatabaseSettings {
    pub target: DatabaseTarget,
    pub pool_max: u32,
    pub idle_timeout: Duration,
    pub connect_timeout: Duration,
}

/// Where the master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `GPUBROKER_MASTER_KEY` (inline, base64).
    Inline(MasterKey),
    /// `GPUBROKER_MASTER_KEY_FILE`.
    File(PathBuf),
    /// Development only: generated on first start into the data dir.
    Generated(PathBuf),
}

/// Validated bootstrap settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub environment: Environment,
    pub master_key: MasterKeySource,
    pub public_url: Option<Url>,
    pub debug: bool,
    pub log_level: String,
    pub log_format: LogFormat,
    /// How long `/ready` answers 503 before the listener closes on shutdown.
    pub drain_delay: Duration,
    /// Upper bound for in-flight requests and background tasks to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Enabled price sources.
    pub sources: Vec<SourceSpec>,
    /// Provider API keys and URL overrides.
    pub credentials: ProviderCredentials,
    /// OpenAI-compatible chat-completions endpoint for the assistant; the rule-based
    /// planner answers when unset.
    pub llm: Option<LlmSettings>,
    /// Requests per second per caller on `/api/v2/*`, by plan.
    pub rate_limits: RateLimits,
    /// Key anonymous callers by the last `X-Forwarded-For` address (the one a trusted
    /// reverse proxy appended) instead of the socket peer. Off unless behind such a proxy.
    pub trust_forwarded_for: bool,
    /// Browser origins allowed to call the API cross-origin (exact `scheme://host[:port]`);
    /// empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Outgoing account mail.
    pub mail: mail::MailSettings,
    /// Which addresses outbound requests to configured URLs may reach.
    pub outbound: crate::net_guard::Reach,
    /// The payment gateway (the built-in sandbox or Stripe).
    pub payments: payments::PaymentSettings,
    /// Caps and timers of the WebSocket gateway (`GPUBROKER_WS_*`).
    pub ws: ws::WsLimits,
    /// Leader lease timing for singleton workers.
    pub lease: LeaseSettings,
    /// Pod metering and the simulated provider's timings (defaults; tests shorten them).
    pub pods: crate::pods::PodSettings,
    /// What pods deployed on real providers run (`GPUBROKER_POD_IMAGE`,
    /// `GPUBROKER_POD_DISK_GB`, `GPUBROKER_LAMBDA_SSH_KEY`).
    pub pod_deploy: crate::pods::providers::DeploySettings,
}

/// Requests per second per caller, by plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub free: u32,
    pub pro: u32,
    pub enterprise: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            free: 10,
            pro: 100,
            enterprise: 1000,
        }
    }
}

/// An OpenAI-compatible chat-completions endpoint.
#[derive(Clone)]
pub struct LlmSettings {
    /// Base URL, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub url: Url,
    pub model: String,
    pub api_key: Option<String>,
}

impl fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmSettings")
            .field("url", &redact_url(self.url.as_str()))
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Every problem found while validating settings, reported together.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings:\n  - {}", problems.join("\n  - "))]
pub struct SettingsError {
    pub problems: Vec<String>,
}

impl Settings {
    /// Problems that make these settings unsafe for production.
    fn production_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if matches!(self.master_key, MasterKeySource::Generated(_)) {
            problems.push("production needs a master key: set GPUBROKER_MASTER_KEY or GPUBROKER_MASTER_KEY_FILE".into());
        }
        match &self.public_url {
            None => problems.push(
                "production needs GPUBROKER_PUBLIC_URL (the https address users reach)".into(),
            ),
            Some(url) if url.scheme() != "https" => {
                problems.push(format!(
                    "GPUBROKER_PUBLIC_URL must use https in production, not {url}"
                ));
            }
            Some(_) => {}
        }
        if self.debug {
            problems.push("GPUBROKER_DEBUG must be off in production".into());
        }
        if self.outbound == crate::net_guard::Reach::Any {
            problems.push("GPUBROKER_ALLOW_PRIVATE_URLS must be off in production".into());
        }
        if let DatabaseTarget::Postgres(url) = &self.database.target {
            if let Some(problem) = postgres_tls_problem(url) {
                problems.push(problem);
            }
        }
        problems
    }

    /// Settings for a test or a tool: development, given data dir and database.
    pub fn for_data_dir(
        data_dir: &Path,
        database_url: Option<String>,
    ) -> Result<Settings, SettingsError> {
        RawSettings {
            data_dir: Some(data_dir.to_path_buf()),
            database_url,
            ..RawSettings::default()
        }
        .validate()
    }
}

/// Parses `250ms`, `30s`, `10m`, `2h` or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration (examples: 30s, 10m, 250ms)"))?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("{raw:?} is too large"))
    };
    match unit.trim() {
        "" | "s" => secs(1),
        "ms" => Ok(Duration::from_millis(n)),
        "m" | "min" => secs(60),
        "h" => secs(3600),
        other => Err(format!(
            "unknown duration unit {other:?} in {raw:?} (use ms, s, m or h)"
        )),
    }
}

impl MasterKeySource {
    /// Loads the key; in development a missing generated key is created (mode 0600).
    /// Returns the key and whether it was generated now.
    pub fn load(&self) -> Result<(MasterKey, bool), MasterKeyError> {
        match self {
            Self::Inline(key) => Ok((key.clone(), false)),
            Self::File(path) => MasterKey::read_file(path, false).map(|k| (k, false)),
            Self::Generated(path) => MasterKey::load_or_generate(path),
        }
    }
}

/// Replaces the password of a URL with `***` for logs and messages.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let secret = matches!(k.as_ref(), "password" | "sslpassword");
                    (
                        k.into_owned(),
                        if secret { "***".into() } else { v.into_owned() },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                url.query_pairs_mut().clear().extend_pairs(pairs);
            }
            url.to_string()
        }
        Err(_) => "<unparseable url>".into(),
    }
}

#[cfg(test)]
mod tests;
