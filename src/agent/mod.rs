//! The GPU node agent (`gpubroker agent`): runs on a rented machine, reads its GPUs
//! through `nvidia-smi` every few seconds and posts the samples to the broker with the
//! pod's agent token. Samples wait in a bounded buffer while the broker is unreachable.
//! It needs no database and no server settings. See docs/pods.md.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use reqwest::{StatusCode, Url};

use crate::pods::telemetry::{TelemetryBatch, TelemetrySample, MAX_SAMPLES_PER_POST};

pub mod nvidia_smi;

/// Exit status when the machine has no usable NVIDIA GPU.
pub const EXIT_NO_GPU: u8 = 3;
/// Exit status when the broker refuses the agent token.
pub const EXIT_REJECTED: u8 = 4;
/// Readings kept while the broker is unreachable (an hour at the default interval).
pub const BUFFER_READINGS: usize = 720;
/// Longest wait between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `gpubroker agent`: report this machine's GPU telemetry to the broker.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Agent options")]
pub struct AgentArgs {
    /// The broker's base URL, e.g. https://broker.example.com.
    #[arg(long, env = "GPUBROKER_BROKER_URL")]
    pub broker: String,
    /// The pod's agent token (gpa_…, from POST /api/v2/pods/{id}/agent-token); prefer
    /// the environment variable, which keeps it out of the process list.
    #[arg(long, env = "GPUBROKER_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Time between readings (e.g. 5s, 500ms, 1m).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// The nvidia-smi program to run.
    #[arg(long, default_value = "nvidia-smi")]
    pub nvidia_smi: PathBuf,
    /// Read and post once, then exit (non-zero when the post fails).
    #[arg(long)]
    pub once: bool,
}

/// What the agent does.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// `…/api/v2/agent/telemetry` of the broker.
    pub endpoint: Url,
    pub token: String,
    pub interval: Duration,
    pub nvidia_smi: PathBuf,
    pub once: bool,
    pub buffer_readings: usize,
}

impl AgentConfig {
    /// Checks the command line.
    pub fn from_args(args: AgentArgs) -> Result<Self, AgentError> {
        let base = Url::parse(&args.broker)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                AgentError::Config(format!("--broker {:?} is not an http(s) URL", args.broker))
            })?;
        let endpoint = base
            .join("api/v2/agent/telemetry")
            .map_err(|e| AgentError::Config(format!("--broker: {e}")))?;
        let token = args.token.trim().to_owned();
        if !token.starts_with(crate::pods::telemetry::AGENT_TOKEN_PREFIX) {
            return Err(AgentError::Config(
                "the agent token must start with gpa_ (issue one with POST /api/v2/pods/{id}/agent-token)".into(),
            ));
        }
        let interval = crate::settings::parse_duration(&args.interval)
            .map_err(|e| AgentError::Config(format!("--interval: {e}")))?;
        if interval < Duration::from_millis(100) {
            return Err(AgentError::Config(
                "--interval must be at least 100ms".into(),
            ));
        }
        Ok(Self {
            endpoint,
            token,
            interval,
            nvidia_smi: args.nvidia_smi,
            once: args.once,
            buffer_readings: BUFFER_READINGS,
        })
    }
}

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("{0}")]
    Config(String),
    #[error("no NVIDIA GPU found: {0}")]
    NoGpu(String),
    #[error("the broker rejected the agent token: {0}")]
    Rejected(String),
    #[error("{0}")]
    Failed(String),
}

impl AgentError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Config(_) => 2,
            Self::NoGpu(_) => EXIT_NO_GPU,
            Self::Rejected(_) => EXIT_REJECTED,
            Self::Failed(_) => 1,
        })
    }
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Samples the broker accepted.
    pub posted: usize,
    /// Samples dropped (buffer full, or refused by the broker as invalid).
    pub dropped: usize,
}

/// How one post ended.
enum Post {
    Done,
    /// Refused for good (bad data, pod not running): drop the batch.
    Refused(String),
    /// Worth retrying after the given wait.
    Retry(String, Option<Duration>),
}

/// The agent: its buffer and client.
struct Agent<'a> {
    config: &'a AgentConfig,
    client: reqwest::Client,
    buffer: VecDeque<Vec<TelemetrySample>>,
    report: Report,
}

impl Agent<'_> {
    fn push(&mut self, reading: Vec<TelemetrySample>) {
        if self.buffer.len() >= self.config.buffer_readings.max(1) {
            if let Some(old) = self.buffer.pop_front() {
                self.report.dropped += old.len();
            }
        }
        self.buffer.push_back(reading);
    }

    async fn post(&self, samples: &[TelemetrySample]) -> Result<Post, AgentError> {
        let batch = TelemetryBatch {
            samples: samples.to_vec(),
        };
        let response = match self
            .client
            .post(self.config.endpoint.clone())
            .bearer_auth(&self.config.token)
            .json(&batch)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Ok(Post::Retry(format!("cannot reach the broker: {e}"), None)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        Ok(match status {
            s if s.is_success() => Post::Done,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(AgentError::Rejected(message))
            }
            StatusCode::TOO_MANY_REQUESTS => {
                Post::Retry(format!("{status}: {message}"), retry_after)
            }
            s if s.is_client_error() => Post::Refused(format!("{status}: {message}")),
            _ => Post::Retry(format!("{status}: {message}"), retry_after),
        })
    }

    /// Posts buffered readings, oldest first, in batches of at most 100 samples; stops at
    /// the first post worth retrying and answers its wait.
    async fn flush(&mut self) -> Result<Option<(String, Option<Duration>)>, AgentError> {
        while !self.buffer.is_empty() {
            let (mut take, mut n) = (0, 0);
            for reading in &self.buffer {
                if take > 0 && n + reading.len() > MAX_SAMPLES_PER_POST {
                    break;
                }
                take += 1;
                n += reading.len();
            }
            let samples: Vec<TelemetrySample> = self
                .buffer
                .iter()
                .take(take)
                .flatten()
                .take(MAX_SAMPLES_PER_POST)
                .cloned()
                .collect();
            match self.post(&samples).await? {
                Post::Done => self.report.posted += samples.len(),
                Post::Refused(why) => {
                    tracing::warn!(samples = samples.len(), reason = %why, "the broker refused telemetry; dropped");
                    self.report.dropped += samples.len();
                }
                Post::Retry(why, wait) => return Ok(Some((why, wait))),
            }
            self.buffer.drain(..take);
        }
        Ok(None)
    }
}

/// Reads the GPUs once; a machine without a usable NVIDIA GPU is [`AgentError::NoGpu`].
async fn read(config: &AgentConfig) -> Result<Vec<TelemetrySample>, AgentError> {
    let at = Utc::now();
    match nvidia_smi::read(&config.nvidia_smi).await {
        Ok(gpus) => Ok(gpus
            .iter()
            .take(MAX_SAMPLES_PER_POST)
            .map(|g| g.sample(at))
            .collect()),
        Err(e) if e.means_no_gpu() => Err(AgentError::NoGpu(e.to_string())),
        Err(e) => Err(AgentError::Failed(e.to_string())),
    }
}

/// Runs the agent until `shutdown` resolves (or once, with `config.once`).
pub async fn run(
    config: &AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<Report, AgentError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("gpubroker-agent/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AgentError::Failed(format!("cannot build the HTTP client: {e}")))?;
    let first = read(config).await?;
    tracing::info!(gpus = first.len(), endpoint = %config.endpoint, "agent started");
    let mut agent = Agent {
        config,
        client,
        buffer: VecDeque::new(),
        report: Report::default(),
    };
    agent.push(first);
    if config.once {
        return match agent.flush().await? {
            None => Ok(agent.report),
            Some((why, _)) => Err(AgentError::Failed(why)),
        };
    }
    tokio::pin!(shutdown);
    let start = tokio::time::Instant::now() + config.interval;
    let mut ticker = tokio::time::interval_at(start, config.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut backoff = Duration::ZERO;
    let mut retry_at = tokio::time::Instant::now();
    loop {
        if tokio::time::Instant::now() >= retry_at {
            match agent.flush().await? {
                None => backoff = Duration::ZERO,
                Some((why, wait)) => {
                    backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    let wait = wait.unwrap_or(backoff).min(MAX_BACKOFF);
                    tracing::warn!(reason = %why, retry_in = ?wait, buffered = agent.buffer.len(), "posting telemetry failed");
                    retry_at = tokio::time::Instant::now() + wait;
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        match read(config).await {
            Ok(reading) => agent.push(reading),
            Err(e) => tracing::warn!(error = %e, "reading the GPUs failed"),
        }
    }
    tracing::info!(
        posted = agent.report.posted,
        buffered = agent.buffer.len(),
        "agent stopped"
    );
    Ok(agent.report)
}

/// `gpubroker agent`: runs [`run`] until ctrl-c and turns its end into an exit status.
pub fn run_cli(args: AgentArgs, log_level: &str) -> ExitCode {
    crate::telemetry::init_tracing(log_level, crate::settings::LogFormat::Text);
    let config = match AgentConfig::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gpubroker agent: {e}");
            return e.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gpubroker agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match runtime.block_on(run(&config, stop)) {
        Ok(report) => {
            if config.once {
                crate::cli::say(&format!("posted {} samples", report.posted));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gpubroker agent: {e}");
            if matches!(e, AgentError::NoGpu(_)) {
                eprintln!("gpubroker agent: this machine has no usable NVIDIA GPU (is the driver installed and nvidia-smi on PATH?)");
            }
            e.exit_code()
        }
    }
}
