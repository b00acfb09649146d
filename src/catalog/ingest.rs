//! The diff of one fetch against the current offers of its source.
//!
//! Only what changed is written: new offers, offers whose attributes changed (a history
//! point when price, spot price or availability moved), and offers that vanished.

use std::collections::{HashMap, HashSet};

use crate::domain::offer::Offer;

/// What one fetch changes.
#[derive(Debug, Default)]
pub struct IngestDiff {
    /// Offers not live before (new, or back after vanishing).
    pub added: Vec<Offer>,
    /// Live offers with any attribute changed.
    pub changed: Vec<Offer>,
    /// The subset of `changed` whose price, spot price or availability moved (cloned).
    pub repriced: Vec<Offer>,
    /// Ids of live offers absent from the fetch.
    pub closed: Vec<String>,
    /// Offers identical to the stored ones.
    pub unchanged: usize,
    /// Repeated ids within the fetch (the first one is kept).
    pub duplicates: usize,
    /// Live offers of the source after the fetch.
    pub live: usize,
    /// The source's offers after the fetch, for the in-memory catalog.
    pub current: Vec<Offer>,
}

impl IngestDiff {
    /// True when nothing needs writing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.closed.is_empty()
    }
}

/// Compares `fetched` with the source's `current` offers.
pub fn diff(current: &[Offer], fetched: Vec<Offer>) -> IngestDiff {
    let before: HashMap<&str, &Offer> = current.iter().map(|o| (o.id.as_str(), o)).collect();
    let mut seen: HashSet<String> = HashSet::with_capacity(fetched.len());
    let mut out = IngestDiff::default();
    for offer in fetched {
        if !seen.insert(offer.id.clone()) {
            out.duplicates += 1;
            continue;
        }
        match before.get(offer.id.as_str()) {
            None => out.added.push(offer.clone()),
            Some(old) if **old == offer => out.unchanged += 1,
            Some(old) => {
                if old.price != offer.price
                    || old.spot_price != offer.spot_price
                    || old.availability != offer.availability
                {
                    out.repriced.push(offer.clone());
                }
                out.changed.push(offer.clone());
            }
        }
        out.current.push(offer);
    }
    out.closed = current
        .iter()
        .filter(|o| !seen.contains(&o.id))
        .map(|o| o.id.clone())
        .collect();
    out.live = out.current.len();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::MicroUsd;
    use crate::domain::offer::{Availability, RawOffer};

    fn offer(instance: &str, price: i64) -> Offer {
        let raw = RawOffer {
            provider: "lambda".into(),
            instance_type: instance.into(),
            region: "us-east-1".into(),
            zone: None,
            gpu_name: "A10".into(),
            gpu_count: 1,
            gpu_memory_mib: None,
            vcpus: Some(30.0),
            ram_gb: Some(200.0),
            disk_gb: None,
            price: Some(MicroUsd(price)),
            spot_price: None,
            availability: Availability::Available,
            extras: serde_json::Map::new(),
        };
        Offer::normalize(raw, "lambda")
    }

    #[test]
    fn only_changes_are_reported() {
        let current = vec![offer("a", 100), offer("b", 200), offer("c", 300)];
        let mut b_more_cpus = offer("b", 200);
        b_more_cpus.vcpus = Some(60.0);
        let fetched = vec![
            offer("a", 100),
            b_more_cpus,
            offer("c", 350),
            offer("d", 400),
            offer("d", 999),
        ];
        let d = diff(&current, fetched);
        let ids = |v: &[Offer]| {
            v.iter()
                .map(|o| o.instance_type.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&d.added), ["d"]);
        assert_eq!(ids(&d.changed), ["b", "c"]);
        assert_eq!(
            ids(&d.repriced),
            ["c"],
            "a spec change is not a price change"
        );
        assert_eq!((d.unchanged, d.duplicates, d.live), (1, 1, 4));
        assert!(d.closed.is_empty());
        assert_eq!(
            d.current
                .iter()
                .find(|o| o.instance_type == "d")
                .unwrap()
                .price,
            Some(MicroUsd(400))
        );
    }

    #[test]
    fn vanished_offers_are_closed_and_an_identical_fetch_writes_nothing() {
        let current = vec![offer("a", 100), offer("b", 200)];
        let d = diff(&current, vec![offer("a", 100)]);
        assert_eq!(d.closed, [offer("b", 0).id]);
        assert_eq!(d.live, 1);
        let same = diff(&current, current.clone());
        assert!(same.is_empty());
        assert_eq!(same.unchanged, 2);
    }
}
