//! Query evaluation over a snapshot: index pre-selection, filters, sort, limit.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::Snapshot;
use crate::domain::gpu;
use crate::domain::offer::Offer;
use crate::domain::perf::{self, InferenceParams};
use crate::domain::query::{Field, FieldKind, Filter, Op, Query, Rank, TokenCostRank, Value};
use crate::domain::ranking::{compare_scores, topsis, Attribute, Criterion, Direction};

/// Numeric fields kept as columns in the snapshot.
pub(crate) const COLUMNS: [Field; 12] = [
    Field::Count,
    Field::Vram,
    Field::TotalVram,
    Field::Vcpus,
    Field::Ram,
    Field::Disk,
    Field::Price,
    Field::PricePerGpu,
    Field::Spot,
    Field::Tflops,
    Field::Bw,
    Field::Value,
];

fn column_of(snapshot: &Snapshot, field: Field) -> Option<&[f64]> {
    let i = COLUMNS.iter().position(|f| *f == field)?;
    snapshot.columns.get(i).map(Vec::as_slice)
}

fn value_at(col: &[f64], i: usize) -> Option<f64> {
    let x = col[i];
    (!x.is_nan()).then_some(x)
}

/// Default number of results when the query sets no limit.
pub const DEFAULT_LIMIT: usize = 50;

/// One page of results.
#[derive(Debug)]
pub struct SearchPage<'a> {
    /// Offers matching the query (before the limit).
    pub total: usize,
    pub offers: Vec<&'a Offer>,
    /// For a computed ranking: each offer's score and how the criteria were used.
    pub ranking: Option<RankDetail>,
}

/// How a computed ranking ordered a page.
#[derive(Clone, Debug, PartialEq)]
pub struct RankDetail {
    /// `topsis` or `cost_per_mtok`.
    pub method: &'static str,
    /// Score per offer of the page, in page order: TOPSIS closeness (higher is better) or
    /// USD per million output tokens (lower is better).
    pub scores: Vec<f64>,
    /// TOPSIS criteria as applied.
    pub criteria: Vec<CriterionUse>,
    /// Matches the ranking could not score, by reason (they are not in `total`).
    pub excluded: Vec<(&'static str, usize)>,
}

/// One criterion of a ranking as applied to the match set.
#[derive(Clone, Debug, PartialEq)]
pub struct CriterionUse {
    pub name: &'static str,
    pub weight: f64,
    pub direction: Direction,
    /// Matches without a value, given the mean of the others.
    pub missing: usize,
}

/// Which offers match a query's filters, with numeric filters read from columns and the
/// provider or GPU index used for candidates where the query allows.
struct Matcher<'s> {
    snapshot: &'s Snapshot,
    include_stale: bool,
    filters: Vec<(&'s Filter, Option<&'s [f64]>)>,
    candidates: Option<Vec<u32>>,
}

impl<'s> Matcher<'s> {
    fn new(snapshot: &'s Snapshot, query: &'s Query) -> Self {
        // The provider index satisfies the one filter it was built from, and only that one.
        let used = provider_candidates(snapshot, query)
            .and_then(|_| query.filters.iter().position(is_provider_index_filter));
        let filters = query
            .filters
            .iter()
            .enumerate()
            .filter(|(k, _)| Some(*k) != used)
            .map(|(_, f)| (f, column_of(snapshot, f.field)))
            .collect();
        Matcher {
            snapshot,
            include_stale: mentions_stale(query),
            filters,
            candidates: candidates(snapshot, query),
        }
    }

    /// Positions to test: the index candidates, or every offer.
    fn positions(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match &self.candidates {
            Some(positions) => Box::new(positions.iter().map(|i| *i as usize)),
            None => Box::new(0..self.snapshot.offers.len()),
        }
    }

    fn keep(&self, i: usize) -> bool {
        let o = &self.snapshot.offers[i];
        (self.include_stale || !self.snapshot.is_stale(o))
            && self.filters.iter().all(|(f, col)| match col {
                Some(col) => f.test_number(value_at(col, i)),
                None => matches(self.snapshot, o, f),
            })
    }
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

/// Whether the provider index can answer `f`.
fn is_provider_index_filter(f: &Filter) -> bool {
    f.field == Field::Provider && matches!(f.op, Op::Eq | Op::In)
}

/// Candidate positions from the provider index for the first `provider=` /
/// `provider in [..]` filter.
fn provider_candidates(snapshot: &Snapshot, query: &Query) -> Option<Vec<u32>> {
    let filter = query.filters.iter().find(|f| is_provider_index_filter(f))?;
    let wanted: Vec<&str> = match &filter.value {
        Value::Text(t) => vec![t.as_str()],
        Value::List(items) => items
            .iter()
            .filter_map(|v| match v {
                Value::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    let positions: Vec<u32> = snapshot
        .by_provider
        .iter()
        .filter(|(p, _)| wanted.iter().any(|w| w.eq_ignore_ascii_case(p)))
        .flat_map(|(_, list)| list.iter().copied())
        .collect();
    Some(positions)
}

/// Candidate positions from the GPU index for a `gpu=` filter, when there is one.
fn candidates(snapshot: &Snapshot, query: &Query) -> Option<Vec<u32>> {
    if let Some(p) = provider_candidates(snapshot, query) {
        return Some(p);
    }
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

    /// Whether `offer` (from this snapshot or not: a changed or removed one) passes
    /// `query`'s filters, with staleness judged by this snapshot.
    pub fn offer_matches(&self, query: &Query, offer: &Offer) -> bool {
        (mentions_stale(query) || !self.is_stale(offer))
            && query.filters.iter().all(|f| matches(self, offer, f))
    }

    /// Runs `query` with its own limit (default [`DEFAULT_LIMIT`]).
    pub fn search(&self, query: &Query) -> SearchPage<'_> {
        let limit = query.limit.map_or(DEFAULT_LIMIT, |l| l as usize);
        self.search_page(query, 0, limit)
    }

    /// The `limit` results after the first `offset`, in the query's order.
    pub fn search_page(&self, query: &Query, offset: usize, limit: usize) -> SearchPage<'_> {
        // Never more than the catalog holds: a forged cursor cannot size the heap.
        let end = offset.saturating_add(limit).min(self.offers.len());
        let fields: Vec<(Field, bool)> = query
            .sort
            .iter()
            .map(|k| (k.field, k.descending))
            .chain([(Field::Price, false)])
            .collect();
        if fields.len() > MAX_KEYS || end == 0 {
            return self.search_page_slow(query, offset, limit);
        }
        match &query.rank {
            Some(Rank::Topsis(criteria)) => {
                return self.search_page_topsis(query, criteria, offset, limit)
            }
            Some(Rank::CostPerMtok(rank)) => {
                return self.search_page_token_cost(query, rank, offset, limit)
            }
            None => {}
        }
        let matcher = Matcher::new(self, query);
        let sort_cols: Vec<Option<&[f64]>> =
            fields.iter().map(|(f, _)| column_of(self, *f)).collect();
        let mut heap: BinaryHeap<Entry<'_>> = BinaryHeap::with_capacity(end + 1);
        let mut total = 0;
        for i in matcher.positions() {
            if !matcher.keep(i) {
                continue;
            }
            total += 1;
            let mut key = [f64::INFINITY; MAX_KEYS];
            for ((slot, (field, descending)), col) in key.iter_mut().zip(&fields).zip(&sort_cols) {
                let x = match col {
                    Some(col) => value_at(col, i),
                    None => numeric(&self.offers[i], *field),
                };
                if let Some(x) = x {
                    *slot = if *descending { -x } else { x };
                }
            }
            if heap.len() == end {
                if let Some(top) = heap.peek() {
                    if key
                        .iter()
                        .zip(&top.key)
                        .map(|(a, b)| a.total_cmp(b))
                        .find(|o| o.is_ne())
                        == Some(Ordering::Greater)
                    {
                        continue;
                    }
                }
            }
            let entry = Entry {
                key,
                offer: &self.offers[i],
            };
            if heap.len() < end {
                heap.push(entry);
            } else if let Some(mut top) = heap.peek_mut() {
                if entry < *top {
                    *top = entry;
                }
            }
        }
        let offers = heap
            .into_sorted_vec()
            .into_iter()
            .skip(offset)
            .map(|e| e.offer)
            .collect();
        SearchPage {
            total,
            offers,
            ranking: None,
        }
    }

    /// Ranks every match by TOPSIS closeness over `criteria` (best first; equal scores by
    /// price, then id) and returns the `limit` after the first `offset`.
    fn search_page_topsis(
        &self,
        query: &Query,
        criteria: &[Criterion],
        offset: usize,
        limit: usize,
    ) -> SearchPage<'_> {
        let matcher = Matcher::new(self, query);
        let hits: Vec<usize> = matcher.positions().filter(|i| matcher.keep(*i)).collect();
        let total = hits.len();
        let mut used = Vec::with_capacity(criteria.len());
        let columns: Vec<Vec<f64>> = criteria
            .iter()
            .map(|c| {
                let (column, missing) = self.criterion_column(c.attribute, &hits);
                used.push(CriterionUse {
                    name: c.attribute.name(),
                    weight: c.weight,
                    direction: c.attribute.direction(),
                    missing,
                });
                column
            })
            .collect();
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let weights: Vec<f64> = criteria.iter().map(|c| c.weight).collect();
        let directions: Vec<Direction> = criteria.iter().map(|c| c.attribute.direction()).collect();
        // Columns are finite after imputation and the weights were validated when parsed,
        // so this only fails on an empty match set, where every score is moot.
        let scores = topsis(&refs, &weights, &directions)
            .map(|o| o.scores)
            .unwrap_or_else(|_| vec![0.0; total]);
        let price = column_of(self, Field::Price);
        let key = |k: usize| {
            let i = hits[k];
            let p = price.and_then(|c| value_at(c, i)).unwrap_or(f64::INFINITY);
            (scores[k], p, &self.offers[i].id)
        };
        let compare = |a: &usize, b: &usize| {
            let (sa, pa, ia) = key(*a);
            let (sb, pb, ib) = key(*b);
            compare_scores(sa, sb)
                .then(pa.total_cmp(&pb))
                .then_with(|| ia.cmp(ib))
        };
        let end = offset.saturating_add(limit).min(total);
        let mut order: Vec<usize> = (0..total).collect();
        if end < total && end > 0 {
            order.select_nth_unstable_by(end - 1, compare);
            order.truncate(end);
        }
        order.sort_by(compare);
        let page: Vec<usize> = order.into_iter().skip(offset).take(limit).collect();
        SearchPage {
            total,
            offers: page.iter().map(|k| &self.offers[hits[*k]]).collect(),
            ranking: Some(RankDetail {
                method: "topsis",
                scores: page.iter().map(|k| scores[*k]).collect(),
                criteria: used,
                excluded: Vec::new(),
            }),
        }
    }

    /// Ranks matches by USD per million output tokens of serving `rank.model` (cheapest
    /// first; ties by price, then id). Matches whose GPU is unknown, that have no on-demand
    /// price, or where the model does not fit are left out and counted in the detail.
    fn search_page_token_cost(
        &self,
        query: &Query,
        rank: &TokenCostRank,
        offset: usize,
        limit: usize,
    ) -> SearchPage<'_> {
        let matcher = Matcher::new(self, query);
        let base = InferenceParams {
            precision: rank.precision,
            ..InferenceParams::default()
        };
        // The estimate depends only on the GPU model and count: compute each pair once.
        let mut throughput: HashMap<(&'static str, u32), Option<f64>> = HashMap::new();
        let (mut unknown_gpu, mut no_price, mut no_fit) = (0, 0, 0);
        let mut ranked: Vec<(f64, f64, usize)> = Vec::new();
        for i in matcher.positions().filter(|i| matcher.keep(*i)) {
            let o = &self.offers[i];
            let Some(gpu) = o.gpu else {
                unknown_gpu += 1;
                continue;
            };
            let Some(price) = o.price.map(|p| p.as_usd_f64()) else {
                no_price += 1;
                continue;
            };
            let tps = *throughput
                .entry((gpu.model, o.gpu_count))
                .or_insert_with(|| {
                    perf::serving(gpu, o.gpu_count, &rank.model, &base, rank.batch)
                        .map(|e| e.output_tokens_per_s)
                });
            match tps {
                Some(tps) => ranked.push((perf::cost_per_mtok(price, tps), price, i)),
                None => no_fit += 1,
            }
        }
        let total = ranked.len();
        let compare = |a: &(f64, f64, usize), b: &(f64, f64, usize)| {
            a.0.total_cmp(&b.0)
                .then(a.1.total_cmp(&b.1))
                .then_with(|| self.offers[a.2].id.cmp(&self.offers[b.2].id))
        };
        let end = offset.saturating_add(limit).min(total);
        if end < total && end > 0 {
            ranked.select_nth_unstable_by(end - 1, compare);
            ranked.truncate(end);
        }
        ranked.sort_by(compare);
        let page: Vec<(f64, f64, usize)> = ranked.into_iter().skip(offset).take(limit).collect();
        let mut excluded = Vec::new();
        for (n, why) in [
            (no_fit, "the model does not fit in the offer's GPU memory"),
            (no_price, "no on-demand price"),
            (
                unknown_gpu,
                "GPU not in the registry, no specs to estimate with",
            ),
        ] {
            if n > 0 {
                excluded.push((why, n));
            }
        }
        SearchPage {
            total,
            offers: page.iter().map(|e| &self.offers[e.2]).collect(),
            ranking: Some(RankDetail {
                method: "cost_per_mtok",
                scores: page.iter().map(|e| e.0).collect(),
                criteria: Vec::new(),
                excluded,
            }),
        }
    }

    /// The values of `attribute` for the offers at `positions`; missing values are imputed
    /// with the mean of the present ones (0 when none is present) and counted.
    fn criterion_column(&self, attribute: Attribute, positions: &[usize]) -> (Vec<f64>, usize) {
        let mut column: Vec<f64> = match attribute {
            Attribute::Field(field) => match column_of(self, field) {
                Some(col) => positions.iter().map(|i| col[*i]).collect(),
                None => positions
                    .iter()
                    .map(|i| numeric(&self.offers[*i], field).unwrap_or(f64::NAN))
                    .collect(),
            },
            Attribute::Reliability => positions
                .iter()
                .map(|i| {
                    self.offers[*i]
                        .extras
                        .get("reliability")
                        .and_then(serde_json::Value::as_f64)
                        .unwrap_or(f64::NAN)
                })
                .collect(),
        };
        let (sum, present) = column
            .iter()
            .filter(|x| x.is_finite())
            .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
        let mean = if present == 0 {
            0.0
        } else {
            sum / present as f64
        };
        let missing = column.len() - present;
        if missing > 0 {
            for x in column.iter_mut().filter(|x| !x.is_finite()) {
                *x = mean;
            }
        }
        (column, missing)
    }

    /// Fallback for more sort keys than the fast path holds: collect, select, sort.
    fn search_page_slow(&self, query: &Query, offset: usize, limit: usize) -> SearchPage<'_> {
        let mut hits = self.matching(query);
        let total = hits.len();
        let end = offset.saturating_add(limit).min(total);
        let compare = |a: &&Offer, b: &&Offer| compare_offers(query, a, b);
        if hits.len() > end {
            hits.select_nth_unstable_by(end, compare);
            hits.truncate(end);
        }
        hits.sort_by(compare);
        let offers = hits.into_iter().skip(offset).collect();
        SearchPage {
            total,
            offers,
            ranking: None,
        }
    }
}

const MAX_KEYS: usize = 4;

/// A hit with its sort key computed once: each field's value, negated when descending,
/// +inf when missing (missing sorts last either way); ties broken by id.
struct Entry<'a> {
    key: [f64; MAX_KEYS],
    offer: &'a Offer,
}

impl Ord for Entry<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.key.iter().zip(&other.key) {
            let o = a.total_cmp(b);
            if o != Ordering::Equal {
                return o;
            }
        }
        self.offer.id.cmp(&other.offer.id)
    }
}

impl PartialOrd for Entry<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry<'_> {}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{skypilot, vastai};

    const CATALOGS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/catalogs");

    fn real_offers() -> Vec<Offer> {
        let mut offers = Vec::new();
        for cloud in ["lambda", "shadeform", "lium", "vast"] {
            let text =
                std::fs::read_to_string(format!("{CATALOGS}/skypilot-catalog/v8/{cloud}/vms.csv"))
                    .unwrap();
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
        offers
    }

    /// The heap-and-column fast path returns exactly what collect-select-sort returns.
    #[test]
    fn fast_path_equals_the_reference_ordering() {
        let snapshot = Snapshot::new(real_offers(), vec!["skypilot:lium".into()]);
        for text in [
            "",
            "sort=-spot",
            "gpu=H100 sort=price",
            "provider in [lambda,vastai] count>=2 sort=value",
            "provider=LAMBDA sort=-vram,price_per_gpu",
            "price_per_gpu<2 vram>=40 sort=-vram",
            "sort=count,-tflops,bw,ram",
            "stale=true sort=-price",
            "region~us sort=disk",
            "provider=lambda provider=vastai",
            "provider in [lambda,vastai] provider=vastai sort=-price",
        ] {
            let query = Query::parse(text).unwrap();
            for (offset, limit) in [(0, 50), (7, 13), (0, 5000)] {
                let fast = snapshot.search_page(&query, offset, limit);
                let slow = snapshot.search_page_slow(&query, offset, limit);
                let ids =
                    |p: &SearchPage<'_>| p.offers.iter().map(|o| o.id.clone()).collect::<Vec<_>>();
                assert_eq!(fast.total, slow.total, "{text}");
                assert_eq!(
                    ids(&fast),
                    ids(&slow),
                    "{text} offset {offset} limit {limit}"
                );
            }
        }
    }

    /// `sort=topsis` ranks the whole filtered set: every page is a slice of one ordering,
    /// computed here independently over `matching` with missing values imputed by the mean.
    #[test]
    fn topsis_ranks_the_whole_match_set() {
        let snapshot = Snapshot::new(real_offers(), vec![]);
        let text = "vram>=24 sort=topsis weights=price:0.5,tflops:0.2,vram:0.2,reliability:0.1";
        let query = Query::parse(text).unwrap();
        let Some(Rank::Topsis(criteria)) = &query.rank else {
            panic!("not ranked");
        };
        let hits = snapshot.matching(&query);
        assert!(hits.len() > 200, "{}", hits.len());
        let value = |o: &Offer, a: Attribute| match a {
            Attribute::Field(f) => numeric(o, f),
            Attribute::Reliability => o.extras.get("reliability").and_then(|v| v.as_f64()),
        };
        let columns: Vec<Vec<f64>> = criteria
            .iter()
            .map(|c| {
                let present: Vec<f64> = hits.iter().filter_map(|o| value(o, c.attribute)).collect();
                let mean = present.iter().sum::<f64>() / present.len() as f64;
                hits.iter()
                    .map(|o| value(o, c.attribute).unwrap_or(mean))
                    .collect()
            })
            .collect();
        let refs: Vec<&[f64]> = columns.iter().map(Vec::as_slice).collect();
        let weights: Vec<f64> = criteria.iter().map(|c| c.weight).collect();
        let dirs: Vec<Direction> = criteria.iter().map(|c| c.attribute.direction()).collect();
        let scores = topsis(&refs, &weights, &dirs).unwrap().scores;
        let mut expected: Vec<(f64, f64, &str)> = hits
            .iter()
            .zip(&scores)
            .map(|(o, s)| {
                (
                    *s,
                    numeric(o, Field::Price).unwrap_or(f64::INFINITY),
                    o.id.as_str(),
                )
            })
            .collect();
        expected.sort_by(|a, b| {
            compare_scores(a.0, b.0)
                .then(a.1.total_cmp(&b.1))
                .then_with(|| a.2.cmp(b.2))
        });

        let all = snapshot.search_page(&query, 0, hits.len());
        assert_eq!(all.total, hits.len());
        let got: Vec<&str> = all.offers.iter().map(|o| o.id.as_str()).collect();
        let want: Vec<&str> = expected.iter().map(|e| e.2).collect();
        assert_eq!(got, want);
        let detail = all.ranking.unwrap();
        assert!(detail.scores.windows(2).all(|w| w[0] >= w[1]));
        let reliability = &detail.criteria[3];
        assert_eq!(reliability.name, "reliability");
        assert!(reliability.missing > 0 && reliability.missing < hits.len());

        for (offset, limit) in [(0, 5), (17, 9), (hits.len() - 3, 10)] {
            let page = snapshot.search_page(&query, offset, limit);
            let ids: Vec<&str> = page.offers.iter().map(|o| o.id.as_str()).collect();
            let end = (offset + limit).min(want.len());
            assert_eq!(
                ids,
                want[offset..end].to_vec(),
                "offset {offset} limit {limit}"
            );
        }
    }

    /// An offer at least as good as every other on every criterion, strictly better on
    /// one, comes first.
    #[test]
    fn topsis_puts_a_dominating_offer_first() {
        let mut offers = real_offers();
        let cheapest = offers.iter().filter_map(|o| o.price).min().unwrap();
        let best = offers
            .iter_mut()
            .filter(|o| o.gpu.is_some_and(|g| g.model == "H100-SXM"))
            .max_by(|a, b| a.id.cmp(&b.id))
            .unwrap();
        best.price = Some(crate::domain::money::MicroUsd(cheapest.0 / 2));
        best.gpu_count = 8;
        best.gpu_memory_gb = Some(80.0);
        let id = best.id.clone();
        let snapshot = Snapshot::new(offers, vec![]);
        let query = Query::parse("gpu~H100 sort=topsis weights=price:1,tflops:1").unwrap();
        let page = snapshot.search_page(&query, 0, 3);
        assert_eq!(page.offers[0].id, id);
        assert!((page.ranking.unwrap().scores[0] - 1.0).abs() < 1e-9);
    }

    /// `sort=cost_per_mtok` orders by price over throughput of the model, and leaves out
    /// (and counts) the offers the model does not fit.
    #[test]
    fn cost_per_mtok_ranks_by_price_over_throughput() {
        let snapshot = Snapshot::new(real_offers(), vec![]);
        let query = Query::parse("sort=cost_per_mtok model=llama-3-70b precision=fp8").unwrap();
        let Some(Rank::CostPerMtok(rank)) = &query.rank else {
            panic!("not ranked");
        };
        let all = snapshot.search_page(&query, 0, 100_000);
        assert!(all.total > 10, "{}", all.total);
        let detail = all.ranking.unwrap();
        assert_eq!(detail.method, "cost_per_mtok");
        assert!(detail.scores.windows(2).all(|w| w[0] <= w[1]));
        let no_fit = detail
            .excluded
            .iter()
            .find(|e| e.0.contains("does not fit"))
            .unwrap()
            .1;
        let everything = snapshot.matching(&Query::default()).len();
        let excluded: usize = detail.excluded.iter().map(|e| e.1).sum();
        assert_eq!(all.total + excluded, everything);
        assert!(no_fit > 0);
        // Each score is exactly the model's estimate at the offer's price.
        let base = InferenceParams {
            precision: rank.precision,
            ..InferenceParams::default()
        };
        for (o, score) in all.offers.iter().zip(&detail.scores).take(50) {
            let gpu = o.gpu.unwrap();
            // 70B at FP8 needs ~70 GB of weights: never one 24 GB card.
            assert!(o.total_vram_gb().unwrap() >= 70.0, "{}", o.id);
            let tps = perf::serving(gpu, o.gpu_count, &rank.model, &base, rank.batch)
                .unwrap()
                .output_tokens_per_s;
            let want = perf::cost_per_mtok(o.price.unwrap().as_usd_f64(), tps);
            assert!(
                (score - want).abs() < 1e-9 * want.max(1.0),
                "{} {score} {want}",
                o.id
            );
        }
    }
}
