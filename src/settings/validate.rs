//! Layering and validation: from the raw layers (flags, environment, file) to one
//! checked [`Settings`], with every problem named.

use super::*;

impl RawSettings {
    /// Fills every unset field of `self` from `lower` (self has priority).
    #[must_use]
    pub fn layer_over(self, lower: RawSettings) -> RawSettings {
        RawSettings {
            listen: self.listen.or(lower.listen),
            data_dir: self.data_dir.or(lower.data_dir),
            database_url: self.database_url.or(lower.database_url),
            db_pool_max: self.db_pool_max.or(lower.db_pool_max),
            db_pool_idle_timeout: self.db_pool_idle_timeout.or(lower.db_pool_idle_timeout),
            db_pool_connection_timeout: self
                .db_pool_connection_timeout
                .or(lower.db_pool_connection_timeout),
            env: self.env.or(lower.env),
            master_key: self.master_key.or(lower.master_key),
            master_key_file: self.master_key_file.or(lower.master_key_file),
            public_url: self.public_url.or(lower.public_url),
            debug: self.debug.or(lower.debug),
            log_level: self.log_level.or(lower.log_level),
            log_format: self.log_format.or(lower.log_format),
            drain_delay: self.drain_delay.or(lower.drain_delay),
            shutdown_timeout: self.shutdown_timeout.or(lower.shutdown_timeout),
            sources: self.sources.or(lower.sources),
            vastai_api_key: self.vastai_api_key.or(lower.vastai_api_key),
            runpod_api_key: self.runpod_api_key.or(lower.runpod_api_key),
            lambda_api_key: self.lambda_api_key.or(lower.lambda_api_key),
            vastai_api_url: self.vastai_api_url.or(lower.vastai_api_url),
            runpod_api_url: self.runpod_api_url.or(lower.runpod_api_url),
            lambda_api_url: self.lambda_api_url.or(lower.lambda_api_url),
            llm_url: self.llm_url.or(lower.llm_url),
            llm_model: self.llm_model.or(lower.llm_model),
            llm_api_key: self.llm_api_key.or(lower.llm_api_key),
            rate_limit_free: self.rate_limit_free.or(lower.rate_limit_free),
            rate_limit_pro: self.rate_limit_pro.or(lower.rate_limit_pro),
            rate_limit_enterprise: self.rate_limit_enterprise.or(lower.rate_limit_enterprise),
            trust_forwarded_for: self.trust_forwarded_for.or(lower.trust_forwarded_for),
            cors_origins: self.cors_origins.or(lower.cors_origins),
            smtp_url: self.smtp_url.or(lower.smtp_url),
            mail_from: self.mail_from.or(lower.mail_from),
            allow_private_urls: self.allow_private_urls.or(lower.allow_private_urls),
            payment_gateway: self.payment_gateway.or(lower.payment_gateway),
            stripe_secret_key: self.stripe_secret_key.or(lower.stripe_secret_key),
            stripe_webhook_secret: self.stripe_webhook_secret.or(lower.stripe_webhook_secret),
            stripe_api_url: self.stripe_api_url.or(lower.stripe_api_url),
            lease_ttl: self.lease_ttl.or(lower.lease_ttl),
            lease_renew: self.lease_renew.or(lower.lease_renew),
            pod_meter_interval: self.pod_meter_interval.or(lower.pod_meter_interval),
            pod_tick: self.pod_tick.or(lower.pod_tick),
            pod_prepaid: self.pod_prepaid.or(lower.pod_prepaid),
            ws_max_message_bytes: self.ws_max_message_bytes.or(lower.ws_max_message_bytes),
            ws_max_subscriptions: self.ws_max_subscriptions.or(lower.ws_max_subscriptions),
            ws_max_connections_per_user: self
                .ws_max_connections_per_user
                .or(lower.ws_max_connections_per_user),
            ws_queue_messages: self.ws_queue_messages.or(lower.ws_queue_messages),
            ws_queue_bytes: self.ws_queue_bytes.or(lower.ws_queue_bytes),
            ws_heartbeat: self.ws_heartbeat.or(lower.ws_heartbeat),
            ws_idle_timeout: self.ws_idle_timeout.or(lower.ws_idle_timeout),
            ws_snapshot_limit: self.ws_snapshot_limit.or(lower.ws_snapshot_limit),
            pod_image: self.pod_image.or(lower.pod_image),
            pod_disk_gb: self.pod_disk_gb.or(lower.pod_disk_gb),
            lambda_ssh_key: self.lambda_ssh_key.or(lower.lambda_ssh_key),
        }
    }

    /// Reads a `gpubroker.toml` layer.
    pub fn from_toml_file(path: &Path) -> Result<RawSettings, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError {
            problems: vec![format!("cannot read config file {}: {e}", path.display())],
        })?;
        toml::from_str(&text).map_err(|e| SettingsError {
            problems: vec![format!("config file {}: {}", path.display(), e.message())],
        })
    }

    /// Validates the merged layer; in production refuses missing or unsafe values.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        let mut problems = Vec::new();
        let environment = match self.env.as_deref().unwrap_or("development") {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => {
                problems.push(format!(
                    "GPUBROKER_ENV must be development or production, not {other:?}"
                ));
                Environment::Development
            }
        };
        let listen = parse_or(
            &mut problems,
            "GPUBROKER_LISTEN",
            self.listen.as_deref(),
            DEFAULT_LISTEN,
        );
        let data_dir = self
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database = DatabaseSettings {
            target: database_target(&mut problems, self.database_url.as_deref(), &data_dir),
            pool_max: match self.db_pool_max {
                Some(0) => {
                    problems.push("DB_POOL_MAX must be at least 1".into());
                    1
                }
                other => other.unwrap_or(50),
            },
            idle_timeout: duration_or(
                &mut problems,
                "DB_POOL_IDLE_TIMEOUT",
                self.db_pool_idle_timeout.as_deref(),
                600,
            ),
            connect_timeout: duration_or(
                &mut problems,
                "DB_POOL_CONNECTION_TIMEOUT",
                self.db_pool_connection_timeout.as_deref(),
                30,
            ),
        };
        let master_key = master_key_source(
            &mut problems,
            self.master_key.as_deref(),
            self.master_key_file,
            &data_dir,
            environment,
        );
        let public_url = self
            .public_url
            .as_deref()
            .and_then(|raw| match Url::parse(raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                Ok(_) => {
                    problems.push(format!("GPUBROKER_PUBLIC_URL must be http(s), not {raw:?}"));
                    None
                }
                Err(e) => {
                    problems.push(format!("GPUBROKER_PUBLIC_URL is not a URL: {e}"));
                    None
                }
            });
        let log_level = self.log_level.unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            problems.push(format!(
                "LOG_LEVEL {log_level:?} is not a valid level or filter"
            ));
        }
        let log_format = match self.log_format.as_deref() {
            None => match environment {
                Environment::Development => LogFormat::Text,
                Environment::Production => LogFormat::Json,
            },
            Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                problems.push(format!("LOG_FORMAT must be json or text, not {other:?}"));
                LogFormat::Text
            }
        };
        let drain_delay = duration_or(
            &mut problems,
            "GPUBROKER_DRAIN_DELAY",
            self.drain_delay.as_deref(),
            0,
        );
        let shutdown_timeout = duration_or(
            &mut problems,
            "GPUBROKER_SHUTDOWN_TIMEOUT",
            self.shutdown_timeout.as_deref(),
            20,
        );
        if drain_delay + shutdown_timeout > Duration::from_secs(25) {
            problems.push(
                "GPUBROKER_DRAIN_DELAY + GPUBROKER_SHUTDOWN_TIMEOUT must not exceed 25s".into(),
            );
        }
        let outbound = if self.allow_private_urls.unwrap_or(false) {
            crate::net_guard::Reach::Any
        } else {
            crate::net_guard::Reach::PublicOnly
        };
        for (name, raw) in [
            ("VASTAI_API_URL", &self.vastai_api_url),
            ("RUNPOD_API_URL", &self.runpod_api_url),
            ("LAMBDA_API_URL", &self.lambda_api_url),
            ("GPUBROKER_LLM_URL", &self.llm_url),
        ] {
            if let Some(problem) = outbound_problem(raw.as_deref(), outbound) {
                problems.push(format!("{name}: {problem}"));
            }
        }
        let credentials = ProviderCredentials {
            vastai_key: self.vastai_api_key,
            runpod_key: self.runpod_api_key,
            lambda_key: self.lambda_api_key,
            vastai_url: self.vastai_api_url,
            runpod_url: self.runpod_api_url,
            lambda_url: self.lambda_api_url,
        };
        let sources = sources::parse_sources(self.sources.as_deref(), &credentials, &mut problems);
        for spec in &sources {
            if let SourceSpec::Skypilot { cloud, location } = spec {
                if location.starts_with("http") {
                    if let Some(problem) = outbound_problem(Some(location), outbound) {
                        problems.push(format!("GPUBROKER_SOURCES skypilot:{cloud}: {problem}"));
                    }
                }
            }
        }
        let llm = match (self.llm_url, self.llm_model) {
            (None, None) => None,
            (Some(url), model) => match Url::parse(&url) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => match model {
                    Some(model) if !model.trim().is_empty() => Some(LlmSettings {
                        url,
                        model,
                        api_key: self.llm_api_key,
                    }),
                    _ => {
                        problems.push(
                            "GPUBROKER_LLM_URL is set but GPUBROKER_LLM_MODEL is not: name the model"
                                .into(),
                        );
                        None
                    }
                },
                _ => {
                    problems.push(format!(
                        "GPUBROKER_LLM_URL must be an http(s) URL, not {:?}",
                        redact_url(&url)
                    ));
                    None
                }
            },
            (None, Some(_)) => {
                problems.push("GPUBROKER_LLM_MODEL is set but GPUBROKER_LLM_URL is not".into());
                None
            }
        };
        let rate_limits = rate_limits(
            &mut problems,
            [
                self.rate_limit_free,
                self.rate_limit_pro,
                self.rate_limit_enterprise,
            ],
        );
        let mail = mail::mail_settings(
            &mut problems,
            self.smtp_url.as_deref(),
            self.mail_from.as_deref(),
            public_url.as_ref(),
        );
        let payments = payments::payment_settings(
            &mut problems,
            payments::RawPayments {
                gateway: self.payment_gateway.as_deref(),
                stripe_secret_key: self.stripe_secret_key.as_deref(),
                stripe_webhook_secret: self.stripe_webhook_secret.as_deref(),
                stripe_api_url: self.stripe_api_url.as_deref(),
            },
            environment,
            outbound,
        );
        let settings = Settings {
            listen,
            data_dir,
            database,
            environment,
            master_key,
            public_url,
            debug: self.debug.unwrap_or(false),
            log_level,
            log_format,
            drain_delay,
            shutdown_timeout,
            sources,
            credentials,
            llm,
            rate_limits,
            trust_forwarded_for: self.trust_forwarded_for.unwrap_or(false),
            cors_origins: cors_origins(&mut problems, self.cors_origins.as_deref()),
            mail,
            outbound,
            payments,
            ws: cluster::ws_limits(
                &mut problems,
                &cluster::RawWsLimits {
                    max_message_bytes: self.ws_max_message_bytes,
                    max_subscriptions: self.ws_max_subscriptions,
                    max_connections_per_user: self.ws_max_connections_per_user,
                    queue_messages: self.ws_queue_messages,
                    queue_bytes: self.ws_queue_bytes,
                    heartbeat: self.ws_heartbeat,
                    idle_timeout: self.ws_idle_timeout,
                    snapshot_limit: self.ws_snapshot_limit,
                },
            ),
            lease: cluster::lease_settings(
                &mut problems,
                self.lease_ttl.as_deref(),
                self.lease_renew.as_deref(),
            ),
            pods: cluster::pod_settings(
                &mut problems,
                self.pod_meter_interval.as_deref(),
                self.pod_tick.as_deref(),
                self.pod_prepaid.as_deref(),
            ),
            pod_deploy: pods::pod_deploy(
                &mut problems,
                self.pod_image,
                self.pod_disk_gb,
                self.lambda_ssh_key,
            ),
        };
        if environment == Environment::Production {
            problems.extend(settings.production_problems());
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(SettingsError { problems })
        }
    }
}

/// Why a configured outbound URL is refused under `reach`, if it is (unparsable URLs are
/// reported where they are used).
fn outbound_problem(raw: Option<&str>, reach: crate::net_guard::Reach) -> Option<String> {
    let url = Url::parse(raw?.trim()).ok()?;
    crate::net_guard::check_url(&url, reach).err()
}

/// Parses `GPUBROKER_CORS_ORIGINS`: a comma list of exact origins (`https://app.example.com`,
/// `http://localhost:5173`). Paths, wildcards and other schemes are refused.
fn cors_origins(problems: &mut Vec<String>, raw: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    for item in raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match Url::parse(item) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some()
                    && url.path() == "/"
                    && url.query().is_none() =>
            {
                out.push(url.origin().ascii_serialization());
            }
            _ => problems.push(format!(
                "GPUBROKER_CORS_ORIGINS: {item:?} is not an origin such as https://app.example.com (no path, no wildcard)"
            )),
        }
    }
    out
}

/// Per-plan limits from their optional layers; zero is refused.
fn rate_limits(problems: &mut Vec<String>, raw: [Option<u32>; 3]) -> RateLimits {
    let defaults = RateLimits::default();
    let names = [
        "GPUBROKER_RATE_LIMIT_FREE",
        "GPUBROKER_RATE_LIMIT_PRO",
        "GPUBROKER_RATE_LIMIT_ENTERPRISE",
    ];
    let fallback = [defaults.free, defaults.pro, defaults.enterprise];
    let [free, pro, enterprise] = [0, 1, 2].map(|i| match raw[i] {
        Some(0) => {
            problems.push(format!("{} must be at least 1", names[i]));
            fallback[i]
        }
        other => other.unwrap_or(fallback[i]),
    });
    RateLimits {
        free,
        pro,
        enterprise,
    }
}

fn parse_or<T: FromStr>(
    problems: &mut Vec<String>,
    name: &str,
    raw: Option<&str>,
    default: &str,
) -> T
where
    T::Err: fmt::Display,
{
    let raw = raw.unwrap_or(default);
    raw.parse().unwrap_or_else(|e| {
        problems.push(format!("{name} {raw:?} is invalid: {e}"));
        default
            .parse()
            .unwrap_or_else(|_| unreachable!("default {default} parses"))
    })
}

fn duration_or(
    problems: &mut Vec<String>,
    name: &str,
    raw: Option<&str>,
    default_secs: u64,
) -> Duration {
    match raw.map(parse_duration) {
        None => Duration::from_secs(default_secs),
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            problems.push(format!("{name}: {e}"));
            Duration::from_secs(default_secs)
        }
    }
}

fn database_target(
    problems: &mut Vec<String>,
    url: Option<&str>,
    data_dir: &Path,
) -> DatabaseTarget {
    let default = DatabaseTarget::Sqlite(data_dir.join(SQLITE_FILE));
    let Some(url) = url.filter(|u| !u.trim().is_empty()) else {
        return default;
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if let Err(e) = Url::parse(url) {
            problems.push(format!("DATABASE_URL is not a valid URL: {e}"));
        } else if let Some(problem) = sslmode_problem(url) {
            problems.push(problem);
        }
        DatabaseTarget::Postgres(url.to_string())
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        DatabaseTarget::Sqlite(PathBuf::from(path.split('?').next().unwrap_or(path)))
    } else {
        problems.push(format!(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite:, got {}",
            redact_url(url)
        ));
        default
    }
}

const SSLMODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

fn sslmode(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    let mode = parsed
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.into_owned());
    mode
}

fn sslmode_problem(url: &str) -> Option<String> {
    let mode = sslmode(url)?;
    (!SSLMODES.contains(&mode.as_str())).then(|| {
        format!(
            "DATABASE_URL sslmode must be one of {}, not {mode:?}",
            SSLMODES.join(", ")
        )
    })
}

/// In production a non-local PostgreSQL must be reached over verified TLS.
pub(super) fn postgres_tls_problem(url: &str) -> Option<String> {
    let parsed = Url::parse(url).ok()?;
    let local = match parsed.host() {
        None => true,
        // A single-label name (`postgres`) only resolves inside a private network such as a
        // compose or pod network, so it counts as local.
        Some(url::Host::Domain(d)) => d == "localhost" || !d.contains('.'),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    let mode = sslmode(url).unwrap_or_else(|| "prefer".into());
    (!local && !matches!(mode.as_str(), "require" | "verify-ca" | "verify-full")).then(|| {
        format!("DATABASE_URL points at a remote host with sslmode={mode}: use sslmode=verify-full (or require) in production")
    })
}

fn master_key_source(
    problems: &mut Vec<String>,
    inline: Option<&str>,
    file: Option<PathBuf>,
    data_dir: &Path,
    environment: Environment,
) -> MasterKeySource {
    match (inline.filter(|s| !s.is_empty()), file) {
        (Some(_), Some(_)) => {
            problems
                .push("set only one of GPUBROKER_MASTER_KEY and GPUBROKER_MASTER_KEY_FILE".into());
            MasterKeySource::Generated(data_dir.join(MASTER_KEY_FILE))
        }
        (Some(raw), None) => match MasterKey::from_base64(raw) {
            Ok(key) => MasterKeySource::Inline(key),
            Err(e) => {
                problems.push(format!("GPUBROKER_MASTER_KEY: {e}"));
                MasterKeySource::Generated(data_dir.join(MASTER_KEY_FILE))
            }
        },
        (None, Some(path)) => {
            if let Err(e) = MasterKey::read_file(&path, environment == Environment::Production) {
                problems.push(format!("GPUBROKER_MASTER_KEY_FILE {}: {e}", path.display()));
            }
            MasterKeySource::File(path)
        }
        (None, None) => MasterKeySource::Generated(data_dir.join(MASTER_KEY_FILE)),
    }
}
