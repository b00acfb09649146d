//! Normalisation: GPU resolution with hints, locations, ids and derived metrics.

use super::*;
use crate::providers::{runpod, skypilot, vastai};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

fn raw(
    provider: &str,
    instance_type: &str,
    region: &str,
    gpu: &str,
    count: u32,
    price: i64,
) -> RawOffer {
    RawOffer {
        provider: provider.into(),
        instance_type: instance_type.into(),
        region: region.into(),
        zone: None,
        gpu_name: gpu.into(),
        gpu_count: count,
        gpu_memory_mib: None,
        vcpus: None,
        ram_gb: None,
        disk_gb: None,
        price: Some(MicroUsd(price)),
        spot_price: None,
        availability: Availability::Available,
        extras: Map::new(),
    }
}

#[test]
fn instance_type_hints_pick_the_form_factor_and_derived_metrics_follow() {
    let offer = Offer::normalize(
        raw(
            "lambda",
            "gpu_8x_h100_sxm5",
            "us-east-1",
            "H100",
            8,
            23_920_000,
        ),
        "skypilot",
    );
    assert_eq!(offer.gpu_model(), Some("H100-SXM"));
    assert_eq!(offer.gpu_raw, "H100");
    assert_eq!(
        (offer.country.as_deref(), offer.continent),
        (Some("US"), Some("NA"))
    );
    assert_eq!(offer.price_per_gpu(), Some(MicroUsd(2_990_000)));
    assert_eq!(
        offer.gpu_memory_gb,
        Some(80.0),
        "from the registry when the provider does not say"
    );
    assert_eq!(offer.total_vram_gb(), Some(640.0));
    let tflops = offer.total_tflops().unwrap();
    assert!((tflops - 8.0 * offer.gpu.unwrap().bf16_tflops).abs() < 1e-9);
    assert!((offer.value().unwrap() - 23.92 / tflops).abs() < 1e-12);
    assert!(offer.is_available());
}

#[test]
fn unknown_gpus_are_kept_and_flagged_not_guessed() {
    let offer = Offer::normalize(raw("file", "box", "lab", "H10", 1, 1_000_000), "file");
    assert_eq!(offer.gpu, None);
    assert_eq!(offer.gpu_raw, "H10");
    assert_eq!(
        (offer.total_tflops(), offer.value(), offer.gpu_memory_gb),
        (None, None, None)
    );
}

#[test]
fn ids_are_stable_url_safe_and_distinct_per_region_and_zone() {
    let a = offer_id("lambda", "gpu_1x_a10", "us-east-1", None);
    assert_eq!(a, offer_id("lambda", "gpu_1x_a10", "us-east-1", None));
    assert_ne!(a, offer_id("lambda", "gpu_1x_a10", "us-west-1", None));
    assert_ne!(a, offer_id("lambda", "gpu_1x_a10", "us-east-1", Some("a")));
    assert!(a.starts_with("lambda-") && a.len() == "lambda-".len() + 16);
    let odd = offer_id("My Cloud!", "x", "y", None);
    assert!(
        odd.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{odd}"
    );
}

/// Every offer in every captured catalog resolves to a registry model (RunPod's literal
/// `unknown` GPU type excepted), and ids are unique within each file.
#[test]
fn every_captured_offer_normalises_with_a_known_gpu() {
    let mut reports = Vec::new();
    for path in [
        "v6/fluidstack",
        "v6/paperspace",
        "v6/runpod",
        "v8/hyperbolic",
        "v8/jarvislabs",
        "v8/lambda",
        "v8/lium",
        "v8/mithril",
        "v8/seeweb",
        "v8/shadeform",
        "v8/vast",
    ] {
        let text =
            std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/{path}/vms.csv")).unwrap();
        let cloud = path.rsplit('/').next().unwrap();
        reports.push((path.to_owned(), skypilot::parse(&text, cloud).unwrap()));
    }
    let vast = std::fs::read_to_string(format!("{CATALOGS}/vast-python/search.json")).unwrap();
    reports.push(("vastai".into(), vastai::parse(&vast).unwrap()));
    let runpod =
        std::fs::read_to_string(format!("{CATALOGS}/runpod-graphql/gpu_prices.json")).unwrap();
    reports.push(("runpod".into(), runpod::parse(&runpod).unwrap()));
    let mut unresolved = Vec::new();
    for (name, report) in reports {
        let mut ids = std::collections::HashSet::new();
        for raw in report.offers {
            let offer = Offer::normalize(raw, &name);
            if offer.gpu.is_none() && offer.gpu_raw != "unknown" {
                unresolved.push(format!(
                    "{name}: {} ({})",
                    offer.gpu_raw, offer.instance_type
                ));
            }
            assert!(
                ids.insert(offer.id.clone()),
                "{name}: duplicate id for {} {}",
                offer.instance_type,
                offer.region
            );
        }
    }
    assert!(
        unresolved.is_empty(),
        "unresolved GPU names:\n{}",
        unresolved.join("\n")
    );
}

#[test]
fn memory_stated_for_all_gpus_is_divided_per_gpu() {
    let mut four = raw(
        "vast",
        "4x-L40S-32-65536",
        "Japan, JP, AS",
        "L40S",
        4,
        2_400_000,
    );
    four.gpu_memory_mib = Some(4 * 46_068);
    assert_eq!(
        Offer::normalize(four, "skypilot:vast").gpu_memory_gb,
        Some(45.0)
    );
    let mut eight = raw("lambda", "gpu_8x_h100_sxm5", "us-east-1", "H100", 8, 1);
    eight.gpu_memory_mib = Some(81_920);
    assert_eq!(
        Offer::normalize(eight, "skypilot:lambda").gpu_memory_gb,
        Some(80.0),
        "a per-GPU figure is kept"
    );
}
