//! Real provisioners: RunPod ([`runpod`]), Vast.ai ([`vast`]) and Lambda Cloud
//! ([`lambda`]), built from the settings at start for each provider whose API key is set.
//!
//! What they share lives here: the HTTP call with its error mapping (4xx except 408 and
//! 429 → [`ProvisionError::Rejected`], 5xx, 408, 429, timeouts, broken connections and
//! unreadable answers → [`ProvisionError::Unavailable`]; API keys scrubbed from every
//! message), the machine name derived from the client token, and the idempotent create
//! loop. None of the three APIs takes an idempotency key, so a create first looks for a
//! machine already carrying the token's name and returns it; a create whose answer was
//! lost is found that way by the next attempt instead of being made twice.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::provisioner::{ProvisionError, Provisioner};
use crate::net_guard::Reach;
use crate::providers::http;
use crate::providers::source::SourceError;
use crate::settings::Settings;

pub mod lambda;
pub mod runpod;
pub mod vast;

#[cfg(test)]
mod tests;

/// Largest provider answer read.
const BODY_LIMIT: usize = 4 << 20;

/// What a deployed machine runs, from the settings (`GPUBROKER_POD_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploySettings {
    /// Container image (RunPod, Vast).
    pub image: String,
    /// Container disk in GB (RunPod, Vast).
    pub disk_gb: u32,
    /// Name of an SSH key registered at Lambda; Lambda launches need one.
    pub lambda_ssh_key: Option<String>,
}

impl Default for DeploySettings {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.into(),
            disk_gb: DEFAULT_DISK_GB,
            lambda_ssh_key: None,
        }
    }
}

/// Default container image of RunPod and Vast machines.
pub const DEFAULT_IMAGE: &str = "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04";
/// Default container disk in GB.
pub const DEFAULT_DISK_GB: u32 = 40;

/// How one provider client talks to its API.
#[derive(Clone)]
pub struct ClientConfig {
    /// Base URL override (a proxy, or a fake server in tests); `None`: the provider's.
    pub base_url: Option<String>,
    pub api_key: String,
    pub reach: Reach,
    /// Limit of one request.
    pub timeout: Duration,
    /// Attempts of a create (each looks for the machine first), at least 1.
    pub create_attempts: u32,
    /// Pause between create attempts.
    pub backoff: Duration,
    pub deploy: DeploySettings,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("create_attempts", &self.create_attempts)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A client for `api_key` with production timings: 30 s per request, three create
    /// attempts two seconds apart.
    pub fn new(base_url: Option<String>, api_key: String, reach: Reach) -> Self {
        Self {
            base_url,
            api_key,
            reach,
            timeout: Duration::from_secs(30),
            create_attempts: 3,
            backoff: Duration::from_secs(2),
            deploy: DeploySettings::default(),
        }
    }

    /// The base URL without a trailing slash.
    fn base(&self, default: &str) -> String {
        self.base_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_owned()
    }
}

/// The provisioner of every provider whose API key the settings hold, by provider id
/// (`runpod`, `vastai`, `lambda`: the ids catalog offers carry).
pub fn configured(settings: &Settings) -> Vec<(&'static str, Arc<dyn Provisioner>)> {
    let creds = &settings.credentials;
    let config = |url: &Option<String>, key: &String| ClientConfig {
        timeout: settings.pods.provider_timeout,
        create_attempts: settings.pods.create_attempts,
        backoff: settings.pods.create_backoff,
        deploy: settings.pod_deploy.clone(),
        ..ClientConfig::new(url.clone(), key.clone(), settings.outbound)
    };
    let key = |k: &Option<String>| k.clone().filter(|k| !k.is_empty());
    let mut out: Vec<(&'static str, Arc<dyn Provisioner>)> = Vec::new();
    if let Some(k) = key(&creds.runpod_key) {
        let client = runpod::RunpodProvisioner::new(config(&creds.runpod_url, &k));
        out.push((runpod::PROVIDER, Arc::new(client)));
    }
    if let Some(k) = key(&creds.vastai_key) {
        let client = vast::VastProvisioner::new(config(&creds.vastai_url, &k));
        out.push((vast::PROVIDER, Arc::new(client)));
    }
    if let Some(k) = key(&creds.lambda_key) {
        let client = lambda::LambdaProvisioner::new(config(&creds.lambda_url, &k));
        out.push((lambda::PROVIDER, Arc::new(client)));
    }
    out
}

/// The environment variable holding `provider`'s API key, for messages.
pub fn key_variable(provider: &str) -> Option<&'static str> {
    match provider {
        runpod::PROVIDER => Some("RUNPOD_API_KEY"),
        vast::PROVIDER => Some("VASTAI_API_KEY"),
        lambda::PROVIDER => Some("LAMBDA_API_KEY"),
        _ => None,
    }
}

/// The name (RunPod), label (Vast) or instance name (Lambda) of the machine created for
/// `client_token`: `gpubroker-` and 24 hex digits of its SHA-256, so it fits every
/// provider's name limit and carries no user id.
pub fn machine_name(client_token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, client_token.as_bytes());
    let hex: String = digest.as_ref()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("gpubroker-{hex}")
}

/// `machine` when it is safe in a URL path (letters, digits, `-`, `_`); a reference that
/// is not cannot be one the provider gave, so it is [`ProvisionError::Unknown`].
fn path_id(machine: &str) -> Result<&str, ProvisionError> {
    let safe = !machine.is_empty()
        && machine.len() <= 100
        && machine
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if safe {
        Ok(machine)
    } else {
        Err(ProvisionError::Unknown(machine.to_owned()))
    }
}

/// A provider API: one HTTP client, its key and its timeout.
pub(crate) struct Api {
    client: reqwest::Client,
    key: String,
    timeout: Duration,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Api {
    fn new(config: &ClientConfig) -> Self {
        Self {
            client: http::client(config.reach),
            key: config.api_key.clone(),
            timeout: config.timeout,
        }
    }

    /// `method url` with the bearer key and an optional JSON body; answers the body
    /// parsed as `T`. A 404 is [`ProvisionError::Unknown`] naming `what`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&serde_json::Value>,
        what: &str,
    ) -> Result<T, ProvisionError> {
        let mut request = self.client.request(method, url).bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let text = http::send(request, self.timeout, BODY_LIMIT)
            .await
            .map_err(|e| self.map(e, what))?;
        serde_json::from_str(&text).map_err(|e| {
            let message = format!("unexpected answer: {e}: {}", http::snippet(&text));
            ProvisionError::Unavailable(self.scrub(message))
        })
    }

    fn scrub(&self, message: String) -> String {
        if self.key.is_empty() {
            message
        } else {
            message.replace(&self.key, "<redacted>")
        }
    }

    fn map(&self, err: SourceError, what: &str) -> ProvisionError {
        match http::redact(err, &self.key) {
            SourceError::Status { status: 404, .. } => ProvisionError::Unknown(what.to_owned()),
            SourceError::Status {
                status, snippet, ..
            } if (400..500).contains(&status) && status != 408 && status != 429 => {
                ProvisionError::Rejected(format!("HTTP {status}: {snippet}"))
            }
            SourceError::Config(m) => ProvisionError::Rejected(m),
            other => ProvisionError::Unavailable(other.to_string()),
        }
    }
}

/// Creates a machine at most once per token: each of `attempts` attempts first asks
/// `find` for a machine carrying the token and returns it, else calls `create`. A refusal
/// ends at once; an unavailable provider (which may have created the machine before its
/// answer was lost) is tried again after `backoff`.
async fn create_once<F, FF, C, CF>(
    attempts: u32,
    backoff: Duration,
    find: F,
    create: C,
) -> Result<String, ProvisionError>
where
    F: Fn() -> FF,
    FF: std::future::Future<Output = Result<Option<String>, ProvisionError>>,
    C: Fn() -> CF,
    CF: std::future::Future<Output = Result<String, ProvisionError>>,
{
    let mut last = ProvisionError::Unavailable("no attempt made".into());
    for attempt in 0..attempts.max(1) {
        if attempt > 0 {
            tokio::time::sleep(backoff).await;
        }
        match find().await {
            Ok(Some(machine)) => return Ok(machine),
            Ok(None) => {}
            Err(e @ ProvisionError::Rejected(_)) => return Err(e),
            Err(e) => {
                last = e;
                continue;
            }
        }
        match create().await {
            Ok(machine) => return Ok(machine),
            Err(e @ ProvisionError::Rejected(_)) => return Err(e),
            Err(e) => {
                tracing::warn!(attempt, error = %e, "machine create failed; looking for it before retrying");
                last = e;
            }
        }
    }
    Err(last)
}
