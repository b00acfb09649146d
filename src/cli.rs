//! Command line: subcommands and the settings flags shared by all of them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};

use crate::settings::{RawSettings, Settings, SettingsError};
use crate::store::Store;

/// Default config file looked up in the working directory.
const DEFAULT_CONFIG_FILE: &str = "gpubroker.toml";

/// GPUBROKER: the GPU marketplace broker.
#[derive(Debug, Parser)]
#[command(name = "gpubroker", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, web UI and background workers.
    Serve,
    /// Apply the embedded database migrations and exit.
    Migrate,
    /// Write a consistent, portable backup of the database to FILE.
    Backup {
        file: PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Restore a backup written by `gpubroker backup` (either backend) into the database.
    Restore {
        file: PathBuf,
        /// Replace the contents of a database that is not empty.
        #[arg(long)]
        force: bool,
    },
    /// Load offers from provider files into the database (same path as live ingestion).
    #[command(subcommand)]
    Import(crate::cli_catalog::ImportKind),
    /// Search the catalog: a table, or JSON with --json. Exit status 2 for a bad query.
    Search(crate::cli_catalog::SearchArgs),
    /// Verify, checkpoint or list the tamper-evident audit log.
    #[command(subcommand)]
    Audit(crate::cli_audit::AuditCommand),
    /// Read and change the encrypted configuration store.
    #[command(subcommand)]
    Config(crate::cli_config::ConfigCommand),
    /// Administer accounts.
    #[command(subcommand)]
    Admin(crate::cli_admin::AdminCommand),
    /// Check the double-entry ledger's invariants.
    #[command(subcommand)]
    Ledger(crate::cli_ledger::LedgerCommand),
    /// Run the GPU node agent on a rented machine (no database or server settings).
    ///
    /// Reads GPU telemetry through nvidia-smi every few seconds and posts it to the broker
    /// with the pod's agent token (docs/pods.md). The global settings options are ignored.
    /// Exit status 3 when the machine has no NVIDIA GPU, 4 when the broker rejects the
    /// token, 2 for a bad command line.
    Agent(crate::agent::AgentArgs),
}

/// Bootstrap settings as flags; each also reads its environment variable.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Settings file (TOML); default ./gpubroker.toml when present.
    #[arg(long, env = "GPUBROKER_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:10355].
    #[arg(long, env = "GPUBROKER_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Directory for the SQLite file and the development master key [default: ./gpubroker-data].
    #[arg(long, env = "GPUBROKER_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// postgres://… to use PostgreSQL instead of the embedded SQLite.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Maximum pooled database connections [default: 50].
    #[arg(long, env = "DB_POOL_MAX", global = true)]
    pub db_pool_max: Option<u32>,
    /// Close pooled connections idle this long [default: 10m].
    #[arg(long, env = "DB_POOL_IDLE_TIMEOUT", global = true)]
    pub db_pool_idle_timeout: Option<String>,
    /// Give up acquiring a connection after this long [default: 30s].
    #[arg(long, env = "DB_POOL_CONNECTION_TIMEOUT", global = true)]
    pub db_pool_connection_timeout: Option<String>,
    /// development or production [default: development].
    #[arg(long = "env", env = "GPUBROKER_ENV", global = true)]
    pub environment: Option<String>,
    /// Master key, base64 of 32 bytes (prefer the environment variable or a file).
    #[arg(
        long,
        env = "GPUBROKER_MASTER_KEY",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub master_key: Option<String>,
    /// File holding the base64 master key (mode 0600).
    #[arg(long, env = "GPUBROKER_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// Public https address of this service (required in production).
    #[arg(long, env = "GPUBROKER_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Debug options (refused in production).
    #[arg(long, env = "GPUBROKER_DEBUG", global = true, value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub debug: Option<bool>,
    /// Log filter, e.g. info or gpubroker=debug,info [default: info].
    #[arg(long, env = "LOG_LEVEL", global = true)]
    pub log_level: Option<String>,
    /// json or text [default: text in development, json in production].
    #[arg(long, env = "LOG_FORMAT", global = true)]
    pub log_format: Option<String>,
    /// How long /ready answers 503 before the listener closes on shutdown [default: 0s].
    #[arg(long, env = "GPUBROKER_DRAIN_DELAY", global = true)]
    pub drain_delay: Option<String>,
    /// Limit for in-flight requests and workers to finish on shutdown [default: 20s].
    #[arg(long, env = "GPUBROKER_SHUTDOWN_TIMEOUT", global = true)]
    pub shutdown_timeout: Option<String>,
    /// Price sources: vastai, runpod, lambda, demo, skypilot:<cloud>=<url|path>, file:<path> [default: demo].
    #[arg(long, env = "GPUBROKER_SOURCES", global = true)]
    pub sources: Option<String>,
    #[arg(
        long,
        env = "VASTAI_API_KEY",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub vastai_api_key: Option<String>,
    #[arg(
        long,
        env = "RUNPOD_API_KEY",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub runpod_api_key: Option<String>,
    #[arg(
        long,
        env = "LAMBDA_API_KEY",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub lambda_api_key: Option<String>,
    #[arg(long, env = "VASTAI_API_URL", global = true, hide = true)]
    pub vastai_api_url: Option<String>,
    #[arg(long, env = "RUNPOD_API_URL", global = true, hide = true)]
    pub runpod_api_url: Option<String>,
    #[arg(long, env = "LAMBDA_API_URL", global = true, hide = true)]
    pub lambda_api_url: Option<String>,
    /// OpenAI-compatible chat-completions base URL for the assistant (e.g.
    /// https://api.openai.com/v1); without it the rule-based planner answers.
    #[arg(long, env = "GPUBROKER_LLM_URL", global = true, hide = true)]
    pub llm_url: Option<String>,
    /// Model name sent to the chat-completions endpoint.
    #[arg(long, env = "GPUBROKER_LLM_MODEL", global = true, hide = true)]
    pub llm_model: Option<String>,
    #[arg(
        long,
        env = "GPUBROKER_LLM_API_KEY",
        global = true,
        hide = true,
        hide_env_values = true
    )]
    pub llm_api_key: Option<String>,
    /// Requests per second per caller on the free plan [default: 10].
    #[arg(long, env = "GPUBROKER_RATE_LIMIT_FREE", global = true)]
    pub rate_limit_free: Option<u32>,
    /// Requests per second per caller on the pro plan [default: 100].
    #[arg(long, env = "GPUBROKER_RATE_LIMIT_PRO", global = true)]
    pub rate_limit_pro: Option<u32>,
    /// Requests per second per caller on the enterprise plan [default: 1000].
    #[arg(long, env = "GPUBROKER_RATE_LIMIT_ENTERPRISE", global = true)]
    pub rate_limit_enterprise: Option<u32>,
    /// Rate-limit anonymous callers by the last X-Forwarded-For address (only behind a
    /// trusted reverse proxy) [default: false].
    #[arg(long, env = "GPUBROKER_TRUST_FORWARDED_FOR", global = true, value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub trust_forwarded_for: Option<bool>,
    /// Browser origins allowed to call the API cross-origin, comma-separated
    /// (https://app.example.com); none by default.
    #[arg(long, env = "GPUBROKER_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// SMTP relay for account mail: smtp://user:pass@host:587 (STARTTLS) or
    /// smtps://user:pass@host:465; without it mail is shown on the development console.
    #[arg(
        long,
        env = "GPUBROKER_SMTP_URL",
        global = true,
        hide_env_values = true
    )]
    pub smtp_url: Option<String>,
    /// From address of account mail [default: gpubroker@<public URL host>].
    #[arg(long, env = "GPUBROKER_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Let configured outbound URLs (provider overrides, catalog URLs, the LLM endpoint,
    /// Vault) reach loopback and private addresses over plain http: development and tests
    /// only, refused in production [default: false].
    #[arg(long, env = "GPUBROKER_ALLOW_PRIVATE_URLS", global = true, value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_urls: Option<bool>,
    /// Payment gateway: `sandbox` (built in, no real money; development only) or `stripe`
    /// [default: stripe when GPUBROKER_STRIPE_SECRET_KEY is set, else sandbox].
    #[arg(long, env = "GPUBROKER_PAYMENT_GATEWAY", global = true)]
    pub payment_gateway: Option<String>,
    /// Stripe secret API key (sk_live_… or sk_test_…).
    #[arg(
        long,
        env = "GPUBROKER_STRIPE_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub stripe_secret_key: Option<String>,
    /// Signing secret of the Stripe webhook endpoint (whsec_…).
    #[arg(
        long,
        env = "GPUBROKER_STRIPE_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe API base URL [default: https://api.stripe.com].
    #[arg(long, env = "GPUBROKER_STRIPE_API_URL", global = true)]
    pub stripe_api_url: Option<String>,
    /// Leader lease lifetime: another replica may take a lease not renewed for this long [default: 15s].
    #[arg(long, env = "GPUBROKER_LEASE_TTL", global = true)]
    pub lease_ttl: Option<String>,
    /// How often a lease holder renews; at most a third of the TTL [default: 5s].
    #[arg(long, env = "GPUBROKER_LEASE_RENEW", global = true)]
    pub lease_renew: Option<String>,
    /// Length of one pod metering interval, each charged once [default: 60s].
    #[arg(long, env = "GPUBROKER_POD_METER_INTERVAL", global = true)]
    pub pod_meter_interval: Option<String>,
    /// How often the pod worker reconciles, meters and checks budgets [default: 5s].
    #[arg(long, env = "GPUBROKER_POD_TICK", global = true)]
    pub pod_tick: Option<String>,
    /// Run time held on the wallet when a pod is deployed [default: 1h].
    #[arg(long, env = "GPUBROKER_POD_PREPAID", global = true)]
    pub pod_prepaid: Option<String>,
    /// Largest accepted WebSocket client message in bytes [default: 16384].
    #[arg(long, env = "GPUBROKER_WS_MAX_MESSAGE_BYTES", global = true)]
    pub ws_max_message_bytes: Option<usize>,
    /// Subscriptions per WebSocket connection [default: 20].
    #[arg(long, env = "GPUBROKER_WS_MAX_SUBSCRIPTIONS", global = true)]
    pub ws_max_subscriptions: Option<usize>,
    /// Open WebSocket connections per signed-in user [default: 20].
    #[arg(long, env = "GPUBROKER_WS_MAX_CONNECTIONS_PER_USER", global = true)]
    pub ws_max_connections_per_user: Option<usize>,
    /// Messages queued for one WebSocket client before it must resync [default: 256].
    #[arg(long, env = "GPUBROKER_WS_QUEUE_MESSAGES", global = true)]
    pub ws_queue_messages: Option<usize>,
    /// Bytes queued for one WebSocket client before it must resync [default: 1048576].
    #[arg(long, env = "GPUBROKER_WS_QUEUE_BYTES", global = true)]
    pub ws_queue_bytes: Option<usize>,
    /// How often the server pings WebSocket clients [default: 30s].
    #[arg(long, env = "GPUBROKER_WS_HEARTBEAT", global = true)]
    pub ws_heartbeat: Option<String>,
    /// A WebSocket client silent this long is closed [default: 75s].
    #[arg(long, env = "GPUBROKER_WS_IDLE_TIMEOUT", global = true)]
    pub ws_idle_timeout: Option<String>,
    /// Offers in a subscription snapshot without limit= [default: 50].
    #[arg(long, env = "GPUBROKER_WS_SNAPSHOT_LIMIT", global = true)]
    pub ws_snapshot_limit: Option<usize>,
    /// Container image of pods deployed on RunPod and Vast.ai [default: runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04].
    #[arg(long, env = "GPUBROKER_POD_IMAGE", global = true)]
    pub pod_image: Option<String>,
    /// Container disk in GB of pods deployed on RunPod and Vast.ai, 1 to 2000 [default: 40].
    #[arg(long, env = "GPUBROKER_POD_DISK_GB", global = true)]
    pub pod_disk_gb: Option<u32>,
    /// Name of the SSH key registered at Lambda Cloud that Lambda pods are launched with
    /// (Lambda launches are refused without it).
    #[arg(long, env = "GPUBROKER_LAMBDA_SSH_KEY", global = true)]
    pub lambda_ssh_key: Option<String>,
}

impl SettingsArgs {
    /// Merges flags/env over the optional config file and validates the result.
    pub fn resolve(self) -> Result<Settings, SettingsError> {
        let file_layer = match &self.config {
            Some(path) => RawSettings::from_toml_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                RawSettings::from_toml_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => RawSettings::default(),
        };
        let flags = RawSettings {
            listen: self.listen,
            data_dir: self.data_dir,
            database_url: self.database_url,
            db_pool_max: self.db_pool_max,
            db_pool_idle_timeout: self.db_pool_idle_timeout,
            db_pool_connection_timeout: self.db_pool_connection_timeout,
            env: self.environment,
            master_key: self.master_key,
            master_key_file: self.master_key_file,
            public_url: self.public_url,
            debug: self.debug,
            log_level: self.log_level,
            log_format: self.log_format,
            drain_delay: self.drain_delay,
            shutdown_timeout: self.shutdown_timeout,
            sources: self.sources,
            vastai_api_key: self.vastai_api_key,
            runpod_api_key: self.runpod_api_key,
            lambda_api_key: self.lambda_api_key,
            vastai_api_url: self.vastai_api_url,
            runpod_api_url: self.runpod_api_url,
            lambda_api_url: self.lambda_api_url,
            llm_url: self.llm_url,
            llm_model: self.llm_model,
            llm_api_key: self.llm_api_key,
            rate_limit_free: self.rate_limit_free,
            rate_limit_pro: self.rate_limit_pro,
            rate_limit_enterprise: self.rate_limit_enterprise,
            trust_forwarded_for: self.trust_forwarded_for,
            cors_origins: self.cors_origins,
            smtp_url: self.smtp_url,
            mail_from: self.mail_from,
            allow_private_urls: self.allow_private_urls,
            payment_gateway: self.payment_gateway,
            stripe_secret_key: self.stripe_secret_key,
            stripe_webhook_secret: self.stripe_webhook_secret,
            stripe_api_url: self.stripe_api_url,
            lease_ttl: self.lease_ttl,
            lease_renew: self.lease_renew,
            pod_meter_interval: self.pod_meter_interval,
            pod_tick: self.pod_tick,
            pod_prepaid: self.pod_prepaid,
            ws_max_message_bytes: self.ws_max_message_bytes,
            ws_max_subscriptions: self.ws_max_subscriptions,
            ws_max_connections_per_user: self.ws_max_connections_per_user,
            ws_queue_messages: self.ws_queue_messages,
            ws_queue_bytes: self.ws_queue_bytes,
            ws_heartbeat: self.ws_heartbeat,
            ws_idle_timeout: self.ws_idle_timeout,
            ws_snapshot_limit: self.ws_snapshot_limit,
            pod_image: self.pod_image,
            pod_disk_gb: self.pod_disk_gb,
            lambda_ssh_key: self.lambda_ssh_key,
        };
        flags.layer_over(file_layer).validate()
    }
}

/// Runs the parsed command line; the process exit code is returned.
pub fn run(cli: Cli) -> ExitCode {
    // The agent runs on rented machines: no database, no server settings.
    let command = match cli.command {
        Command::Agent(args) => {
            let level = cli.settings.log_level.as_deref().unwrap_or("info");
            return crate::agent::run_cli(args, level);
        }
        command => command,
    };
    let settings = match cli.settings.resolve() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("gpubroker: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init_tracing(&settings.log_level, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gpubroker: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(command, settings));
    // Every task has finished by now; do not wait on idle blocking-pool threads.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<crate::cli_catalog::BadQuery>().is_some() => {
            eprintln!("gpubroker: {e}");
            ExitCode::from(2)
        }
        Err(e)
            if e.downcast_ref::<crate::cli_audit::ChainBroken>().is_some()
                || e.downcast_ref::<crate::cli_ledger::LedgerBreach>()
                    .is_some() =>
        {
            eprintln!("gpubroker: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "command failed");
            eprintln!("gpubroker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::app::run(settings).await,
        Command::Migrate => {
            let store = open(&settings).await?;
            store.migrate().await.context("applying migrations")?;
            store.ensure_installation_id().await?;
            let version = store.applied_migration().await?;
            say(&format!("database migrated to version {version}"));
            store.close().await;
            Ok(())
        }
        Command::Backup { file, force } => {
            crate::ops::backup(&open(&settings).await?, &file, force).await
        }
        Command::Restore { file, force } => {
            let store = open(&settings).await?;
            store.migrate().await.context("applying migrations")?;
            crate::ops::restore(&store, &file, force).await
        }
        Command::Import(kind) => crate::cli_catalog::import(&settings, kind).await,
        Command::Search(args) => crate::cli_catalog::search(&settings, args).await,
        Command::Audit(command) => crate::cli_audit::audit(&settings, command).await,
        Command::Config(command) => crate::cli_config::run(&settings, command).await,
        Command::Admin(command) => crate::cli_admin::run(&settings, command).await,
        Command::Ledger(command) => crate::cli_ledger::run(&settings, command).await,
        Command::Agent(_) => Err(anyhow::anyhow!(
            "the agent runs outside the server settings"
        )),
    }
}

async fn open(settings: &Settings) -> anyhow::Result<Store> {
    Store::connect(&settings.database)
        .await
        .with_context(|| format!("opening the database {:?}", settings.database.target))
}

/// Prints one line of command output to stdout.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}
