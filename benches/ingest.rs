//! Ingest throughput: parse and normalise 100k offers from SkyPilot `vms.csv` text (the
//! real catalog rows replicated with distinct regions, written back as one CSV per
//! provider). Persistence is measured separately.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use gpubroker::domain::offer::{Offer, RawOffer};
use gpubroker::providers::skypilot;

/// Offers parsed per iteration.
const SIZE: usize = 100_000;

const HEADER: [&str; 11] = [
    "InstanceType",
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "StorageGiB",
    "GpuInfo",
    "Region",
    "AvailabilityZone",
    "Price",
    "SpotPrice",
];

/// The offers as SkyPilot catalogs per provider, `GpuInfo` as a Python dict repr.
fn catalogs(offers: &[RawOffer]) -> BTreeMap<String, String> {
    let mut writers: BTreeMap<&str, csv::Writer<Vec<u8>>> = BTreeMap::new();
    for o in offers {
        let w = writers.entry(&o.provider).or_insert_with(|| {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(HEADER).unwrap();
            w
        });
        let info = o.gpu_memory_mib.map_or_else(String::new, |mib| {
            let name = o.gpu_name.replace('\'', "");
            format!(
                "{{'Gpus': [{{'Name': '{name}', 'Count': {}.0, 'MemoryInfo': {{'SizeInMiB': {mib}}}}}], 'TotalGpuMemoryInMiB': {}}}",
                o.gpu_count,
                mib * u64::from(o.gpu_count)
            )
        });
        let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        let usd = |p: Option<gpubroker::domain::money::MicroUsd>| {
            p.map(|p| format!("{}", p.as_usd_f64())).unwrap_or_default()
        };
        w.write_record([
            o.instance_type.clone(),
            o.gpu_name.clone(),
            format!("{}.0", o.gpu_count),
            num(o.vcpus),
            num(o.ram_gb),
            num(o.disk_gb),
            info,
            o.region.clone(),
            o.zone.clone().unwrap_or_default(),
            usd(o.price),
            usd(o.spot_price),
        ])
        .unwrap();
    }
    writers
        .into_iter()
        .map(|(p, w)| {
            (
                p.to_owned(),
                String::from_utf8(w.into_inner().unwrap()).unwrap(),
            )
        })
        .collect()
}

fn parse_and_normalize(catalogs: &BTreeMap<String, String>) -> Vec<Offer> {
    let mut offers = Vec::with_capacity(SIZE);
    for (provider, text) in catalogs {
        let report = skypilot::parse(text, provider).unwrap();
        offers.extend(
            report
                .offers
                .into_iter()
                .map(|r| Offer::normalize(r, provider)),
        );
    }
    offers
}

fn ingest(c: &mut Criterion) {
    let rows = common::real_rows();
    let catalogs = catalogs(&common::replicate(&rows, SIZE));
    let bytes: usize = catalogs.values().map(String::len).sum();
    assert_eq!(
        parse_and_normalize(&catalogs).len(),
        SIZE,
        "every row parses"
    );
    eprintln!(
        "{SIZE} offers in {} CSV files, {bytes} bytes",
        catalogs.len()
    );
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(SIZE as u64));
    group.bench_function("skypilot_parse_normalize_100k", |b| {
        b.iter(|| black_box(parse_and_normalize(black_box(&catalogs)).len()));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    targets = ingest
}
criterion_main!(benches);
