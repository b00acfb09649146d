//! SkyPilot CSV parsing: synthetic edge cases and every real catalog file.

use super::*;

const CATALOGS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/catalogs/skypilot-catalog"
);

#[test]
fn tolerant_parsing_of_order_crlf_repr_json_counts_spot_only_and_cpu_rows() {
    let csv = "Region,Price,SpotPrice,AcceleratorCount,AcceleratorName,InstanceType,GpuInfo,vCPUs,MemoryGiB\r\n\
        us-east-1,24.72,,8.0,H100,gpu_8x_h100_sxm5,\"{'Gpus': [{'Name': 'H100', 'Count': 8.0, 'MemoryInfo': {'SizeInMiB': 81920}}], 'TotalGpuMemoryInMiB': 655360}\",208,1800\r\n\
        Zürich,,0.44,1,L4,l4.spot,\"{\"\"Gpus\"\": [{\"\"Name\"\": \"\"L4\"\"}], \"\"TotalGpuMemoryInMiB\"\": 24576}\",8,32\r\n\
        eu-west,0.2,,,,cpu_4x,,4,16\r\n\
        eu-west,1.0,,two,A10,bad,,4,16\r\n\
        eu-west,,,1,A10,free,,4,16";
    let report = parse(csv, "lambda").unwrap();
    assert_eq!(report.cpu_only, 1);
    assert_eq!(report.offers.len(), 2);
    let h100 = &report.offers[0];
    assert_eq!(
        (h100.gpu_name.as_str(), h100.gpu_count, h100.gpu_memory_mib),
        ("H100", 8, Some(81920))
    );
    assert_eq!(h100.price, Some(MicroUsd(24_720_000)));
    assert_eq!(h100.spot_price, None);
    assert_eq!((h100.vcpus, h100.ram_gb), (Some(208.0), Some(1800.0)));
    let l4 = &report.offers[1];
    assert_eq!(l4.region, "Zürich", "non-ASCII regions survive");
    assert_eq!(
        (l4.price, l4.spot_price),
        (None, Some(MicroUsd(440_000))),
        "spot-only row"
    );
    assert_eq!(
        l4.gpu_memory_mib,
        Some(24576),
        "JSON GpuInfo, memory from the total"
    );
    let reasons: Vec<(usize, &str)> = report
        .skipped
        .iter()
        .map(|s| (s.at, s.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, 5);
    assert!(reasons[0].1.contains("AcceleratorCount"), "{reasons:?}");
    assert!(reasons[1].1.contains("no price"), "{reasons:?}");
}

#[test]
fn no_trailing_newline_and_missing_columns() {
    let report = parse(
        "InstanceType,AcceleratorName,AcceleratorCount,Region,Price\nx,A100,1,r,1.5",
        "c",
    )
    .unwrap();
    assert_eq!(report.offers.len(), 1);
    let err = parse("Name,Price\nx,1", "c").unwrap_err().to_string();
    assert!(err.contains("InstanceType"), "{err}");
}

/// Every real catalog file parses; every GPU row becomes an offer or a reasoned skip.
#[test]
fn every_real_catalog_file_parses() {
    let mut files = 0;
    for version in std::fs::read_dir(CATALOGS).unwrap() {
        for cloud in std::fs::read_dir(version.unwrap().path()).unwrap() {
            let path = cloud.unwrap().path().join("vms.csv");
            if !path.exists() {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let provider = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            let report =
                parse(&text, provider).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let rows = text.lines().count() - 1;
            assert_eq!(
                report.offers.len() + report.skipped.len() + report.cpu_only,
                rows,
                "{}: every row is accounted for",
                path.display()
            );
            assert!(!report.offers.is_empty(), "{}", path.display());
            for skip in &report.skipped {
                assert!(
                    skip.reason.contains("no price"),
                    "{}: unexpected skip {skip:?}",
                    path.display()
                );
            }
            for offer in &report.offers {
                assert!(offer.gpu_count >= 1 && offer.price.or(offer.spot_price).is_some());
            }
        }
    }
    assert_eq!(files, 11, "all SkyPilot vms.csv files were found");
}

#[test]
fn lambda_rate_card_has_the_expected_h100_price() {
    let text = std::fs::read_to_string(format!("{CATALOGS}/v8/lambda/vms.csv")).unwrap();
    let report = parse(&text, "lambda").unwrap();
    assert_eq!(
        report.cpu_only,
        408 - 374 - report.skipped.len(),
        "CPU rows counted"
    );
    let h100 = report
        .offers
        .iter()
        .find(|o| o.instance_type == "gpu_8x_h100_sxm5")
        .unwrap();
    assert_eq!(h100.gpu_count, 8);
    assert!(h100.price.unwrap().0 > 10_000_000, "{:?}", h100.price);
}
