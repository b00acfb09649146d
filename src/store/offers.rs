//! Catalog storage: live offers, their price history and source health.
//!
//! Ingestion writes only what changed, in one transaction per fetch: new offers are
//! upserted (an offer that comes back is reopened), changed offers are updated and get a
//! history point when price, spot price or availability moved, vanished offers are closed.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{in_tx, on_pool, Store, StoreError};
use crate::catalog::ingest::IngestDiff;
use crate::domain::gpu;
use crate::domain::money::MicroUsd;
use crate::domain::offer::{Availability, Offer};

/// A stored offer row.
#[derive(Debug, sqlx::FromRow)]
struct OfferRow {
    id: String,
    source: String,
    provider: String,
    instance_type: String,
    region: String,
    zone: Option<String>,
    country: Option<String>,
    continent: Option<String>,
    gpu_model: Option<String>,
    gpu_raw: String,
    gpu_count: i32,
    gpu_memory_gb: Option<f64>,
    vcpus: Option<f64>,
    ram_gb: Option<f64>,
    disk_gb: Option<f64>,
    price_micro: Option<i64>,
    spot_price_micro: Option<i64>,
    availability: String,
    extras: String,
}

/// One point of an offer's price history.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct PricePoint {
    pub observed_at: DateTime<Utc>,
    pub price_micro: Option<i64>,
    pub spot_price_micro: Option<i64>,
    pub availability: String,
}

/// Health of one source as recorded by ingestion.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct SourceHealth {
    pub source: String,
    pub last_attempt_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_latency_ms: Option<i64>,
    pub successes: i64,
    pub failures: i64,
    pub live_offers: i32,
}

const OFFER_COLUMNS: &str =
    "id, source, provider, instance_type, region, zone, country, continent, \
    gpu_model, gpu_raw, gpu_count, gpu_memory_gb, vcpus, ram_gb, disk_gb, price_micro, \
    spot_price_micro, availability, extras";

impl OfferRow {
    fn into_offer(self) -> Offer {
        let continent = self.continent.as_deref().and_then(static_continent);
        Offer {
            gpu: self.gpu_model.as_deref().and_then(gpu::lookup),
            id: self.id,
            source: self.source,
            provider: self.provider,
            instance_type: self.instance_type,
            region: self.region,
            zone: self.zone,
            country: self.country,
            continent,
            gpu_raw: self.gpu_raw,
            gpu_count: u32::try_from(self.gpu_count).unwrap_or(0),
            gpu_memory_gb: self.gpu_memory_gb,
            vcpus: self.vcpus,
            ram_gb: self.ram_gb,
            disk_gb: self.disk_gb,
            price: self.price_micro.map(MicroUsd),
            spot_price: self.spot_price_micro.map(MicroUsd),
            availability: parse_availability(&self.availability),
            extras: serde_json::from_str::<Map<String, Value>>(&self.extras).unwrap_or_default(),
        }
    }
}

fn static_continent(code: &str) -> Option<&'static str> {
    ["AF", "AN", "AS", "EU", "NA", "OC", "SA"]
        .into_iter()
        .find(|c| *c == code)
}

/// Lowercase name of an availability state, as stored.
pub fn availability_name(a: Availability) -> &'static str {
    match a {
        Availability::Available => "available",
        Availability::Limited => "limited",
        Availability::Unavailable => "unavailable",
        Availability::Unknown => "unknown",
    }
}

fn parse_availability(s: &str) -> Availability {
    match s {
        "available" => Availability::Available,
        "limited" => Availability::Limited,
        "unavailable" => Availability::Unavailable,
        _ => Availability::Unknown,
    }
}

macro_rules! bind_offer {
    ($query:expr, $o:expr, $now:expr) => {
        $query
            .bind(&$o.id)
            .bind(&$o.source)
            .bind(&$o.provider)
            .bind(&$o.instance_type)
            .bind(&$o.region)
            .bind(&$o.zone)
            .bind(&$o.country)
            .bind($o.continent)
            .bind($o.gpu_model())
            .bind(&$o.gpu_raw)
            .bind(i32::try_from($o.gpu_count).unwrap_or(i32::MAX))
            .bind($o.gpu_memory_gb)
            .bind($o.vcpus)
            .bind($o.ram_gb)
            .bind($o.disk_gb)
            .bind($o.price.map(|p| p.0))
            .bind($o.spot_price.map(|p| p.0))
            .bind(availability_name($o.availability))
            .bind(Value::Object($o.extras.clone()).to_string())
            .bind($now)
    };
}

const UPSERT: &str = "INSERT INTO offers (id, source, provider, instance_type, region, zone, country, \
    continent, gpu_model, gpu_raw, gpu_count, gpu_memory_gb, vcpus, ram_gb, disk_gb, price_micro, \
    spot_price_micro, availability, extras, first_seen, last_changed, closed_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20, NULL) \
    ON CONFLICT (id) DO UPDATE SET source = excluded.source, provider = excluded.provider, \
    instance_type = excluded.instance_type, region = excluded.region, zone = excluded.zone, \
    country = excluded.country, continent = excluded.continent, gpu_model = excluded.gpu_model, \
    gpu_raw = excluded.gpu_raw, gpu_count = excluded.gpu_count, gpu_memory_gb = excluded.gpu_memory_gb, \
    vcpus = excluded.vcpus, ram_gb = excluded.ram_gb, disk_gb = excluded.disk_gb, \
    price_micro = excluded.price_micro, spot_price_micro = excluded.spot_price_micro, \
    availability = excluded.availability, extras = excluded.extras, last_changed = excluded.last_changed, \
    closed_at = NULL";

const HISTORY: &str = "INSERT INTO offer_price_changes (offer_id, observed_at, price_micro, spot_price_micro, availability) \
    VALUES ($1, $2, $3, $4, $5)";

const CLOSE: &str = "UPDATE offers SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL";

const HEALTH_SUCCESS: &str =
    "INSERT INTO source_health (source, last_attempt_at, last_success_at, last_latency_ms, \
    successes, failures, live_offers) VALUES ($1, $2, $2, $3, 1, 0, $4) \
    ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, \
    last_success_at = excluded.last_success_at, last_latency_ms = excluded.last_latency_ms, \
    successes = source_health.successes + 1, live_offers = excluded.live_offers";

const HEALTH_FAILURE: &str = "INSERT INTO source_health (source, last_attempt_at, last_error, last_error_at, last_latency_ms, \
    successes, failures, live_offers) VALUES ($1, $2, $3, $2, $4, 0, 1, 0) \
    ON CONFLICT (source) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, \
    last_error = excluded.last_error, last_error_at = excluded.last_error_at, \
    last_latency_ms = excluded.last_latency_ms, failures = source_health.failures + 1";

/// Runs the writes of one ingest inside `$tx` (a transaction of either backend).
macro_rules! apply_diff {
    ($tx:expr, $source:expr, $diff:expr, $now:expr, $latency:expr, $live:expr) => {{
        for offer in $diff.added.iter().chain($diff.changed.iter()) {
            bind_offer!(sqlx::query(UPSERT), offer, $now)
                .execute(&mut *$tx)
                .await?;
        }
        for offer in $diff.added.iter().chain($diff.repriced.iter()) {
            sqlx::query(HISTORY)
                .bind(&offer.id)
                .bind($now)
                .bind(offer.price.map(|p| p.0))
                .bind(offer.spot_price.map(|p| p.0))
                .bind(availability_name(offer.availability))
                .execute(&mut *$tx)
                .await?;
        }
        for id in &$diff.closed {
            sqlx::query(CLOSE)
                .bind(id)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query(HEALTH_SUCCESS)
            .bind($source)
            .bind($now)
            .bind($latency)
            .bind($live)
            .execute(&mut *$tx)
            .await?;
    }};
}

impl Store {
    /// Every live (not closed) offer, for loading the catalog snapshot.
    #[tracing::instrument(skip_all)]
    pub async fn live_offers(&self) -> Result<Vec<Offer>, StoreError> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE closed_at IS NULL ORDER BY id");
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, OfferRow>(&sql)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(OfferRow::into_offer).collect())
    }

    /// Live offers of one source.
    #[tracing::instrument(skip_all)]
    pub async fn live_offers_of(&self, source: &str) -> Result<Vec<Offer>, StoreError> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM offers WHERE closed_at IS NULL AND source = $1 ORDER BY id");
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, OfferRow>(&sql)
            .bind(source)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(OfferRow::into_offer).collect())
    }

    /// Applies one successful fetch of `source` in a single transaction.
    #[tracing::instrument(skip_all, fields(source = source))]
    pub async fn apply_ingest(
        &self,
        source: &str,
        diff: &IngestDiff,
        now: DateTime<Utc>,
        latency_ms: i64,
    ) -> Result<(), StoreError> {
        let live = i32::try_from(diff.live).unwrap_or(i32::MAX);
        in_tx!(self, |tx| {
            apply_diff!(tx, source, diff, now, latency_ms, live);
        });
        Ok(())
    }

    /// Records a failed fetch of `source` (its offers stay as they were).
    #[tracing::instrument(skip_all, fields(source = source))]
    pub async fn record_source_failure(
        &self,
        source: &str,
        error: &str,
        now: DateTime<Utc>,
        latency_ms: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(HEALTH_FAILURE)
            .bind(source)
            .bind(now)
            .bind(error)
            .bind(latency_ms)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Health of every source that was ever fetched, by source id.
    #[tracing::instrument(skip_all)]
    pub async fn source_health(&self) -> Result<Vec<SourceHealth>, StoreError> {
        let sql = "SELECT source, last_attempt_at, last_success_at, last_error, last_error_at, \
                   last_latency_ms, successes, failures, live_offers FROM source_health ORDER BY source";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, SourceHealth>(sql)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// Price history of one offer, oldest first, at most `limit` newest points.
    #[tracing::instrument(skip_all)]
    pub async fn offer_history(
        &self,
        offer_id: &str,
        limit: i64,
    ) -> Result<Vec<PricePoint>, StoreError> {
        let sql = "SELECT observed_at, price_micro, spot_price_micro, availability FROM offer_price_changes \
                   WHERE offer_id = $1 ORDER BY observed_at DESC, id DESC LIMIT $2";
        let mut rows = on_pool!(self, |pool| sqlx::query_as::<_, PricePoint>(sql)
            .bind(offer_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.reverse();
        Ok(rows)
    }
}
