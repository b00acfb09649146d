//! `gpubroker config …`: read, write, list, import and rotate the encrypted config store.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::cli::say;
use crate::config::import::{parse_env, parse_json};
use crate::config::{Category, ConfigStore, SetOptions, ValueType};
use crate::settings::Settings;
use crate::store::Store;

/// The `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print one value (a secret is masked unless --reveal).
    Get {
        key: String,
        /// Decrypt and print a secret.
        #[arg(long)]
        reveal: bool,
    },
    /// Set a value; VALUE `-` reads it from stdin (keeps secrets out of shell history).
    Set {
        key: String,
        value: String,
        /// Encrypt the value at rest and mask it in listings.
        #[arg(long)]
        secret: bool,
        /// database, cache, security, api, feature, service or monitoring.
        #[arg(long)]
        category: Option<Category>,
        #[arg(long)]
        description: Option<String>,
        /// string, int, bool or json [default: string, or the entry's current type].
        #[arg(long = "type")]
        value_type: Option<ValueType>,
    },
    /// List every entry, secrets masked.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Import a .env file (KEY=VALUE) or a JSON object / array of entries.
    Import { file: PathBuf },
    /// Import the entries of a Vault KV v2 secret (token from VAULT_TOKEN).
    ImportVault {
        /// Vault address, e.g. https://vault.internal:8200.
        #[arg(long, env = "VAULT_ADDR")]
        addr: String,
        /// KV v2 API path, e.g. secret/data/gpubroker.
        #[arg(long)]
        path: String,
        #[arg(long, env = "VAULT_TOKEN", hide = true, hide_env_values = true)]
        token: Option<String>,
    },
    /// New data-key version; re-encrypt every secret with it; retire the old version.
    RotateKey,
}

/// Runs `gpubroker config …`.
pub async fn run(settings: &Settings, command: ConfigCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let (master_key, _) = settings
        .master_key
        .load()
        .context("loading the master key")?;
    let config = ConfigStore::new(store.clone(), &master_key)?;
    let actor = actor();
    let changes = !matches!(
        command,
        ConfigCommand::Get { .. } | ConfigCommand::List { .. }
    );
    let result = execute(&config, command, &actor, settings.outbound).await;
    if changes && result.is_ok() {
        // Running servers on this PostgreSQL database drop their cached configuration.
        if let Some(pool) = store.pg_pool() {
            crate::events::replica::notify_config_changed(
                pool,
                &format!("cli:{}", std::process::id()),
            )
            .await;
        }
    }
    store.close().await;
    result
}

async fn execute(
    config: &ConfigStore,
    command: ConfigCommand,
    actor: &str,
    reach: crate::net_guard::Reach,
) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Get { key, reveal } => {
            if reveal {
                say(&config.reveal(&key, actor).await?.value.text);
            } else {
                let entry = config
                    .entry(&key)
                    .await?
                    .ok_or_else(|| crate::config::ConfigError::NotFound(key.clone()))?;
                say(&entry.value);
            }
        }
        ConfigCommand::Set {
            key,
            value,
            secret,
            category,
            description,
            value_type,
        } => {
            let value = if value == "-" { read_stdin()? } else { value };
            let options = SetOptions {
                secret: secret.then_some(true),
                category,
                description,
                value_type,
            };
            let change = config.set(&key, &value, options, actor).await?;
            say(&format!(
                "{} {} ({}, {}{})",
                if change.created() {
                    "created"
                } else {
                    "updated"
                },
                change.key,
                change.after.value_type,
                change.after.category,
                if change.after.is_secret {
                    ", secret"
                } else {
                    ""
                }
            ));
        }
        ConfigCommand::List { json } => {
            let entries = config.list().await?;
            if json {
                say(&serde_json::to_string_pretty(&entries)?);
            } else {
                for e in entries {
                    say(&format!(
                        "{:<40} {:<6} {:<10} {}{}",
                        e.key,
                        e.value_type,
                        e.category,
                        e.value,
                        if e.description.is_empty() {
                            String::new()
                        } else {
                            format!("  # {}", e.description)
                        }
                    ));
                }
            }
        }
        ConfigCommand::Import { file } => {
            let entries = read_import(&file)?;
            let changes = config.import(entries, actor).await?;
            let secrets = changes.iter().filter(|c| c.after.is_secret).count();
            say(&format!(
                "imported {} entries ({secrets} secret) from {}",
                changes.len(),
                file.display()
            ));
        }
        ConfigCommand::ImportVault { addr, path, token } => {
            let token = token.context("set VAULT_TOKEN to a token that can read the path")?;
            let entries = crate::config::vault::fetch_kv2(&addr, &path, &token, reach).await?;
            let changes = config.import(entries, actor).await?;
            let secrets = changes.iter().filter(|c| c.after.is_secret).count();
            say(&format!(
                "imported {} entries ({secrets} secret) from vault {path}",
                changes.len()
            ));
        }
        ConfigCommand::RotateKey => {
            let rotation = config.rotate_key(actor).await?;
            say(&format!(
                "key ring at version {}; {} secrets re-encrypted",
                rotation.new_version,
                rotation.resealed.len()
            ));
        }
    }
    Ok(())
}

/// Reads an import file as JSON (`.json`, or text starting with `{` / `[`) or `.env`.
fn read_import(file: &Path) -> anyhow::Result<Vec<crate::config::import::ImportEntry>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let is_json =
        file.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with(['{', '[']);
    let entries = if is_json {
        parse_json(&text)
    } else {
        parse_env(&text)
    };
    entries.with_context(|| file.display().to_string())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("reading the value from stdin")?;
    let trimmed = value.strip_suffix('\n').unwrap_or(&value);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

/// Who is acting: `cli:<login>` from `$USER`, or `cli`.
pub(crate) fn actor() -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".into(),
    }
}
