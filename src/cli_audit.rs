//! `gpubroker audit`: verify, checkpoint and list the tamper-evident audit log.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use crate::cli::say;
use crate::domain::audit::{format_at, AuditCheckpoint};
use crate::settings::Settings;
use crate::store::Store;

/// What to do with the audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exit status 1 naming the first problem when it is broken.
    Verify {
        /// Also compare with a checkpoint exported by `gpubroker audit checkpoint --export`.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
    },
    /// Record the current head of a chain that verifies, print it as JSON and optionally
    /// export it to FILE (keep that file outside the database host).
    Checkpoint {
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
    /// Print entries, oldest first: seq, time, actor, action, target, detail.
    List {
        /// Number of entries to show (1–10000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// Show entries after this seq [default: the newest LIMIT entries].
        #[arg(long)]
        after: Option<i64>,
    },
}

/// The chain does not verify: the process exits with status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChainBroken(pub String);

/// Runs `gpubroker audit`.
pub async fn audit(settings: &Settings, command: AuditCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let result = match command {
        AuditCommand::Verify { checkpoint } => verify(&store, checkpoint.as_deref()).await,
        AuditCommand::Checkpoint { export } => checkpoint(&store, export.as_deref()).await,
        AuditCommand::List { limit, after } => list(&store, limit, after).await,
    };
    store.close().await;
    result
}

async fn verify(store: &Store, file: Option<&Path>) -> anyhow::Result<()> {
    let exported = file.map(read_checkpoint).transpose()?;
    let report = store.audit_verify(exported.as_ref()).await?;
    match report.problems.first() {
        None => {
            say(&format!(
                "audit chain intact: {} entries, head {}",
                report.entries, report.head.hash
            ));
            Ok(())
        }
        Some(first) => {
            let more = report.problem_count - 1;
            let more = if more > 0 {
                format!(" ({more} more problems)")
            } else {
                String::new()
            };
            Err(ChainBroken(format!(
                "audit chain broken after reading {} entries: {first}{more}",
                report.entries
            ))
            .into())
        }
    }
}

async fn checkpoint(store: &Store, export: Option<&Path>) -> anyhow::Result<()> {
    let report = store.audit_verify(None).await?;
    if let Some(first) = report.problems.first() {
        return Err(ChainBroken(format!(
            "refusing to checkpoint a broken audit chain: {first}"
        ))
        .into());
    }
    let cp = store.audit_checkpoint().await?;
    let json = serde_json::to_string_pretty(&cp)?;
    if let Some(path) = export {
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    say(&json);
    Ok(())
}

async fn list(store: &Store, limit: i64, after: Option<i64>) -> anyhow::Result<()> {
    let after = match after {
        Some(after) => after,
        None => (store.audit_head().await?.seq - limit).max(0),
    };
    for entry in store.audit_list(after, limit).await? {
        say(&format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            entry.seq,
            format_at(entry.at),
            entry.actor,
            entry.action,
            entry.target.as_deref().unwrap_or("-"),
            crate::domain::audit::canonical_json(&entry.detail)
        ));
    }
    Ok(())
}

fn read_checkpoint(path: &Path) -> anyhow::Result<AuditCheckpoint> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a checkpoint", path.display()))
}
