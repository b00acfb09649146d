//! Reads of the price history for market KPIs: prices as they stood at a past instant,
//! price changes in a window, and when each GPU model first appeared.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError};

/// An offer's price as it stood at some instant.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct PastPrice {
    pub offer_id: String,
    pub provider: String,
    pub gpu_model: Option<String>,
    pub gpu_count: i32,
    pub price_micro: Option<i64>,
}

/// One recorded price of one offer.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct PriceObservation {
    pub offer_id: String,
    pub observed_at: DateTime<Utc>,
    pub price_micro: Option<i64>,
}

/// When a GPU model was first offered.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct ModelDebut {
    pub gpu_model: String,
    pub first_seen: DateTime<Utc>,
}

impl Store {
    /// Every live offer's price as it stood at `at`: its last recorded price at or before
    /// `at`, or, for an offer first seen later, its first recorded price (so a window
    /// compares each offer with its own earliest price inside it).
    #[tracing::instrument(skip_all)]
    pub async fn prices_at(&self, at: DateTime<Utc>) -> Result<Vec<PastPrice>, StoreError> {
        let sql = "SELECT o.id AS offer_id, o.provider, o.gpu_model, o.gpu_count, h.price_micro \
            FROM offers o JOIN offer_price_changes h ON h.id = COALESCE( \
                (SELECT h2.id FROM offer_price_changes h2 \
                 WHERE h2.offer_id = o.id AND h2.observed_at <= $1 \
                 ORDER BY h2.observed_at DESC, h2.id DESC LIMIT 1), \
                (SELECT h3.id FROM offer_price_changes h3 \
                 WHERE h3.offer_id = o.id AND h3.observed_at > $1 \
                 ORDER BY h3.observed_at, h3.id LIMIT 1)) \
            WHERE o.closed_at IS NULL";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, PastPrice>(sql)
            .bind(at)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// When the oldest recorded price was observed; `None` before the first ingest.
    #[tracing::instrument(skip_all)]
    pub async fn first_observation(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sql = "SELECT observed_at FROM offer_price_changes ORDER BY observed_at, id LIMIT 1";
        let first = on_pool!(self, |pool| sqlx::query_scalar::<_, DateTime<Utc>>(sql)
            .fetch_optional(pool)
            .await)?;
        Ok(first)
    }

    /// Price observations of `provider`'s offers since `since`, each offer's last one before
    /// `since` included as its baseline; by offer, then time.
    #[tracing::instrument(skip_all)]
    pub async fn provider_price_changes(
        &self,
        provider: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<PriceObservation>, StoreError> {
        let sql = "SELECT h.offer_id, h.observed_at, h.price_micro \
            FROM offer_price_changes h JOIN offers o ON o.id = h.offer_id \
            WHERE o.provider = $1 AND (h.observed_at >= $2 OR h.id = ( \
                SELECT h2.id FROM offer_price_changes h2 \
                WHERE h2.offer_id = h.offer_id AND h2.observed_at < $2 \
                ORDER BY h2.observed_at DESC, h2.id DESC LIMIT 1)) \
            ORDER BY h.offer_id, h.observed_at, h.id";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, PriceObservation>(sql)
            .bind(provider)
            .bind(since)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }

    /// GPU models whose first offer appeared at or after `since`, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn models_first_seen_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<ModelDebut>, StoreError> {
        let sql = "SELECT gpu_model, MIN(first_seen) AS first_seen FROM offers \
            WHERE gpu_model IS NOT NULL GROUP BY gpu_model HAVING MIN(first_seen) >= $1 \
            ORDER BY first_seen DESC, gpu_model";
        let rows = on_pool!(self, |pool| sqlx::query_as::<_, ModelDebut>(sql)
            .bind(since)
            .fetch_all(pool)
            .await)?;
        Ok(rows)
    }
}
