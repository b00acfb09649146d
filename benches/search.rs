//! Search latency over 100k and 400k offers replicated from the real catalogs, for four
//! representative queries. With `GPUBROKER_BENCH_EXPORT=<dir>` set it instead writes the
//! same offers as gpuhunt v2 catalog files plus our result counts, for
//! `scripts/bench-gpuhunt.sh`, and exits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion};
use gpubroker::catalog::Snapshot;
use gpubroker::domain::gpu::{self, Vendor};
use gpubroker::domain::offer::Offer;
use gpubroker::domain::query::Query;
use serde_json::json;

/// Catalog sizes measured.
const SIZES: [usize; 2] = [100_000, 400_000];

/// The measured queries, by short name.
const QUERIES: [(&str, &str); 4] = [
    ("a_gpu_h100", "gpu=H100 sort=price limit=50"),
    (
        "b_price_vram",
        "price_per_gpu<2 vram>=40 sort=-vram limit=50",
    ),
    (
        "c_provider_count",
        "provider in [lambda,runpod] count>=8 sort=value limit=50",
    ),
    ("d_everything", "sort=price limit=50"),
];

fn search(c: &mut Criterion) {
    let rows = common::real_rows();
    let mut group = c.benchmark_group("search");
    for size in SIZES {
        let snapshot = Snapshot::new(common::offers(&rows, size), Vec::new());
        for (name, text) in QUERIES {
            let query = Query::parse(text).expect("query");
            let total = snapshot.search(&query).total;
            eprintln!("{name} over {size}: {total} matches");
            group.bench_with_input(BenchmarkId::new(name, size), &query, |b, q| {
                b.iter(|| black_box(snapshot.search(black_box(q)).offers.len()));
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = search
}

fn main() {
    if let Some(dir) = std::env::var_os("GPUBROKER_BENCH_EXPORT") {
        export_for_gpuhunt(Path::new(&dir));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// gpuhunt only queries its own offline provider names, so our providers are mapped onto
/// them: lambda and runpod to their namesakes, the others spread over the rest.
fn gpuhunt_slot(provider: &str, others: &BTreeSet<&str>) -> &'static str {
    const SPARE: [&str; 7] = ["aws", "azure", "verda", "gcp", "nebius", "oci", "cloudrift"];
    match provider {
        "lambda" => "lambdalabs",
        "runpod" => "runpod",
        p => SPARE[others.iter().position(|o| *o == p).unwrap_or(0) % SPARE.len()],
    }
}

/// Writes `<dir>/<size>/<slot>.csv` (gpuhunt catalog v2), `<dir>/expected.json` (our
/// totals per query and size) and `<dir>/queries.json` (the H100 family's model names).
fn export_for_gpuhunt(dir: &Path) {
    let rows = common::real_rows();
    let mut expected = BTreeMap::new();
    for size in SIZES {
        let offers = common::offers(&rows, size);
        let others: BTreeSet<&str> = offers
            .iter()
            .map(|o| o.provider.as_str())
            .filter(|p| !matches!(*p, "lambda" | "runpod"))
            .collect();
        let mut writers = BTreeMap::new();
        let folder = dir.join(size.to_string());
        std::fs::create_dir_all(&folder).expect("export folder");
        for offer in &offers {
            let slot = gpuhunt_slot(&offer.provider, &others);
            let writer = writers.entry(slot).or_insert_with(|| {
                let mut w = csv::Writer::from_path(folder.join(format!("{slot}.csv"))).unwrap();
                w.write_record(GPUHUNT_V2).unwrap();
                w
            });
            writer.write_record(gpuhunt_row(offer)).unwrap();
        }
        for writer in writers.values_mut() {
            writer.flush().unwrap();
        }
        let snapshot = Snapshot::new(offers, Vec::new());
        let totals: BTreeMap<&str, usize> = QUERIES
            .iter()
            .map(|(name, text)| (*name, snapshot.search(&Query::parse(text).unwrap()).total))
            .collect();
        expected.insert(size.to_string(), totals);
    }
    let h100: Vec<&str> = gpu::registry()
        .iter()
        .filter(|s| gpu::matches_family(s, "H100"))
        .map(|s| s.model)
        .collect();
    let write = |name: &str, value: serde_json::Value| {
        std::fs::write(
            dir.join(name),
            serde_json::to_string_pretty(&value).unwrap(),
        )
        .unwrap();
    };
    write("expected.json", json!(expected));
    write(
        "queries.json",
        json!({ "h100_names": h100, "queries": QUERIES }),
    );
    eprintln!("wrote gpuhunt catalogs to {}", dir.display());
}

const GPUHUNT_V2: [&str; 14] = [
    "instance_name",
    "location",
    "price",
    "cpu",
    "memory",
    "gpu_count",
    "gpu_name",
    "gpu_memory",
    "spot",
    "disk_size",
    "gpu_vendor",
    "flags",
    "cpu_arch",
    "provider_data",
];

/// One offer as a gpuhunt v2 row: canonical GPU model (raw name when unknown), our memory
/// per GPU, the on-demand price, and our provider and total TFLOPS in `provider_data`.
fn gpuhunt_row(offer: &Offer) -> [String; 14] {
    let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
    let vendor = match offer.gpu.map(|g| g.vendor) {
        Some(Vendor::Amd) => "amd",
        Some(Vendor::Intel) => "intel",
        _ => "nvidia",
    };
    let data = json!({ "provider": offer.provider, "tflops": offer.total_tflops() });
    [
        offer.instance_type.clone(),
        offer.region.clone(),
        offer
            .price
            .map(|p| p.as_usd_f64())
            .unwrap_or_default()
            .to_string(),
        offer.vcpus.map_or(0, |v| v.round() as i64).to_string(),
        offer.ram_gb.unwrap_or_default().to_string(),
        offer.gpu_count.to_string(),
        offer.gpu_model().unwrap_or(&offer.gpu_raw).to_owned(),
        opt(offer.gpu_memory_gb),
        "False".to_owned(),
        opt(offer.disk_gb),
        vendor.to_owned(),
        String::new(),
        "x86".to_owned(),
        data.to_string(),
    ]
}
