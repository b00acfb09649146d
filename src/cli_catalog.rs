//! `gpubroker import` and `gpubroker search`: the catalog from the terminal.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use crate::catalog::live::{ingest_report, Catalog, IngestSummary};
use crate::cli::say;
use crate::domain::query::Query;
use crate::http::offers::OfferSearchResponse;
use crate::providers::source::PriceSource;
use crate::providers::{runpod, skypilot, vastai, ParseReport};
use crate::settings::Settings;
use crate::store::Store;

/// What to import.
#[derive(Debug, Subcommand)]
pub enum ImportKind {
    /// SkyPilot catalog CSV files (`vms.csv`); the provider defaults to the parent folder name.
    Skypilot {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Provider id for every file (default: the file's parent folder, e.g. `lambda`).
        #[arg(long)]
        provider: Option<String>,
    },
    /// A saved Vast.ai bundles search response (JSON).
    Vastai { file: PathBuf },
    /// A saved RunPod GraphQL `gpuTypes` response (JSON).
    Runpod { file: PathBuf },
    /// Your own offers (private or on-prem capacity) as CSV or JSON in GPUBROKER's offer fields.
    File { file: PathBuf },
}

/// `gpubroker search` arguments.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// A query in the catalog query language, e.g. 'gpu=H100 sort=price'.
    #[arg(default_value = "")]
    pub query: String,
    /// Print a JSON array of offers instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Number of offers to show (1–1000) [default: 20, or the query's limit=].
    #[arg(long)]
    pub limit: Option<u32>,
    /// Ask a running server instead of the local data dir, e.g. http://127.0.0.1:10355.
    #[arg(long)]
    pub server: Option<String>,
}

/// A query the parser refused: the process exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadQuery(pub String);

/// Runs `gpubroker import`.
pub async fn import(settings: &Settings, kind: ImportKind) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let jobs: Vec<(String, ParseReport)> = match kind {
        ImportKind::Skypilot { files, provider } => {
            let mut jobs = Vec::new();
            for file in files {
                let cloud = match &provider {
                    Some(p) => p.clone(),
                    None => parent_name(&file)?,
                };
                let report = skypilot::parse(&read(&file)?, &cloud)
                    .with_context(|| file.display().to_string())?;
                jobs.push((format!("skypilot:{cloud}"), report));
            }
            jobs
        }
        ImportKind::Vastai { file } => {
            let report =
                vastai::parse(&read(&file)?).with_context(|| file.display().to_string())?;
            vec![(vastai::PROVIDER.to_owned(), report)]
        }
        ImportKind::Runpod { file } => {
            let report =
                runpod::parse(&read(&file)?).with_context(|| file.display().to_string())?;
            vec![(runpod::PROVIDER.to_owned(), report)]
        }
        ImportKind::File { file } => {
            let format = crate::providers::file::Format::from_path(&file)
                .with_context(|| format!("{}: use a .csv or .json file", file.display()))?;
            let report = crate::providers::file::parse(&read(&file)?, format)
                .with_context(|| file.display().to_string())?;
            let stem = file
                .file_stem()
                .map_or_else(|| "offers".into(), |s| s.to_string_lossy());
            vec![(format!("file:{stem}"), report)]
        }
    };
    for (source, report) in jobs {
        let reasons: Vec<String> = report
            .skipped
            .iter()
            .map(|s| format!("  line/record {}: {}", s.at, s.reason))
            .collect();
        let summary = ingest_report(&store, None, &source, report, 0).await?;
        say(&describe(&summary));
        for reason in reasons.iter().take(20) {
            say(reason);
        }
        if reasons.len() > 20 {
            say(&format!("  … and {} more skipped", reasons.len() - 20));
        }
    }
    store.close().await;
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn parent_name(file: &Path) -> anyhow::Result<String> {
    let name = file
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str());
    match name {
        Some(n) if !n.is_empty() && n != "." => Ok(n.to_owned()),
        _ => bail!(
            "cannot tell the provider of {}: pass --provider NAME",
            file.display()
        ),
    }
}

/// One line describing an import.
fn describe(s: &IngestSummary) -> String {
    let unknown = if s.unknown_gpus.is_empty() {
        "every GPU resolved".to_owned()
    } else {
        let names: Vec<String> = s
            .unknown_gpus
            .iter()
            .map(|(n, c)| format!("{n} ×{c}"))
            .collect();
        format!("unknown GPUs kept and flagged: {}", names.join(", "))
    };
    format!(
        "{}: {} live offers (added {}, changed {}, closed {}, unchanged {}); skipped {}, CPU-only {}, duplicates {}; {unknown}",
        s.source, s.live, s.added, s.changed, s.closed, s.unchanged, s.skipped, s.cpu_only, s.duplicates
    )
}

/// Runs `gpubroker search`.
pub async fn search(settings: &Settings, args: SearchArgs) -> anyhow::Result<()> {
    let query = Query::parse(&args.query).map_err(|e| BadQuery(e.to_string()))?;
    let limit = args.limit.or(query.limit).unwrap_or(20);
    if !(1..=crate::domain::query::MAX_LIMIT).contains(&limit) {
        return Err(BadQuery(format!(
            "--limit must be from 1 to {}",
            crate::domain::query::MAX_LIMIT
        ))
        .into());
    }
    let page = match &args.server {
        Some(server) => remote(server, &args.query, limit).await?,
        None => local(settings, &query, limit).await?,
    };
    if args.json {
        say(&serde_json::to_string_pretty(&page.offers)?);
    } else {
        print_table(&page);
    }
    Ok(())
}

async fn local(
    settings: &Settings,
    query: &Query,
    limit: u32,
) -> anyhow::Result<OfferSearchResponse> {
    let store = Store::connect(&settings.database)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    if settings
        .sources
        .contains(&crate::settings::SourceSpec::Demo)
    {
        // The demo market is computed in-process: refresh it so a fresh install has a market.
        let demo = crate::providers::demo::DemoSource::default();
        let report = crate::providers::source::PriceSource::fetch(&demo).await?;
        ingest_report(&store, None, demo.id(), report, 0).await?;
    }
    let catalog = Catalog::default();
    catalog.reload(&store).await?;
    let windows = crate::providers::configured_sources(settings)
        .iter()
        .map(|s| (s.id().to_owned(), s.policy().stale_after))
        .collect();
    catalog.refresh_freshness(&store, &windows).await?;
    store.close().await;
    Ok(crate::http::offers::search_response(
        &catalog,
        query,
        0,
        limit as usize,
    ))
}

async fn remote(server: &str, query: &str, limit: u32) -> anyhow::Result<OfferSearchResponse> {
    let url = format!("{}/api/v2/offers", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .query(&[("q", query), ("limit", &limit.to_string())])
        .send()
        .await
        .with_context(|| format!("contacting {url}"))?;
    let status = response.status();
    if status.is_success() {
        return response.json().await.context("reading the server's answer");
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("request failed")
        .to_owned();
    if status.as_u16() == 400 {
        return Err(BadQuery(message).into());
    }
    bail!("{url} answered {status}: {message}")
}

fn print_table(page: &OfferSearchResponse) {
    for warning in &page.warnings {
        eprintln!("warning: {}", warning.message);
    }
    let money = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"));
    let ranked = page.ranking.is_some();
    let rows: Vec<Vec<String>> = page
        .offers
        .iter()
        .map(|o| {
            let mut row = vec![
                o.gpu.clone().unwrap_or_else(|| format!("?{}", o.gpu_raw)),
                o.gpu_count.to_string(),
                o.gpu_memory_gb
                    .map_or_else(|| "-".to_owned(), |m| format!("{m:.0}")),
                o.provider.clone(),
                o.region.chars().take(24).collect(),
                money(o.price_per_hour),
                money(o.price_per_gpu_hour),
                money(o.spot_price_per_hour),
                format!(
                    "{}{}",
                    o.availability,
                    if o.stale { " (stale)" } else { "" }
                ),
            ];
            if ranked {
                row.push(
                    o.score
                        .map_or_else(|| "-".to_owned(), |s| format!("{s:.4}")),
                );
            }
            row
        })
        .collect();
    let mut header = vec![
        "GPU",
        "N",
        "VRAM",
        "PROVIDER",
        "REGION",
        "$/H",
        "$/GPU-H",
        "SPOT",
        "AVAILABILITY",
    ];
    if ranked {
        header.push("SCORE");
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    say(&line(
        &header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(),
    ));
    for row in &rows {
        say(&line(row));
    }
    say(&format!(
        "{} of {} matching offers ({})",
        rows.len(),
        page.total,
        page.query
    ));
    if let Some(ranking) = &page.ranking {
        let criteria: Vec<String> = ranking
            .criteria
            .iter()
            .map(|c| {
                let missing = if c.missing > 0 && c.missing >= page.total {
                    ", no offer has a value: no effect".to_owned()
                } else if c.missing > 0 {
                    format!(", {} without a value given the mean", c.missing)
                } else {
                    String::new()
                };
                format!("{} {:.2} ({:?}{missing})", c.name, c.weight, c.direction).to_lowercase()
            })
            .collect();
        if criteria.is_empty() {
            say(&format!(
                "ranked by {} (SCORE: USD per 1M output tokens)",
                ranking.method
            ));
        } else {
            say(&format!(
                "ranked by {}: {}",
                ranking.method,
                criteria.join("; ")
            ));
        }
        for e in &ranking.excluded {
            say(&format!("left out: {} offers ({})", e.offers, e.reason));
        }
    }
}
