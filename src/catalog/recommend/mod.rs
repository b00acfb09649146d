//! The workload assistant's engine: from a [`WorkloadSpec`] to requirements, a ranked
//! shortlist of live offers with an estimated bill and the reasons for each pick, and what
//! was excluded and why.
//!
//! Every offer is checked in a fixed order (place, GPU, availability, price, memory fit,
//! throughput, budget); the first failed check is its exclusion reason, counted with
//! examples. Survivors are ranked by the most concrete cost known: the estimated total
//! for the job when its length is known, else the hourly cost of meeting a throughput
//! target, else USD per million tokens for a named model, else the hourly price. Equal
//! costs fall back to price, then id. One pick per provider, GPU model and GPU count keeps
//! the shortlist diverse.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Snapshot;
use crate::domain::gpu;
use crate::domain::offer::{Availability, Offer};
use crate::domain::perf::{self, Precision, TrainingParams};
use crate::domain::workload::{Task, WorkloadSpec};

/// Picks returned when the caller does not say.
pub const DEFAULT_PICKS: usize = 5;
/// Most picks returned.
pub const MAX_PICKS: usize = 20;
/// Concurrent requests assumed for serving when the workload does not say.
pub const DEFAULT_CONCURRENCY: u32 = 64;
/// Most instances of one offer combined to meet a throughput target.
pub const MAX_INSTANCES: u32 = 8;
/// Example offer ids kept per exclusion reason.
const EXAMPLES: usize = 3;

mod requirements;
pub use requirements::validate;
use requirements::*;

/// What the workload needs, as understood, with the assumptions made.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Requirements {
    pub task: Task,
    /// The model, when named or sized.
    pub model: Option<String>,
    pub model_params_b: Option<f64>,
    /// Precision used for the estimates ("auto" tries bf16, then fp8, then int4 per offer).
    pub precision: String,
    /// Fine-tuning or training method.
    pub method: Option<String>,
    /// Aggregate output tokens per second to reach.
    pub tokens_per_second: Option<f64>,
    /// Concurrent requests assumed when serving.
    pub concurrency: Option<u32>,
    pub total_tokens: Option<f64>,
    /// How long the capacity is needed, when known.
    pub duration_hours: Option<f64>,
    pub budget_per_hour: Option<f64>,
    pub budget_per_gpu_hour: Option<f64>,
    pub budget_total: Option<f64>,
    /// Place constraint, as asked: continent, country or region.
    pub place: Option<String>,
    pub gpu: Option<String>,
    pub gpu_count: Option<u32>,
    /// Least memory per GPU, GB.
    pub min_vram_gb: Option<f64>,
    pub spot_allowed: bool,
    /// Assumptions made where the workload was silent.
    pub assumptions: Vec<String>,
}

/// The estimate behind one pick.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Estimate {
    /// Instances of the offer rented together (more than 1 to reach a throughput target).
    pub instances: u32,
    /// `on_demand` or `spot`.
    pub price_kind: String,
    /// Hourly price of all instances, USD.
    pub hourly_usd: f64,
    /// Precision the estimate runs at.
    pub precision: Option<String>,
    /// Sustained output tokens per second of all instances.
    pub tokens_per_second: Option<f64>,
    pub usd_per_million_tokens: Option<f64>,
    /// Hours the job takes or the capacity is rented for.
    pub hours: Option<f64>,
    /// Estimated bill for those hours, USD.
    pub total_usd: Option<f64>,
}

/// One recommended offer.
#[derive(Clone, Debug)]
pub struct Pick<'a> {
    pub offer: &'a Offer,
    pub estimate: Estimate,
    /// Why this offer, in plain words.
    pub reasons: Vec<String>,
    /// The ranking key (lower is better).
    cost: f64,
}

/// Offers excluded for one reason.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Exclusion {
    pub reason: String,
    pub offers: usize,
    /// A few of their ids.
    pub examples: Vec<String>,
}

/// The engine's answer.
#[derive(Clone, Debug)]
pub struct Recommendation<'a> {
    pub requirements: Requirements,
    pub picks: Vec<Pick<'a>>,
    pub excluded: Vec<Exclusion>,
    /// Live offers looked at.
    pub considered: usize,
    /// Offers that passed every check (before one-per-kind and the limit).
    pub suitable: usize,
}

/// Recommends offers of `snapshot` for `spec`: at most `limit` picks.
pub fn recommend<'a>(
    snapshot: &'a Snapshot,
    spec: &WorkloadSpec,
    limit: usize,
) -> Recommendation<'a> {
    let (requirements, need) = requirements(spec);
    let limit = limit.clamp(1, MAX_PICKS);
    let mut excluded: BTreeMap<String, (usize, Vec<String>)> = BTreeMap::new();
    let mut exclude = |reason: String, id: &str| {
        let e = excluded.entry(reason).or_default();
        e.0 += 1;
        if e.1.len() < EXAMPLES {
            e.1.push(id.to_owned());
        }
    };
    // Speed estimates depend only on the GPU model and count.
    let mut serve_cache: HashMap<
        (&'static str, u32),
        Option<(Precision, perf::InferenceEstimate)>,
    > = HashMap::new();
    let mut train_cache: HashMap<(&'static str, u32), perf::TrainingEstimate> = HashMap::new();
    let mut picks: Vec<Pick<'a>> = Vec::new();
    let mut considered = 0;
    let place = requirements.place.clone();
    for o in snapshot.offers().iter().filter(|o| !snapshot.is_stale(o)) {
        considered += 1;
        match in_place(o, spec) {
            Some(true) => {}
            Some(false) => {
                exclude(format!("outside {}", place.as_deref().unwrap_or("")), &o.id);
                continue;
            }
            None => {
                exclude(
                    format!(
                        "location unknown, cannot confirm {}",
                        place.as_deref().unwrap_or("")
                    ),
                    &o.id,
                );
                continue;
            }
        }
        let Some(g) = o.gpu else {
            exclude(
                "GPU not in the registry, no specs to estimate with".into(),
                &o.id,
            );
            continue;
        };
        if let Some(wanted) = &spec.gpu {
            if !gpu::matches_family(g, wanted) {
                exclude(format!("not a {wanted}"), &o.id);
                continue;
            }
        }
        if let Some(n) = spec.gpu_count {
            if o.gpu_count != n {
                exclude(format!("not {n} GPUs"), &o.id);
                continue;
            }
        }
        if let Some(min) = spec.min_vram_gb {
            if o.gpu_memory_gb.unwrap_or(0.0) < min {
                exclude(format!("less than {min:.0} GB per GPU"), &o.id);
                continue;
            }
        }
        if o.availability == Availability::Unavailable {
            exclude("unavailable now".into(), &o.id);
            continue;
        }
        let on_demand = o.price.map(|p| p.as_usd_f64());
        let spot = o.spot_price.map(|p| p.as_usd_f64());
        let (price, kind) = match (on_demand, spot, requirements.spot_allowed) {
            (Some(d), Some(s), true) if s < d => (s, "spot"),
            (Some(d), _, _) => (d, "on_demand"),
            (None, Some(s), true) => (s, "spot"),
            (None, Some(_), false) => {
                exclude("spot-only offer and spot was not allowed".into(), &o.id);
                continue;
            }
            (None, None, _) => {
                exclude("no price".into(), &o.id);
                continue;
            }
        };
        let mut reasons = Vec::new();
        let mut estimate = Estimate {
            instances: 1,
            price_kind: kind.to_owned(),
            hourly_usd: price,
            precision: None,
            tokens_per_second: None,
            usd_per_million_tokens: None,
            hours: spec.duration_hours,
            total_usd: None,
        };
        match &need {
            Need::Llm {
                model,
                precision,
                concurrency,
                context,
            } => {
                let Some((p, est)) = serve_cache
                    .entry((g.model, o.gpu_count))
                    .or_insert_with(|| {
                        serving(g, o.gpu_count, model, *precision, *concurrency, *context)
                    })
                    .clone()
                else {
                    exclude(
                        format!(
                            "{} does not fit in the offer's GPU memory{}",
                            requirements.model.as_deref().unwrap_or("the model"),
                            precision.map(|p| format!(" at {p}")).unwrap_or_default()
                        ),
                        &o.id,
                    );
                    continue;
                };
                let per_instance = est.output_tokens_per_s;
                let for_speed = match spec.tokens_per_second {
                    Some(target) if per_instance > 0.0 => (target / per_instance).ceil().max(1.0),
                    _ => 1.0,
                };
                // Concurrency the user asked for that one instance cannot hold in memory.
                let for_users = match spec.concurrency {
                    Some(users) if est.batch_size < users => {
                        (f64::from(users) / f64::from(est.batch_size.max(1))).ceil()
                    }
                    _ => 1.0,
                };
                let instances = for_speed.max(for_users);
                if instances > f64::from(MAX_INSTANCES) {
                    exclude(
                        format!(
                            "too small: would need more than {MAX_INSTANCES} instances for the throughput or concurrency asked"
                        ),
                        &o.id,
                    );
                    continue;
                }
                let instances = instances as u32;
                if for_users > 1.0 {
                    reasons.push(format!(
                        "one instance holds {} concurrent requests in memory; {instances} serve the {} asked",
                        est.batch_size,
                        spec.concurrency.unwrap_or(0)
                    ));
                }
                estimate.instances = instances;
                estimate.hourly_usd = price * f64::from(instances);
                let tps = per_instance * f64::from(instances);
                estimate.precision = Some(p.to_string());
                estimate.tokens_per_second = Some(tps);
                let per_mtok = perf::cost_per_mtok(estimate.hourly_usd, tps);
                estimate.usd_per_million_tokens = per_mtok.is_finite().then_some(per_mtok);
                reasons.push(format!(
                    "fits {} at {p}: {:.1} GB needed of {:.1} GB",
                    requirements.model.as_deref().unwrap_or("the model"),
                    est.memory_needed_gb,
                    est.memory_available_gb
                ));
                let load = format!("{} concurrent requests", est.batch_size);
                match spec.tokens_per_second {
                    Some(target) => reasons.push(format!(
                        "about {} output tokens/s per instance at {load}; {instances} instance{} reach{} {} tokens/s for the {} asked",
                        count(per_instance),
                        if instances == 1 { "" } else { "s" },
                        if instances == 1 { "es" } else { "" },
                        count(tps),
                        count(target),
                    )),
                    None => reasons.push(format!("about {} output tokens/s at {load}", count(tps))),
                }
                if let Some(total) = spec.total_tokens {
                    estimate.hours = Some(total / tps / 3600.0);
                }
            }
            Need::Train {
                model,
                method,
                precision,
            } => {
                let est = train_cache
                    .entry((g.model, o.gpu_count))
                    .or_insert_with(|| {
                        perf::training(
                            g,
                            o.gpu_count,
                            model,
                            &TrainingParams {
                                tokens: spec.total_tokens.unwrap_or(1e9),
                                method: *method,
                                precision: *precision,
                                ..TrainingParams::default()
                            },
                        )
                    })
                    .clone();
                if !est.fits {
                    exclude(
                        format!(
                            "{} of {} does not fit: needs more memory per GPU than the offer has",
                            method_name(*method, spec.task),
                            requirements.model.as_deref().unwrap_or("training")
                        ),
                        &o.id,
                    );
                    continue;
                }
                estimate.precision = Some(precision.to_string());
                reasons.push(format!(
                    "{} of {} fits: {:.1} GB per GPU of {:.1} GB",
                    method_name(*method, spec.task),
                    requirements.model.as_deref().unwrap_or("the model"),
                    est.memory_per_gpu_gb,
                    est.memory_available_per_gpu_gb
                ));
                if let Some(tokens) = spec.total_tokens {
                    estimate.hours = Some(est.hours);
                    reasons.push(format!(
                        "{} tokens in about {:.1} h at {:.0} % MFU",
                        count(tokens),
                        est.hours,
                        est.mfu * 100.0
                    ));
                } else {
                    let per_hour = est.tokens / est.hours;
                    reasons.push(format!(
                        "trains about {} tokens per hour at {:.0} % MFU",
                        count(per_hour),
                        est.mfu * 100.0
                    ));
                }
            }
            Need::Memory(gb) => {
                if o.gpu_memory_gb.unwrap_or(0.0) < *gb {
                    exclude(format!("less than {gb:.0} GB per GPU"), &o.id);
                    continue;
                }
                reasons.push(format!(
                    "{:.0} GB per GPU, {gb:.0} GB needed",
                    o.gpu_memory_gb.unwrap_or(0.0)
                ));
            }
            Need::Nothing => {}
        }
        if let (Some(limit), Some(hours)) = (spec.duration_hours, estimate.hours) {
            if spec.total_tokens.is_some() && hours > limit {
                exclude(
                    format!("too slow: the job would take longer than the {limit} h asked"),
                    &o.id,
                );
                continue;
            }
        }
        estimate.total_usd = estimate.hours.map(|h| h * estimate.hourly_usd);
        if let Some(budget) = spec.budget_per_hour {
            if estimate.hourly_usd > budget {
                exclude(format!("over the {}/h budget", money(budget)), &o.id);
                continue;
            }
        }
        if let Some(budget) = spec.budget_per_gpu_hour {
            if estimate.hourly_usd / f64::from(o.gpu_count.max(1) * estimate.instances) > budget {
                exclude(format!("over the {}/GPU-hour budget", money(budget)), &o.id);
                continue;
            }
        }
        if let (Some(budget), Some(total)) = (spec.budget_total, estimate.total_usd) {
            if total > budget {
                exclude(format!("over the {} total budget", money(budget)), &o.id);
                continue;
            }
        }
        reasons.push(format!(
            "{}/h {}{}",
            money(estimate.hourly_usd),
            if kind == "spot" { "spot" } else { "on-demand" },
            match (spec.budget_per_hour, estimate.instances) {
                (Some(b), _) => format!(", within the {}/h budget", money(b)),
                (None, n) if n > 1 => format!(" for {n} instances"),
                _ => String::new(),
            }
        ));
        if let (Some(h), Some(total)) = (estimate.hours, estimate.total_usd) {
            reasons.push(format!("estimated {} for {h:.1} h", money(total)));
        }
        if let Some(p) = &place {
            let where_ = match (&o.country, o.continent) {
                (Some(c), Some(k)) => format!("{c}, {k}"),
                _ => o.region.clone(),
            };
            reasons.push(format!("in {where_}, as asked ({p})"));
        }
        let cost = if let Some(total) = estimate.total_usd {
            total
        } else if spec.tokens_per_second.is_some() {
            estimate.hourly_usd
        } else if let Some(c) = estimate.usd_per_million_tokens {
            c
        } else {
            estimate.hourly_usd
        };
        estimate.hourly_usd = round(estimate.hourly_usd, 4);
        estimate.total_usd = estimate.total_usd.map(|t| round(t, 2));
        estimate.tokens_per_second = estimate.tokens_per_second.map(|t| round(t, 1));
        estimate.usd_per_million_tokens = estimate.usd_per_million_tokens.map(|c| round(c, 4));
        estimate.hours = estimate.hours.map(|h| round(h, 2));
        picks.push(Pick {
            offer: o,
            estimate,
            reasons,
            cost,
        });
    }
    let suitable = picks.len();
    picks.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(a.estimate.hourly_usd.total_cmp(&b.estimate.hourly_usd))
            .then_with(|| a.offer.id.cmp(&b.offer.id))
    });
    let mut kinds = HashSet::new();
    picks.retain(|p| {
        kinds.insert((
            p.offer.provider.clone(),
            p.offer.gpu_model(),
            p.offer.gpu_count,
        ))
    });
    picks.truncate(limit);
    let first = picks.first().map(|p| &p.estimate);
    let basis = if first.is_some_and(|e| e.total_usd.is_some()) {
        "lowest estimated total"
    } else if spec.tokens_per_second.is_some() {
        "lowest hourly cost for the target throughput"
    } else if first.is_some_and(|e| e.usd_per_million_tokens.is_some()) {
        "lowest cost per million tokens"
    } else {
        "lowest hourly price"
    };
    for (i, p) in picks.iter_mut().enumerate() {
        let why = if i == 0 {
            format!("{basis} of {suitable} suitable offers")
        } else {
            format!("#{} by {basis}", i + 1)
        };
        p.reasons.insert(0, why);
    }
    let mut excluded: Vec<Exclusion> = excluded
        .into_iter()
        .map(|(reason, (offers, examples))| Exclusion {
            reason,
            offers,
            examples,
        })
        .collect();
    excluded.sort_by(|a, b| {
        b.offers
            .cmp(&a.offers)
            .then_with(|| a.reason.cmp(&b.reason))
    });
    Recommendation {
        requirements,
        picks,
        excluded,
        considered,
        suitable,
    }
}
