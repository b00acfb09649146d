//! Benchmark data: the real catalog rows (every SkyPilot `vms.csv` under
//! `shared/data/catalogs`, the Vast.ai search capture and the RunPod GraphQL capture), read
//! with the product's own parsers and replicated with distinct regions to any size.

// Each bench binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use gpubroker::domain::offer::{Offer, RawOffer};
use gpubroker::providers::{runpod, skypilot, vastai};

/// The copied real catalogs, beside the repository.
pub const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

/// Every `vms.csv` under the SkyPilot catalog copy, with its cloud (the folder name).
fn skypilot_files() -> Vec<(String, PathBuf)> {
    let root = Path::new(CATALOGS).join("skypilot-catalog");
    let mut files = Vec::new();
    for version in fs::read_dir(&root).expect("skypilot-catalog folder") {
        let version = version.expect("catalog entry").path();
        for cloud in fs::read_dir(&version).expect("version folder") {
            let dir = cloud.expect("cloud entry").path();
            let file = dir.join("vms.csv");
            if file.is_file() {
                let name = dir.file_name().expect("cloud name").to_string_lossy();
                files.push((name.into_owned(), file));
            }
        }
    }
    files.sort();
    files
}

/// The real rows, in a fixed order. Spot-only rows are left out so that every row has an
/// on-demand price (gpuhunt's items need one), which keeps the side-by-side data identical.
pub fn real_rows() -> Vec<RawOffer> {
    let read = |p: &Path| fs::read_to_string(p).expect("catalog file");
    let mut rows = Vec::new();
    for (cloud, file) in skypilot_files() {
        rows.extend(
            skypilot::parse(&read(&file), &cloud)
                .expect("vms.csv")
                .offers,
        );
    }
    let vast = read(&Path::new(CATALOGS).join("vast-python/search.json"));
    rows.extend(vastai::parse(&vast).expect("search.json").offers);
    let runpod = read(&Path::new(CATALOGS).join("runpod-graphql/gpu_prices.json"));
    rows.extend(runpod::parse(&runpod).expect("gpu_prices.json").offers);
    rows.retain(|r| r.price.is_some());
    rows
}

/// `n` rows: copy `k` of every real row gets region `"{region}-r{k}"`, so ids stay distinct.
pub fn replicate(rows: &[RawOffer], n: usize) -> Vec<RawOffer> {
    (0..)
        .flat_map(|k| {
            rows.iter().map(move |r| RawOffer {
                region: format!("{}-r{k}", r.region),
                ..r.clone()
            })
        })
        .take(n)
        .collect()
}

/// `n` normalised offers; each offer's source is its provider.
pub fn offers(rows: &[RawOffer], n: usize) -> Vec<Offer> {
    replicate(rows, n)
        .into_iter()
        .map(|raw| {
            let source = raw.provider.clone();
            Offer::normalize(raw, &source)
        })
        .collect()
}
