//! Demo market: real GPUs, determinism, bounded drift, movement over an hour, the source.

use std::collections::HashSet;

use super::*;
use crate::domain::offer::Offer;

const T0: u64 = 1_750_000_000;

fn normalized(t: u64) -> Vec<Offer> {
    market_at(t)
        .into_iter()
        .map(|raw| Offer::normalize(raw, SOURCE_ID))
        .collect()
}

#[test]
fn every_demo_gpu_resolves_to_a_known_model() {
    for offer in normalized(T0) {
        assert!(
            offer.gpu.is_some(),
            "{} {} {:?}",
            offer.provider,
            offer.instance_type,
            offer.gpu_raw
        );
    }
    let models: HashSet<_> = normalized(T0).iter().filter_map(Offer::gpu_model).collect();
    for wanted in [
        "H100-SXM",
        "H100-PCIE",
        "H100-NVL",
        "H200",
        "B200",
        "MI300X",
    ] {
        let found = models.iter().any(|m| m.starts_with(wanted));
        assert!(found, "{wanted} missing from {models:?}");
    }
}

#[test]
fn the_market_is_large_labelled_demo_and_has_unique_ids() {
    let offers = normalized(T0);
    assert!(offers.len() >= 100, "{}", offers.len());
    assert!((40..=60).contains(&BASE.len()), "{}", BASE.len());
    let ids: HashSet<&str> = offers.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids.len(), offers.len(), "duplicate offer ids");
    for o in &offers {
        assert!(o.provider.starts_with("demo-"), "{}", o.provider);
        assert_eq!(o.extras.get("demo"), Some(&Value::Bool(true)));
    }
}

#[test]
fn the_same_time_gives_the_same_market_and_prices_hold_within_a_minute() {
    assert_eq!(market_at(T0), market_at(T0));
    let minute = T0 - T0 % 60;
    assert_eq!(market_at(minute), market_at(minute + 59));
}

#[test]
fn prices_stay_positive_within_five_percent_of_base_and_spot_below_on_demand() {
    let bases: Vec<&Base> = placements().map(|(b, _)| b).collect();
    for step in 0..200 {
        let t = T0 + step * 437;
        for (offer, base) in market_at(t).iter().zip(&bases) {
            let price = offer.price.map_or(0, |p| p.0);
            let base_price = i64::from(base.cents) * CENT;
            assert!(price > 0, "{offer:?}");
            assert!(
                (price - base_price).abs() * 100 <= base_price * 5,
                "{} at {t}: {price} vs {base_price}",
                offer.instance_type
            );
            if let Some(spot) = offer.spot_price {
                assert!(spot.0 > 0 && spot.0 < price, "{offer:?}");
            }
        }
    }
}

#[test]
fn across_an_hour_some_prices_and_availabilities_change() {
    let start = market_at(T0);
    let later = market_at(T0 + 3600);
    let moved = start.iter().zip(&later).filter(|(a, b)| a.price != b.price);
    assert!(moved.count() > start.len() / 4);
    let changed_availability: usize = (1..=6)
        .map(|slot| market_at(T0 + slot * AVAILABILITY_SLOT))
        .map(|m| {
            m.iter()
                .zip(&start)
                .filter(|(a, b)| a.availability != b.availability)
                .count()
        })
        .sum();
    assert!(changed_availability > 0);
    let states: HashSet<Availability> = start.iter().map(|o| o.availability).collect();
    assert!(states.contains(&Availability::Available));
    let spot_moved = start
        .iter()
        .zip(&later)
        .any(|(a, b)| a.spot_price.is_some() && a.spot_price != b.spot_price);
    assert!(spot_moved);
}

#[tokio::test]
async fn the_source_fetches_the_market_of_its_clock() {
    let source = DemoSource::at(T0);
    assert_eq!(source.id(), "demo");
    assert_eq!(source.policy().interval, Duration::from_secs(30));
    assert_eq!(source.policy().stale_after, Duration::from_secs(600));
    let report = source.fetch().await.unwrap();
    assert_eq!(report.offers, market_at(T0));
    assert!(report.skipped.is_empty());
    let live = DemoSource::default().fetch().await.unwrap();
    assert_eq!(live.offers.len(), report.offers.len());
}
