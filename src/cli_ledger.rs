//! `gpubroker ledger verify`: checks the ledger invariants I1–I5 on the live database.

use anyhow::Context;
use clap::Subcommand;

use crate::cli::say;
use crate::settings::Settings;
use crate::store::Store;

/// What to do with the ledger.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Check I1–I5 (balanced transactions, debits = credits, cached balances, no negative
    /// wallet, entries unchanged since posting); exit status 1 on any breach.
    Verify {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The ledger breaks an invariant: the process exits with status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LedgerBreach(pub String);

/// Runs `gpubroker ledger`.
pub async fn run(settings: &Settings, command: LedgerCommand) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let result = match command {
        LedgerCommand::Verify { json } => verify(&store, json).await,
    };
    store.close().await;
    result
}

async fn verify(store: &Store, json: bool) -> anyhow::Result<()> {
    let report = store
        .ledger_verify()
        .await
        .context("verifying the ledger")?;
    if json {
        say(&serde_json::to_string_pretty(&report)?);
    } else {
        say(&report.to_string());
    }
    if report.is_clean() {
        Ok(())
    } else {
        Err(LedgerBreach(format!(
            "ledger verification failed: {} problems",
            report.problems.len()
        ))
        .into())
    }
}
