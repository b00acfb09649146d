//! Pod agent tokens (their SHA-256 hex only) and the downsampled GPU telemetry of pods:
//! one row per (pod, GPU, minute) holding sums, counts and maxima, merged by upsert so
//! averages combine exactly whichever backend and however many posts a minute takes.

use chrono::{DateTime, Utc};

use super::pods::PodRow;
use super::{in_tx, on_pool, Store, StoreError};

/// One (pod, GPU, minute) aggregate to merge into the stored one.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryBucket {
    pub gpu_index: i64,
    /// Whole minutes since the Unix epoch (UTC).
    pub minute: i64,
    pub uuid: String,
    pub name: String,
    pub samples: i64,
    pub util_n: i64,
    pub util_sum: f64,
    pub util_max: Option<f64>,
    pub mem_n: i64,
    pub mem_used_sum: i64,
    pub mem_used_max: Option<i64>,
    pub mem_total: Option<i64>,
    pub temp_max: Option<i64>,
    pub power_n: i64,
    pub power_sum: f64,
    pub power_max: Option<f64>,
    pub power_limit: Option<f64>,
    /// The newest sample's time, whole seconds.
    pub last_at: DateTime<Utc>,
}

/// Stored aggregates re-aggregated to `step` minutes for one GPU.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct TelemetryRow {
    pub gpu_index: i64,
    /// First minute of the step (minutes since the Unix epoch).
    pub bucket: i64,
    pub uuid: String,
    pub name: String,
    pub samples: i64,
    pub util_n: i64,
    pub util_sum: f64,
    pub util_max: Option<f64>,
    pub mem_n: i64,
    pub mem_used_sum: i64,
    pub mem_used_max: Option<i64>,
    pub mem_total: Option<i64>,
    pub temp_max: Option<i64>,
    pub power_n: i64,
    pub power_sum: f64,
    pub power_max: Option<f64>,
    pub last_at: DateTime<Utc>,
}

/// `CASE` choosing the larger of the stored and the incoming value; a NULL never wins.
fn greater(column: &str) -> String {
    format!(
        "{column} = CASE WHEN pod_telemetry.{column} IS NULL \
         OR excluded.{column} > pod_telemetry.{column} \
         THEN excluded.{column} ELSE pod_telemetry.{column} END"
    )
}

fn upsert_sql() -> String {
    let sums: Vec<String> = [
        "samples",
        "util_n",
        "util_sum",
        "mem_n",
        "mem_used_sum",
        "power_n",
        "power_sum",
    ]
    .iter()
    .map(|c| format!("{c} = pod_telemetry.{c} + excluded.{c}"))
    .collect();
    let maxima: Vec<String> = ["util_max", "mem_used_max", "temp_max", "power_max"]
        .iter()
        .map(|c| greater(c))
        .collect();
    format!(
        "INSERT INTO pod_telemetry (pod_id, gpu_index, minute, uuid, name, samples, util_n, \
         util_sum, util_max, mem_n, mem_used_sum, mem_used_max, mem_total, temp_max, power_n, \
         power_sum, power_max, power_limit, last_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
         ON CONFLICT (pod_id, gpu_index, minute) DO UPDATE SET {}, {}, \
         uuid = excluded.uuid, name = excluded.name, \
         mem_total = COALESCE(excluded.mem_total, pod_telemetry.mem_total), \
         power_limit = COALESCE(excluded.power_limit, pod_telemetry.power_limit), \
         last_at = CASE WHEN excluded.last_at > pod_telemetry.last_at \
         THEN excluded.last_at ELSE pod_telemetry.last_at END",
        sums.join(", "),
        maxima.join(", ")
    )
}

impl Store {
    /// Sets pod `pod_id`'s agent token hash, replacing any earlier one.
    #[tracing::instrument(skip_all)]
    pub async fn pod_agent_token_set(
        &self,
        pod_id: &str,
        token_hash: &str,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO pod_agent_tokens (pod_id, token_hash, created_at) \
            VALUES ($1, $2, $3) ON CONFLICT (pod_id) DO UPDATE SET \
            token_hash = excluded.token_hash, created_at = excluded.created_at";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(pod_id)
            .bind(token_hash)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The pod whose agent token hashes to `token_hash`.
    #[tracing::instrument(skip_all)]
    pub async fn pod_by_agent_token(&self, token_hash: &str) -> Result<Option<PodRow>, StoreError> {
        let sql = "SELECT pod_id FROM pod_agent_tokens WHERE token_hash = $1";
        let pod_id: Option<(String,)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(token_hash)
            .fetch_optional(pool)
            .await)?;
        match pod_id {
            Some((id,)) => self.pod(&id).await,
            None => Ok(None),
        }
    }

    /// Merges `buckets` into pod `pod_id`'s stored telemetry, in one transaction.
    #[tracing::instrument(skip_all, fields(buckets = buckets.len()))]
    pub async fn telemetry_merge(
        &self,
        pod_id: &str,
        buckets: &[TelemetryBucket],
    ) -> Result<(), StoreError> {
        let sql = upsert_sql();
        in_tx!(self, |tx| {
            for b in buckets {
                sqlx::query(&sql)
                    .bind(pod_id)
                    .bind(b.gpu_index)
                    .bind(b.minute)
                    .bind(&b.uuid)
                    .bind(&b.name)
                    .bind(b.samples)
                    .bind(b.util_n)
                    .bind(b.util_sum)
                    .bind(b.util_max)
                    .bind(b.mem_n)
                    .bind(b.mem_used_sum)
                    .bind(b.mem_used_max)
                    .bind(b.mem_total)
                    .bind(b.temp_max)
                    .bind(b.power_n)
                    .bind(b.power_sum)
                    .bind(b.power_max)
                    .bind(b.power_limit)
                    .bind(b.last_at)
                    .execute(&mut *tx)
                    .await?;
            }
        });
        Ok(())
    }

    /// Pod `pod_id`'s telemetry from minute `since` on, summed per GPU over steps of
    /// `step` minutes (aligned to the epoch), ordered by GPU then time.
    #[tracing::instrument(skip_all)]
    pub async fn telemetry_series(
        &self,
        pod_id: &str,
        since: i64,
        step: i64,
    ) -> Result<Vec<TelemetryRow>, StoreError> {
        let sql = "SELECT gpu_index, (minute / $2) * $2 AS bucket, MAX(uuid) AS uuid, \
            MAX(name) AS name, CAST(SUM(samples) AS BIGINT) AS samples, \
            CAST(SUM(util_n) AS BIGINT) AS util_n, SUM(util_sum) AS util_sum, \
            MAX(util_max) AS util_max, CAST(SUM(mem_n) AS BIGINT) AS mem_n, \
            CAST(SUM(mem_used_sum) AS BIGINT) AS mem_used_sum, \
            MAX(mem_used_max) AS mem_used_max, MAX(mem_total) AS mem_total, \
            MAX(temp_max) AS temp_max, CAST(SUM(power_n) AS BIGINT) AS power_n, \
            SUM(power_sum) AS power_sum, MAX(power_max) AS power_max, MAX(last_at) AS last_at \
            FROM pod_telemetry WHERE pod_id = $1 AND minute >= $3 \
            GROUP BY gpu_index, bucket ORDER BY gpu_index, bucket";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(pod_id)
            .bind(step)
            .bind(since)
            .fetch_all(pool)
            .await)?)
    }

    /// The newest telemetry sample time of pod `pod_id`, if any was ever kept.
    #[tracing::instrument(skip_all)]
    pub async fn telemetry_last_at(
        &self,
        pod_id: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sql = "SELECT last_at FROM pod_telemetry WHERE pod_id = $1 \
            ORDER BY minute DESC, last_at DESC LIMIT 1";
        let row: Option<(DateTime<Utc>,)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(pod_id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(at,)| at))
    }

    /// Deletes telemetry of minutes before `minute`; answers the rows deleted.
    #[tracing::instrument(skip_all)]
    pub async fn telemetry_prune(&self, minute: i64) -> Result<u64, StoreError> {
        let sql = "DELETE FROM pod_telemetry WHERE minute < $1";
        Ok(on_pool!(self, |pool| sqlx::query(sql)
            .bind(minute)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
