//! Offer search, detail, history and facets.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query as QueryParams, State};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::offer_view::{last_success, warnings, OfferView, SourceWarning};
use crate::app::AppState;
use crate::catalog::live::Catalog;
use crate::catalog::search::DEFAULT_LIMIT;
use crate::domain::query::{Field, Query, MAX_LIMIT};
use crate::domain::ranking::Direction;
use crate::error::{ApiError, ErrorBody};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_offers))
        .routes(routes!(offer_facets))
        .routes(routes!(get_offer))
        .routes(routes!(offer_history))
}

/// Query parameters of `GET /api/v2/offers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// A query in the catalog query language, e.g. `gpu=H100 price<30 sort=price`.
    pub q: Option<String>,
    /// Page size (1–1000, default 50); overrides a `limit=` in the query.
    pub limit: Option<u32>,
    /// Opaque cursor from `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Plain-parameter form: any query field (`gpu=H100`, `provider=lambda`), `min_<field>`,
    /// `max_<field>` and `sort`; combined with `q`.
    #[serde(flatten)]
    #[param(ignore)]
    pub fields: BTreeMap<String, String>,
}

/// One page of search results.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferSearchResponse {
    pub offers: Vec<OfferView>,
    /// Offers matching the query in all pages.
    pub total: usize,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Sources that are failing or stale: results may be missing or old.
    pub warnings: Vec<SourceWarning>,
    /// The query as understood, in canonical form.
    pub query: String,
    /// How a computed ranking (`sort=topsis`) ordered the results; absent for field sorts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking: Option<RankingView>,
}

/// How a computed ranking ordered this search's matches.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RankingView {
    /// `topsis`: each offer's `score` is its closeness to the ideal offer over the whole
    /// filtered set, 0–1, higher is better. `cost_per_mtok`: `score` is USD per million
    /// output tokens of serving the query's model, lower is better.
    pub method: String,
    /// TOPSIS criteria as applied (empty for `cost_per_mtok`).
    pub criteria: Vec<CriterionView>,
    /// Matches the ranking could not score, with the reason; they are not in `total`.
    pub excluded: Vec<ExclusionView>,
}

/// Offers left out of a ranking for one reason.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExclusionView {
    pub reason: String,
    pub offers: usize,
}

/// One weighted criterion.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CriterionView {
    pub name: String,
    /// Normalised weight (all weights sum to 1).
    pub weight: f64,
    /// `benefit` (more is better) or `cost` (less is better).
    pub direction: Direction,
    /// Matches without this value; they were given the mean of the others.
    pub missing: usize,
}

/// Search offers.
#[utoipa::path(get, path = "/api/v2/offers", tag = "catalog", params(SearchParams),
    responses(
        (status = 200, description = "A page of offers", body = OfferSearchResponse),
        (status = 400, description = "Invalid query, parameter or cursor", body = ErrorBody)
    ))]
pub async fn list_offers(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<SearchParams>,
) -> Result<Json<OfferSearchResponse>, ApiError> {
    let query = parse_params(params.q.as_deref(), &params.fields)?;
    let limit = params.limit.or(query.limit).unwrap_or(DEFAULT_LIMIT as u32);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be from 1 to {MAX_LIMIT}"
        )));
    }
    let offset = match &params.cursor {
        Some(cursor) => decode_cursor(cursor, &query.to_string())?,
        None => 0,
    };
    Ok(Json(search_response(
        &state.catalog,
        &query,
        offset,
        limit as usize,
    )))
}

/// One page of `query` over the live catalog (shared by the API and the local CLI).
pub fn search_response(
    catalog: &Catalog,
    query: &Query,
    offset: usize,
    limit: usize,
) -> OfferSearchResponse {
    let snapshot = catalog.snapshot();
    let statuses = catalog.statuses();
    let page = snapshot.search_page(query, offset, limit);
    let seen = last_success(&statuses);
    let canonical = query.to_string();
    let next = offset + page.offers.len();
    let scores = page.ranking.as_ref().map(|r| r.scores.as_slice());
    OfferSearchResponse {
        offers: page
            .offers
            .iter()
            .enumerate()
            .map(|(k, o)| {
                let mut view = OfferView::new(o, &snapshot, &seen);
                view.score = scores.and_then(|s| s.get(k)).copied();
                view
            })
            .collect(),
        total: page.total,
        next_cursor: (next < page.total).then(|| encode_cursor(next, &canonical)),
        warnings: warnings(&statuses),
        query: canonical,
        ranking: page.ranking.map(|r| RankingView {
            method: r.method.to_owned(),
            criteria: r
                .criteria
                .into_iter()
                .map(|c| CriterionView {
                    name: c.name.to_owned(),
                    weight: c.weight,
                    direction: c.direction,
                    missing: c.missing,
                })
                .collect(),
            excluded: r
                .excluded
                .into_iter()
                .map(|(reason, offers)| ExclusionView {
                    reason: reason.to_owned(),
                    offers,
                })
                .collect(),
        }),
    }
}

/// Builds one query from `q` and the plain parameters.
pub fn parse_params(q: Option<&str>, fields: &BTreeMap<String, String>) -> Result<Query, ApiError> {
    let mut text = q.unwrap_or_default().to_owned();
    for (name, value) in fields {
        let quoted = format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
        let term = if matches!(
            name.as_str(),
            "sort" | "weights" | "model" | "precision" | "batch"
        ) {
            format!("{name}={quoted}")
        } else if let Some(field) = name.strip_prefix("min_") {
            format!("{field}>={quoted}")
        } else if let Some(field) = name.strip_prefix("max_") {
            format!("{field}<={quoted}")
        } else if Field::from_name(name).is_some() {
            format!("{name}={quoted}")
        } else {
            return Err(ApiError::BadRequest(format!("unknown parameter {name:?}")));
        };
        text.push(' ');
        text.push_str(&term);
    }
    Query::parse(&text).map_err(|e| ApiError::InvalidQuery(e.to_string()))
}

fn checksum(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn encode_cursor(offset: usize, query: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{:08x}", checksum(query)))
}

fn decode_cursor(cursor: &str, query: &str) -> Result<usize, ApiError> {
    let invalid = || {
        ApiError::BadRequest(
            "invalid cursor: use next_cursor from the previous page of the same query".into(),
        )
    };
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(offset), Some(sum), None)
            if sum == format!("{:08x}", checksum(query)) =>
        {
            offset.parse().map_err(|_| invalid())
        }
        _ => Err(invalid()),
    }
}

/// One offer.
#[utoipa::path(get, path = "/api/v2/offers/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "The offer", body = OfferView),
        (status = 404, description = "No live offer with this id", body = ErrorBody)
    ))]
pub async fn get_offer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OfferView>, ApiError> {
    let snapshot = state.catalog.snapshot();
    let offer = snapshot
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no offer {id:?}")))?;
    let seen = last_success(&state.catalog.statuses());
    Ok(Json(OfferView::new(offer, &snapshot, &seen)))
}

/// One point of price history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PricePointView {
    pub observed_at: DateTime<Utc>,
    pub price_per_hour: Option<f64>,
    pub spot_price_per_hour: Option<f64>,
    pub availability: String,
}

/// Price history of an offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferHistoryResponse {
    pub offer_id: String,
    /// Oldest first; one point per observed change.
    pub points: Vec<PricePointView>,
}

/// Price and availability changes of one offer, oldest first (at most the 1000 newest).
#[utoipa::path(get, path = "/api/v2/offers/{id}/history", tag = "catalog",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "Price history", body = OfferHistoryResponse),
        (status = 404, description = "Unknown offer", body = ErrorBody)
    ))]
pub async fn offer_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OfferHistoryResponse>, ApiError> {
    let points = state.store.offer_history(&id, 1000).await?;
    if points.is_empty() && state.catalog.snapshot().get(&id).is_none() {
        return Err(ApiError::NotFound(format!("no offer {id:?}")));
    }
    let micros = |m: Option<i64>| m.map(|v| crate::domain::money::MicroUsd(v).as_usd_f64());
    let points = points
        .into_iter()
        .map(|p| PricePointView {
            observed_at: p.observed_at,
            price_per_hour: micros(p.price_micro),
            spot_price_per_hour: micros(p.spot_price_micro),
            availability: p.availability,
        })
        .collect();
    Ok(Json(OfferHistoryResponse {
        offer_id: id,
        points,
    }))
}

/// A value and how many matching offers have it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: usize,
    /// Cheapest on-demand price per GPU-hour among them.
    pub min_price_per_gpu_hour: Option<f64>,
}

/// Price spread per GPU-hour of the matching offers.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct PriceRange {
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub max: Option<f64>,
}

/// Facets of the offers matching a query.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FacetsResponse {
    pub total: usize,
    pub gpus: Vec<FacetCount>,
    pub providers: Vec<FacetCount>,
    /// The 50 regions with most offers.
    pub regions: Vec<FacetCount>,
    pub countries: Vec<FacetCount>,
    pub price_per_gpu_hour: PriceRange,
    pub warnings: Vec<SourceWarning>,
}

/// Query parameters of the facets endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FacetParams {
    /// A query in the catalog query language (its sort and limit are ignored).
    pub q: Option<String>,
}

/// Counts by GPU, provider, region and country, and the price range, of matching offers.
#[utoipa::path(get, path = "/api/v2/offers/facets", tag = "catalog", params(FacetParams),
    responses(
        (status = 200, description = "Facets", body = FacetsResponse),
        (status = 400, description = "Invalid query", body = ErrorBody)
    ))]
pub async fn offer_facets(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<FacetParams>,
) -> Result<Json<FacetsResponse>, ApiError> {
    let query = parse_params(params.q.as_deref(), &BTreeMap::new())?;
    let snapshot = state.catalog.snapshot();
    let hits = snapshot.matching(&query);
    let facet = |key: &dyn Fn(&crate::domain::offer::Offer) -> Option<String>, top: usize| {
        let mut groups: HashMap<String, (usize, Option<f64>)> = HashMap::new();
        for offer in &hits {
            let Some(k) = key(offer) else { continue };
            let entry = groups.entry(k).or_insert((0, None));
            entry.0 += 1;
            if let Some(p) = offer.price_per_gpu().map(|p| p.as_usd_f64()) {
                entry.1 = Some(entry.1.map_or(p, |m: f64| m.min(p)));
            }
        }
        let mut list: Vec<FacetCount> = groups
            .into_iter()
            .map(|(value, (count, min))| FacetCount {
                value,
                count,
                min_price_per_gpu_hour: min,
            })
            .collect();
        list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        list.truncate(top);
        list
    };
    let mut prices: Vec<f64> = hits
        .iter()
        .filter_map(|o| o.price_per_gpu().map(|p| p.as_usd_f64()))
        .collect();
    prices.sort_by(f64::total_cmp);
    Ok(Json(FacetsResponse {
        total: hits.len(),
        gpus: facet(
            &|o| Some(o.gpu_model().unwrap_or("unknown").to_owned()),
            usize::MAX,
        ),
        providers: facet(&|o| Some(o.provider.clone()), usize::MAX),
        regions: facet(&|o| Some(o.region.clone()), 50),
        countries: facet(&|o| o.country.clone(), usize::MAX),
        price_per_gpu_hour: PriceRange {
            min: prices.first().copied(),
            median: prices.get(prices.len() / 2).copied(),
            max: prices.last().copied(),
        },
        warnings: warnings(&state.catalog.statuses()),
    }))
}
