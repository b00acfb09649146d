//! Query evaluation over a snapshot: index pre-selection, filters, sort, limit.

use std::cmp::Ordering;

use super::Snapshot;
use crate::domain::gpu;
use crate::domain::offer::Offer;
use crate::domain::query::{Field, FieldKind, Filter, Op, Query, Value};

/// Default number of results when the query sets no limit.
pub const DEFAULT_LIMIT: usize = 50;

/// One page of results.
#[derive(Debug)]
pub struct SearchPage<'a> {
    /// Offers matching the query (before the limit).
    pub total: usize,
    pub offers: Vec<&'a Offer>,
}

/// The numeric value of `field` for `offer`, if it has one.
pub fn numeric(offer: &Offer, field: Field) -> Option<f64> {
    match field {
        Field::Count => Some(f64::from(offer.gpu_count)),
        Field::Vram => offer.gpu_memory_gb,
        Field::TotalVram => offer.total_vram_gb(),
        Field::Vcpus => offer.vcpus,
        Field::Ram => offer.ram_gb,
        Field::Disk => offer.disk_gb,
        Field::Price => offer.price.map(|p| p.as_usd_f64()),
        Field::PricePerGpu => offer.price_per_gpu().map(|p| p.as_usd_f64()),
        Field::Spot => offer.spot_price.map(|p| p.as_usd_f64()),
        Field::Tflops => offer.total_tflops(),
        Field::Bw => offer.gpu.map(|g| f64::from(g.memory_bandwidth_gbs)),
        Field::Value => offer.value(),
        _ => None,
    }
}

fn text(offer: &Offer, field: Field) -> Option<&str> {
    match field {
        Field::Provider => Some(&offer.provider),
        Field::Region => Some(&offer.region),
        Field::Country => offer.country.as_deref(),
        Field::Continent => offer.continent,
        Field::InstanceType => Some(&offer.instance_type),
        Field::Vendor => offer.gpu.map(|g| vendor_name(g.vendor)),
        _ => None,
    }
}

fn vendor_name(vendor: gpu::Vendor) -> &'static str {
    match vendor {
        gpu::Vendor::Nvidia => "nvidia",
        gpu::Vendor::Amd => "amd",
        gpu::Vendor::Intel => "intel",
    }
}

fn matches(snapshot: &Snapshot, offer: &Offer, filter: &Filter) -> bool {
    match filter.field {
        Field::Gpu => match offer.gpu {
            Some(spec) => filter.test_text_with(Some(spec.model), |_, wanted| {
                gpu::matches_family(spec, wanted)
            }),
            None => filter.test_text(Some(&offer.gpu_raw)),
        },
        Field::Available => filter.test_bool(offer.is_available()),
        Field::Stale => filter.test_bool(snapshot.is_stale(offer)),
        field => match field.kind() {
            FieldKind::Number => filter.test_number(numeric(offer, field)),
            FieldKind::Text => filter.test_text(text(offer, field)),
            FieldKind::Bool => false,
        },
    }
}

/// Whether the query asks about staleness itself (otherwise stale offers are excluded).
fn mentions_stale(query: &Query) -> bool {
    query.filters.iter().any(|f| f.field == Field::Stale)
}

/// Candidate positions from the GPU index for a `gpu=` filter, when there is one.
fn candidates(snapshot: &Snapshot, query: &Query) -> Option<Vec<u32>> {
    let filter = query
        .filters
        .iter()
        .find(|f| f.field == Field::Gpu && f.op == Op::Eq)?;
    let Value::Text(wanted) = &filter.value else {
        return None;
    };
    let mut positions: Vec<u32> = snapshot
        .by_gpu
        .iter()
        .filter(|(model, _)| {
            gpu::lookup(model).is_some_and(|spec| gpu::matches_family(spec, wanted))
        })
        .flat_map(|(_, list)| list.iter().copied())
        .collect();
    if let Some(list) = snapshot.by_gpu.get("") {
        positions.extend(list);
    }
    positions.sort_unstable();
    Some(positions)
}

impl Snapshot {
    /// Every offer matching `query`, unsorted. Stale offers are excluded unless the query
    /// filters on `stale`.
    pub fn matching(&self, query: &Query) -> Vec<&Offer> {
        let include_stale = mentions_stale(query);
        let keep = |o: &&Offer| {
            (include_stale || !self.is_stale(o))
                && query.filters.iter().all(|f| matches(self, o, f))
        };
        match candidates(self, query) {
            Some(positions) => positions
                .iter()
                .map(|i| &self.offers[*i as usize])
                .filter(keep)
                .collect(),
            None => self.offers.iter().filter(keep).collect(),
        }
    }

    /// Runs `query` with its own limit (default [`DEFAULT_LIMIT`]).
    pub fn search(&self, query: &Query) -> SearchPage<'_> {
        let limit = query.limit.map_or(DEFAULT_LIMIT, |l| l as usize);
        self.search_page(query, 0, limit)
    }

    /// The `limit` results after the first `offset`, in the query's order.
    pub fn search_page(&self, query: &Query, offset: usize, limit: usize) -> SearchPage<'_> {
        let mut hits = self.matching(query);
        let total = hits.len();
        let end = offset.saturating_add(limit);
        let compare = |a: &&Offer, b: &&Offer| compare_offers(query, a, b);
        if hits.len() > end {
            hits.select_nth_unstable_by(end, compare);
            hits.truncate(end);
        }
        hits.sort_by(compare);
        let offers = hits.into_iter().skip(offset).collect();
        SearchPage { total, offers }
    }
}

/// Orders by the query's sort keys (missing values last), then price, then id.
fn compare_offers(query: &Query, a: &Offer, b: &Offer) -> Ordering {
    let keys = query.sort.iter().map(|k| (k.field, k.descending));
    let fallback = [(Field::Price, false)];
    for (field, descending) in keys.chain(fallback) {
        let ord = match (numeric(a, field), numeric(b, field)) {
            (Some(x), Some(y)) => {
                let o = x.total_cmp(&y);
                if descending {
                    o.reverse()
                } else {
                    o
                }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    a.id.cmp(&b.id)
}
