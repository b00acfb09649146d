//! `gpubroker import` and `gpubroker search` through the real binary.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{binary, spawn_app, Backend};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("LOG_LEVEL", "warn")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn every_captured_file_imports_with_every_gpu_resolved_and_searches() {
    let dir = tempfile::tempdir().unwrap();
    let mut csvs: Vec<String> = Vec::new();
    for version in ["v6", "v8"] {
        for entry in std::fs::read_dir(format!("{CATALOGS}/skypilot-catalog/{version}")).unwrap() {
            let path = entry.unwrap().path().join("vms.csv");
            if path.exists() {
                csvs.push(path.to_string_lossy().into_owned());
            }
        }
    }
    let mut args = vec!["import", "skypilot"];
    args.extend(csvs.iter().map(String::as_str));
    let out = stdout(&run(dir.path(), &args));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("skypilot:")).count(),
        11,
        "{out}"
    );
    assert_eq!(out.matches("every GPU resolved").count(), 11, "{out}");
    let vast = stdout(&run(
        dir.path(),
        &[
            "import",
            "vastai",
            &format!("{CATALOGS}/vast-python/search.json"),
        ],
    ));
    assert!(
        vast.contains("vastai: 1396 live offers (added 1396")
            && vast.contains("every GPU resolved"),
        "{vast}"
    );
    let runpod = stdout(&run(
        dir.path(),
        &[
            "import",
            "runpod",
            &format!("{CATALOGS}/runpod-graphql/gpu_prices.json"),
        ],
    ));
    assert!(
        runpod.contains("every GPU resolved") && runpod.contains("offered in neither cloud"),
        "{runpod}"
    );
    let again = stdout(&run(
        dir.path(),
        &[
            "import",
            "vastai",
            &format!("{CATALOGS}/vast-python/search.json"),
        ],
    ));
    assert!(
        again.contains("added 0, changed 0, closed 0, unchanged 1396"),
        "re-import writes nothing: {again}"
    );

    let table = stdout(&run(
        dir.path(),
        &["search", "gpu=H100 sort=price", "--limit", "5"],
    ));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("GPU") && lines[0].contains("$/GPU-H"),
        "{table}"
    );
    assert_eq!(lines.len(), 7, "header, 5 rows, summary: {table}");
    assert!(lines[1..6].iter().all(|l| l.starts_with("H100")), "{table}");

    let json = stdout(&run(
        dir.path(),
        &[
            "search",
            "--json",
            "--limit",
            "3",
            "gpu=A100-80GB count>=8 sort=price_per_gpu",
        ],
    ));
    let offers: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(offers.len(), 3);
    for key in [
        "id",
        "provider",
        "instance_type",
        "region",
        "gpu",
        "gpu_raw",
        "gpu_count",
        "gpu_memory_gb",
        "vcpus",
        "ram_gb",
        "disk_gb",
        "price_per_hour",
        "spot_price_per_hour",
        "price_per_gpu_hour",
        "available",
        "stale",
        "last_seen",
    ] {
        assert!(offers[0].get(key).is_some(), "missing {key}: {}", offers[0]);
    }
    assert!(offers.iter().all(|o| o["gpu_count"].as_u64().unwrap() >= 8));
    assert!(offers[0]["price_per_gpu_hour"].as_f64() <= offers[1]["price_per_gpu_hour"].as_f64());

    let own = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/providers/testdata/offers.csv"
    );
    let imported = stdout(&run(dir.path(), &["import", "file", own]));
    assert!(imported.starts_with("file:offers: "), "{imported}");
    assert!(
        imported.contains("skipped") && imported.contains("line/record"),
        "bad rows are named: {imported}"
    );
    let bad_ext = run(dir.path(), &["import", "file", "offers.txt"]);
    assert!(String::from_utf8_lossy(&bad_ext.stderr).contains(".csv or .json"));

    let none = run(dir.path(), &["search", "gpu=H100 price<0.01"]);
    assert!(stdout(&none).contains("0 of 0 matching offers"));
}

#[test]
fn bad_queries_exit_2_with_the_message_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["search", "gpu=H100 prce<3"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("at position 9") && stderr.contains("did you mean 'price'"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let missing = run(dir.path(), &["import", "vastai", "nope.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.json"));
}

#[tokio::test]
async fn search_can_ask_a_running_server() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let text =
        std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/lambda/vms.csv")).unwrap();
    let report = gpubroker::providers::skypilot::parse(&text, "lambda").unwrap();
    gpubroker::catalog::live::ingest_report(
        &app.state.store,
        Some(&app.state.catalog),
        "skypilot:lambda",
        report,
        1,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = app.base.clone();
    let (ok, bad) = tokio::task::spawn_blocking(move || {
        let ok = run(
            dir.path(),
            &["search", "--server", &base, "--json", "gpu=GH200"],
        );
        let bad = run(
            dir.path(),
            &["search", "--server", &base, "gpu=GH200 colour=red"],
        );
        (ok, bad)
    })
    .await
    .unwrap();
    let offers: Vec<serde_json::Value> = serde_json::from_str(&stdout(&ok)).unwrap();
    assert!(!offers.is_empty());
    assert!(offers
        .iter()
        .all(|o| o["gpu"] == "GH200" && o["provider"] == "lambda"));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown field"));
    app.stop().await.unwrap();
}
