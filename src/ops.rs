//! Operator commands on files: `backup` and `restore`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use anyhow::{bail, Context};

use crate::cli::say;
use crate::store::backup::TableCounts;
use crate::store::Store;

/// Writes a backup to `path` atomically (a temporary file renamed when complete).
pub async fn backup(store: &Store, path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    if store.applied_migration().await? == 0 {
        bail!(
            "the database has no gpubroker schema yet (run `gpubroker migrate` or `serve` first)"
        );
    }
    let partial = path.with_extension("partial");
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = BufWriter::new(file);
    let counts = match store.backup_to(&mut out).await {
        Ok(counts) => counts,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&partial);
            return Err(e).context("writing the backup");
        }
    };
    let file = out.into_inner().context("flushing the backup")?;
    file.sync_all().context("syncing the backup")?;
    std::fs::rename(&partial, path)
        .with_context(|| format!("moving the backup to {}", path.display()))?;
    say(&format!(
        "backup written to {} ({})",
        path.display(),
        summary(&counts)
    ));
    Ok(())
}

/// Restores `path` into `store` (already migrated).
pub async fn restore(store: &Store, path: &Path, force: bool) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let counts = store
        .restore_from(BufReader::new(file), force)
        .await
        .with_context(|| format!("restoring {}", path.display()))?;
    say(&format!(
        "restored {} ({})",
        path.display(),
        summary(&counts)
    ));
    Ok(())
}

fn summary(counts: &TableCounts) -> String {
    let rows: u64 = counts.values().sum();
    format!("{rows} rows in {} tables", counts.len())
}
