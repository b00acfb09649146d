//! File source: the CSV and JSON fixtures, column rules, bad rows, and fetching from disk.

use super::*;
use crate::domain::offer::Offer;

const CSV: &str = include_str!("../testdata/offers.csv");
const JSON: &str = include_str!("../testdata/offers.json");

fn reasons(report: &ParseReport) -> Vec<(usize, &str)> {
    let skipped = report.skipped.iter();
    skipped.map(|s| (s.at, s.reason.as_str())).collect()
}

#[test]
fn the_csv_fixture_parses_exactly_keeps_extras_and_reports_bad_rows() {
    let report = parse_csv(CSV).unwrap();
    assert_eq!(report.offers.len(), 4);
    let dgx = &report.offers[0];
    assert_eq!(
        (dgx.provider.as_str(), dgx.zone.as_deref()),
        ("acme-onprem", Some("hall-a"))
    );
    assert_eq!((dgx.gpu_name.as_str(), dgx.gpu_count), ("H100 SXM5", 8));
    assert_eq!(dgx.gpu_memory_mib, Some(80 * 1024));
    assert_eq!(
        (dgx.vcpus, dgx.ram_gb, dgx.disk_gb),
        (Some(224.0), Some(2048.0), Some(30720.0))
    );
    assert_eq!(dgx.price, Some(MicroUsd(19_200_000)));
    assert_eq!(dgx.availability, Availability::Available);
    assert_eq!(dgx.extras["notes"], "reserved Fridays, ask ops");
    assert_eq!(dgx.extras["rack"], "A12");
    let l40s = &report.offers[1];
    assert_eq!(
        (l40s.spot_price, l40s.availability),
        (Some(MicroUsd(2_100_000)), Availability::Limited)
    );
    assert!(
        !l40s.extras.contains_key("notes"),
        "empty cells are not extras"
    );
    assert_eq!(
        report.offers[2].availability,
        Availability::Unknown,
        "default"
    );
    let mi300x = &report.offers[3];
    assert_eq!(
        (mi300x.price, mi300x.spot_price),
        (None, Some(MicroUsd(14_000_000)))
    );
    assert_eq!(
        mi300x.availability,
        Availability::Unavailable,
        "case-insensitive"
    );
    let skipped = reasons(&report);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, 6);
    assert!(skipped[0].1.contains("gpu_count"), "{skipped:?}");
    assert_eq!(skipped[1].0, 7);
    assert!(skipped[1].1.contains("no price"), "{skipped:?}");
    for offer in report.offers {
        let offer = Offer::normalize(offer, "file:offers");
        assert!(offer.gpu.is_some(), "{}", offer.gpu_raw);
    }
}

#[test]
fn the_json_fixture_parses_numbers_strings_and_reports_bad_records() {
    let report = parse_json(JSON).unwrap();
    assert_eq!(report.offers.len(), 3);
    let dgx = &report.offers[0];
    assert_eq!(dgx.price, Some(MicroUsd(19_200_000)));
    assert_eq!(
        dgx.extras["interconnect"],
        serde_json::json!(["nvlink", "infiniband"])
    );
    assert_eq!(report.offers[1].zone, None, "null is absent");
    let h200 = &report.offers[2];
    assert_eq!((h200.gpu_count, h200.price), (2, Some(MicroUsd(7_980_000))));
    let skipped = reasons(&report);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, 4);
    assert!(skipped[0].1.contains("whole number"), "{skipped:?}");
    assert_eq!(skipped[1].0, 5);
    assert!(skipped[1].1.contains("expected an object"), "{skipped:?}");
    let bare = format!(
        "[{}]",
        r#"{"provider":"p","instance_type":"i","region":"r","gpu":"L4","gpu_count":1,"price_per_hour":0.5}"#
    );
    assert_eq!(parse_json(&bare).unwrap().offers.len(), 1, "a bare array");
    for offer in report.offers {
        assert!(Offer::normalize(offer, "file:offers").gpu.is_some());
    }
}

#[test]
fn csv_columns_may_come_in_any_order_and_case() {
    let csv = "Price_Per_Hour,GPU,gpu_count,Region,instance_type,provider,colour\r\n\
               2.49,A100,1,lab,box-1,acme,blue\r\n";
    let report = parse_csv(csv).unwrap();
    let offer = &report.offers[0];
    assert_eq!(
        (offer.price, offer.gpu_name.as_str()),
        (Some(MicroUsd(2_490_000)), "A100")
    );
    assert_eq!(
        (offer.region.as_str(), offer.provider.as_str()),
        ("lab", "acme")
    );
    assert_eq!(offer.extras["colour"], "blue");
}

#[test]
fn missing_or_duplicate_columns_refuse_the_file_naming_the_column() {
    let err = parse_csv("provider,instance_type,region,gpu_count,price_per_hour\n").unwrap_err();
    assert_eq!(err, FileError::MissingColumn("gpu".into()));
    assert!(err.to_string().contains("gpu"));
    let no_price = parse_csv("provider,instance_type,region,gpu,gpu_count\n").unwrap_err();
    assert!(
        no_price.to_string().contains("price_per_hour"),
        "{no_price}"
    );
    let twice = "provider,instance_type,region,gpu,gpu_count,price_per_hour,GPU\n";
    assert_eq!(
        parse_csv(twice).unwrap_err(),
        FileError::DuplicateColumn("gpu".into())
    );
}

#[test]
fn every_kind_of_bad_row_is_skipped_with_its_line_and_reason() {
    let csv = "provider,instance_type,region,gpu,gpu_count,price_per_hour,spot_price_per_hour,availability,vcpus\n\
        acme,a,r,L4,1,-1,,,\n\
        acme,b,r,L4,1,abc,,,\n\
        acme,c,r,L4,1,0.5,,soon,\n\
        acme,d,r,,1,0.5,,,\n\
        acme,e,r,L4,1,0.5,,,many\n\
        acme,f,r,L4,1\n\
        acme,g,r,L4,8.0,0.5,0.25,,\n";
    let report = parse_csv(csv).unwrap();
    assert_eq!(report.offers.len(), 1);
    assert_eq!(report.offers[0].gpu_count, 8, "8.0 is a whole number");
    let skipped = reasons(&report);
    let lines: Vec<usize> = skipped.iter().map(|s| s.0).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7]);
    let expect = [
        "positive price",
        "positive price",
        "availability",
        "no gpu",
        "vcpus",
        "unreadable",
    ];
    for ((_, reason), want) in skipped.iter().zip(expect) {
        assert!(reason.contains(want), "{reason:?} should mention {want:?}");
    }
}

#[test]
fn json_documents_of_the_wrong_shape_are_refused() {
    assert_eq!(parse_json(r#"{"items": []}"#), Err(FileError::Shape));
    assert_eq!(parse_json("3"), Err(FileError::Shape));
    assert!(matches!(parse_json("[{"), Err(FileError::Json(_))));
    let wrong_type = r#"[{"provider":7,"instance_type":"i","region":"r","gpu":"L4","gpu_count":1,"price_per_hour":1}]"#;
    let skipped = parse_json(wrong_type).unwrap().skipped;
    assert!(
        skipped[0].reason.contains("provider must be text"),
        "{skipped:?}"
    );
}

#[tokio::test]
async fn the_source_reads_the_file_on_every_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("onprem.csv");
    std::fs::write(&path, CSV).unwrap();
    let source = FileSource::new(&path, SourcePolicy::catalog()).unwrap();
    assert_eq!(source.id(), "file:onprem");
    assert_eq!(source.fetch().await.unwrap().offers.len(), 4);
    let first_two: String = CSV.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, first_two).unwrap();
    assert_eq!(source.fetch().await.unwrap().offers.len(), 2);
    std::fs::write(&path, "nonsense\n").unwrap();
    assert!(matches!(source.fetch().await, Err(SourceError::Parse(_))));
    std::fs::remove_file(&path).unwrap();
    let missing = source.fetch().await.unwrap_err();
    assert!(matches!(missing, SourceError::Config(_)) && !missing.is_retryable());
    let json = FileSource::new(dir.path().join("x.JSON"), SourcePolicy::catalog()).unwrap();
    assert_eq!(json.id(), "file:x");
    let txt = FileSource::new("offers.txt", SourcePolicy::catalog()).unwrap_err();
    assert!(matches!(txt, FileError::UnknownFormat(_)));
}
