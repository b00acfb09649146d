//! Settings layering, defaults, validation and production refusals.
#![allow(clippy::unwrap_used)]

use base64::Engine;

use super::*;

fn raw() -> RawSettings {
    RawSettings {
        data_dir: Some(PathBuf::from("/tmp/gpubroker-test")),
        ..RawSettings::default()
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = RawSettings::default().validate().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:10355");
    assert_eq!(s.data_dir, PathBuf::from("gpubroker-data"));
    assert_eq!(
        s.database.target,
        DatabaseTarget::Sqlite(PathBuf::from("gpubroker-data/gpubroker.db"))
    );
    assert_eq!(s.database.pool_max, 50);
    assert_eq!(s.database.idle_timeout, Duration::from_secs(600));
    assert_eq!(s.database.connect_timeout, Duration::from_secs(30));
    assert_eq!(s.environment, Environment::Development);
    assert_eq!(
        s.master_key,
        MasterKeySource::Generated(PathBuf::from("gpubroker-data/master.key"))
    );
    assert_eq!(s.log_format, LogFormat::Text);
    assert!(!s.debug);
}

#[test]
fn higher_layers_win_field_by_field() {
    let flags = RawSettings {
        listen: Some("127.0.0.1:9000".into()),
        ..RawSettings::default()
    };
    let file: RawSettings = toml::from_str(
        "listen = \"0.0.0.0:1\"\ndb_pool_max = 7\ndatabase_url = \"postgres://db.internal/x?sslmode=verify-full\"\n",
    )
    .unwrap();
    let s = flags.layer_over(file).validate().unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:9000");
    assert_eq!(s.database.pool_max, 7);
    assert!(matches!(s.database.target, DatabaseTarget::Postgres(_)));
}

#[test]
fn unknown_keys_in_the_file_are_rejected() {
    let err = toml::from_str::<RawSettings>("lisen = \"x\"")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("lisen"), "{err}");
}

#[test]
fn every_invalid_value_is_reported_in_one_error() {
    let bad = RawSettings {
        listen: Some("nowhere".into()),
        db_pool_max: Some(0),
        db_pool_idle_timeout: Some("ten minutes".into()),
        log_format: Some("xml".into()),
        database_url: Some("mysql://x".into()),
        env: Some("staging".into()),
        ..raw()
    };
    let err = bad.validate().unwrap_err();
    assert_eq!(err.problems.len(), 6, "{err}");
    let text = err.to_string();
    for needle in [
        "GPUBROKER_LISTEN",
        "DB_POOL_MAX",
        "DB_POOL_IDLE_TIMEOUT",
        "LOG_FORMAT",
        "DATABASE_URL",
        "GPUBROKER_ENV",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn production_names_every_missing_or_unsafe_setting() {
    let err = RawSettings {
        env: Some("production".into()),
        debug: Some(true),
        allow_private_urls: Some(true),
        ..raw()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.contains("GPUBROKER_ALLOW_PRIVATE_URLS"), "{err}");
    assert!(err.contains("master key"), "{err}");
    assert!(err.contains("GPUBROKER_PUBLIC_URL"), "{err}");
    assert!(err.contains("GPUBROKER_DEBUG"), "{err}");
    assert!(err.contains("sandbox payment gateway"), "{err}");
}

#[test]
fn production_with_key_https_url_and_tls_database_starts() {
    let key = MasterKey::generate().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
    let base = RawSettings {
        env: Some("production".into()),
        master_key: Some(b64),
        public_url: Some("https://broker.example.com".into()),
        stripe_secret_key: Some("sk_live_x".into()),
        stripe_webhook_secret: Some("whsec_x".into()),
        ..raw()
    };
    let s = base.clone().validate().unwrap();
    assert_eq!(
        s.payments.gateway,
        crate::settings::payments::GatewayChoice::Stripe
    );
    assert_eq!(s.master_key, MasterKeySource::Inline(key));
    assert_eq!(
        s.log_format,
        LogFormat::Json,
        "production logs JSON by default"
    );

    let remote = |url: &str| {
        RawSettings {
            database_url: Some(url.into()),
            ..base.clone()
        }
        .validate()
    };
    assert!(remote("postgres://u:p@db.example.com/g?sslmode=verify-full").is_ok());
    assert!(
        remote("postgres://u:p@localhost/g").is_ok(),
        "loopback needs no TLS"
    );
    assert!(
        remote("postgres://u:p@postgres/g?sslmode=disable").is_ok(),
        "private single-label host"
    );
    let err = remote("postgres://u:p@db.example.com/g?sslmode=disable")
        .unwrap_err()
        .to_string();
    assert!(err.contains("sslmode") && !err.contains(":p@"), "{err}");
    let http = RawSettings {
        public_url: Some("http://broker.example.com".into()),
        ..base
    }
    .validate();
    assert!(http.unwrap_err().to_string().contains("https"));
}

#[test]
fn sslmode_must_be_a_known_mode() {
    let err = RawSettings {
        database_url: Some("postgres://h/d?sslmode=maybe".into()),
        ..raw()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.contains("verify-full"), "{err}");
}

#[test]
fn durations_parse_with_units() {
    assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
    assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
    assert!(parse_duration("").is_err());
    assert!(parse_duration("5 days").is_err());
    assert!(parse_duration("99999999999999999999h").is_err());
}

#[test]
fn drain_and_shutdown_must_fit_in_25_seconds() {
    let err = RawSettings {
        drain_delay: Some("10s".into()),
        shutdown_timeout: Some("20s".into()),
        ..raw()
    }
    .validate()
    .unwrap_err();
    assert!(err.to_string().contains("25s"));
}

#[test]
fn urls_are_redacted_for_logs() {
    assert_eq!(
        redact_url("postgres://me:hunter2@db/x"),
        "postgres://me:***@db/x"
    );
    assert_eq!(
        redact_url("postgres://db/x?password=hunter2&sslmode=require"),
        "postgres://db/x?password=***&sslmode=require"
    );
    assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
    let target = DatabaseTarget::Postgres("postgres://me:hunter2@db/x".into());
    assert!(!format!("{target:?}").contains("hunter2"));
    let raw = RawSettings {
        master_key: Some("c2VjcmV0".into()),
        database_url: Some("postgres://a:hunter2@b/c".into()),
        ..raw()
    };
    let debug = format!("{raw:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("c2VjcmV0"),
        "{debug}"
    );
}

#[test]
fn generated_master_key_is_private_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/master.key");
    let (first, generated) = MasterKey::load_or_generate(&path).unwrap();
    assert!(generated);
    let (second, generated_again) = MasterKey::load_or_generate(&path).unwrap();
    assert!(!generated_again);
    assert_eq!(first, second);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            MasterKey::read_file(&path, true),
            Err(MasterKeyError::Permissive(0o644))
        ));
        assert!(MasterKey::read_file(&path, false).is_ok());
    }
    assert!(!format!("{first:?}")
        .contains(&base64::engine::general_purpose::STANDARD.encode(first.as_bytes())));
    assert!(matches!(
        MasterKey::from_base64("dG9vIHNob3J0"),
        Err(MasterKeyError::Malformed)
    ));
}

#[test]
fn rate_limits_default_to_the_plans_and_refuse_zero() {
    let s = raw().validate().unwrap();
    assert_eq!(s.rate_limits, RateLimits::default());
    assert_eq!(
        (
            s.rate_limits.free,
            s.rate_limits.pro,
            s.rate_limits.enterprise
        ),
        (10, 100, 1000)
    );
    let s = RawSettings {
        rate_limit_pro: Some(250),
        ..raw()
    }
    .validate()
    .unwrap();
    assert_eq!(s.rate_limits.pro, 250);
    let err = RawSettings {
        rate_limit_free: Some(0),
        ..raw()
    }
    .validate()
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("GPUBROKER_RATE_LIMIT_FREE must be at least 1"),
        "{err}"
    );
}

#[test]
fn cors_origins_are_exact_origins() {
    let s = RawSettings {
        cors_origins: Some("https://app.example.com, http://localhost:5173/".into()),
        ..raw()
    }
    .validate()
    .unwrap();
    assert_eq!(
        s.cors_origins,
        vec!["https://app.example.com", "http://localhost:5173"]
    );
    assert!(raw().validate().unwrap().cors_origins.is_empty());
    for bad in [
        "*",
        "https://app.example.com/path",
        "ftp://x.example",
        "app.example.com",
    ] {
        let err = RawSettings {
            cors_origins: Some(bad.into()),
            ..raw()
        }
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().contains("GPUBROKER_CORS_ORIGINS"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn outbound_urls_must_be_public_https_unless_private_urls_are_allowed() {
    let err = RawSettings {
        llm_url: Some("http://127.0.0.1:11434/v1".into()),
        llm_model: Some("llama3".into()),
        vastai_api_url: Some("https://169.254.169.254/".into()),
        ..raw()
    }
    .validate()
    .unwrap_err()
    .to_string();
    assert!(err.contains("GPUBROKER_LLM_URL"), "{err}");
    assert!(err.contains("VASTAI_API_URL"), "{err}");
    let ok = RawSettings {
        llm_url: Some("http://127.0.0.1:11434/v1".into()),
        llm_model: Some("llama3".into()),
        allow_private_urls: Some(true),
        ..raw()
    }
    .validate()
    .unwrap();
    assert_eq!(ok.outbound, crate::net_guard::Reach::Any);
    assert_eq!(
        raw().validate().unwrap().outbound,
        crate::net_guard::Reach::PublicOnly
    );
}
