//! Search over a snapshot built from the captured provider data.

use std::sync::Arc;

use super::*;
use crate::domain::money::MicroUsd;
use crate::domain::query::{Field, Query};
use crate::providers::{skypilot, vastai};

const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

fn snapshot(stale: &[&str]) -> Arc<Snapshot> {
    let mut offers = Vec::new();
    for (path, cloud) in [
        ("v8/lambda", "lambda"),
        ("v6/runpod", "runpod"),
        ("v8/shadeform", "shadeform"),
        ("v8/lium", "lium"),
    ] {
        let text =
            std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/{path}/vms.csv")).unwrap();
        let report = skypilot::parse(&text, cloud).unwrap();
        offers.extend(
            report
                .offers
                .into_iter()
                .map(|r| Offer::normalize(r, &format!("skypilot:{cloud}"))),
        );
    }
    let vast = std::fs::read_to_string(format!("{CATALOGS}/vast-python/search.json")).unwrap();
    offers.extend(
        vastai::parse(&vast)
            .unwrap()
            .offers
            .into_iter()
            .map(|r| Offer::normalize(r, "vastai")),
    );
    Snapshot::new(offers, stale.iter().map(|s| (*s).to_owned()).collect())
}

fn search<'a>(snapshot: &'a Snapshot, text: &str) -> SearchPage<'a> {
    snapshot.search(&Query::parse(text).unwrap())
}

#[test]
fn gpu_family_search_finds_every_form_factor_sorted_by_price() {
    let snap = snapshot(&[]);
    let page = search(&snap, "gpu=H100 sort=price limit=1000");
    assert!(page.total > 50, "{}", page.total);
    assert_eq!(page.offers.len(), page.total);
    let models: std::collections::BTreeSet<&str> =
        page.offers.iter().filter_map(|o| o.gpu_model()).collect();
    assert!(models.iter().all(|m| m.starts_with("H100")), "{models:?}");
    assert!(
        models.len() >= 3,
        "SXM, PCIe and NVL offers are all H100: {models:?}"
    );
    let prices: Vec<f64> = page
        .offers
        .iter()
        .filter_map(|o| o.price.map(MicroUsd::as_usd_f64))
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "ascending prices");

    let sxm = search(&snap, "gpu=H100-SXM limit=1000");
    assert!(sxm.total > 0 && sxm.total < page.total);
    assert!(sxm.offers.iter().all(|o| o.gpu_model() == Some("H100-SXM")));
}

#[test]
fn confusable_gpus_never_match_each_other() {
    let snap = snapshot(&[]);
    for (query, forbidden) in [
        ("gpu=L4", ["L40", "L40S"]),
        ("gpu=L40", ["L4", "L40S"]),
        ("gpu=A10", ["A100", "A10G"]),
    ] {
        let page = search(&snap, &format!("{query} limit=1000"));
        for offer in page.offers {
            let model = offer.gpu_model().unwrap_or("");
            assert!(!forbidden.contains(&model), "{query} matched {model}");
        }
    }
}

#[test]
fn filters_combine_and_limits_keep_the_total() {
    let snap = snapshot(&[]);
    let page = search(
        &snap,
        "count>=8 price_per_gpu<3 vram>=80 sort=-vram,price limit=5",
    );
    assert_eq!(page.offers.len(), 5);
    assert!(page.total >= 5);
    for offer in &page.offers {
        assert!(offer.gpu_count >= 8);
        assert!(offer.price_per_gpu().unwrap().as_usd_f64() < 3.0);
        assert!(offer.gpu_memory_gb.unwrap() >= 80.0);
    }
    let vram: Vec<f64> = page
        .offers
        .iter()
        .map(|o| o.gpu_memory_gb.unwrap())
        .collect();
    assert!(
        vram.windows(2).all(|w| w[0] >= w[1]),
        "descending vram: {vram:?}"
    );
    let eu = search(
        &snap,
        "continent=EU provider in [vastai, runpod] limit=1000",
    );
    assert!(eu.total > 0);
    assert!(eu
        .offers
        .iter()
        .all(|o| o.continent == Some("EU") && (o.provider == "vastai" || o.provider == "runpod")));
}

#[test]
fn stale_providers_are_excluded_unless_asked_for() {
    let fresh = snapshot(&[]);
    let stale = snapshot(&["skypilot:lambda"]);
    let all = search(&fresh, "provider=lambda").total;
    assert!(all > 0);
    assert_eq!(
        search(&stale, "provider=lambda").total,
        0,
        "stale offers are hidden by default"
    );
    assert_eq!(
        search(&stale, "provider=lambda stale=true").total,
        all,
        "and shown on request"
    );
}

#[test]
fn offers_are_found_by_id_and_unknown_ids_are_not() {
    let snap = snapshot(&[]);
    let first = &snap.offers()[0];
    assert_eq!(snap.get(&first.id).map(|o| &o.id), Some(&first.id));
    assert!(snap.get("lambda-0000000000000000").is_none());
    assert!(snap.get("nonsense").is_none());
    assert!(numeric(first, Field::Price).is_some());
}
