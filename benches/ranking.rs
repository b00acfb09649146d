//! TOPSIS over 100k offers × 6 criteria (target in `shared/RELIABILITY.md`: ≤ 10 ms): the
//! engine alone on columns taken from the replicated real catalog, and `sort=topsis` end to
//! end (match every offer, gather and impute the columns, score, select the page).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gpubroker::catalog::search::numeric;
use gpubroker::catalog::Snapshot;
use gpubroker::domain::query::{Field, Query};
use gpubroker::domain::ranking::{topsis, Direction};

const SIZE: usize = 100_000;

const CRITERIA: [(Field, Direction); 6] = [
    (Field::Price, Direction::Cost),
    (Field::Tflops, Direction::Benefit),
    (Field::Vram, Direction::Benefit),
    (Field::TotalVram, Direction::Benefit),
    (Field::Vcpus, Direction::Benefit),
    (Field::Ram, Direction::Benefit),
];

fn ranking(c: &mut Criterion) {
    let rows = common::real_rows();
    let offers = common::offers(&rows, SIZE);
    let columns: Vec<Vec<f64>> = CRITERIA
        .iter()
        .map(|(field, _)| {
            offers
                .iter()
                .map(|o| numeric(o, *field).unwrap_or(0.0))
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
    let weights = [0.3, 0.2, 0.15, 0.15, 0.1, 0.1];
    let directions: Vec<Direction> = CRITERIA.iter().map(|(_, d)| *d).collect();
    let mut group = c.benchmark_group("topsis");
    group.bench_function("engine_100k_x6", |b| {
        b.iter(|| black_box(topsis(black_box(&refs), &weights, &directions).unwrap()));
    });

    let snapshot = Snapshot::new(offers, Vec::new());
    let query = Query::parse(
        "sort=topsis weights=price:0.3,tflops:0.2,vram:0.15,total_vram:0.15,vcpus:0.1,ram:0.1 limit=50",
    )
    .unwrap();
    eprintln!("sort=topsis matches {}", snapshot.search(&query).total);
    group.bench_function("search_sort_topsis_100k_x6", |b| {
        b.iter(|| black_box(snapshot.search(black_box(&query)).offers.len()));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = ranking
}
criterion_main!(benches);
