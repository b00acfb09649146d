//! Pods and their state history. A state change is a compare-and-set on the current
//! state, written together with its history row, so two callers never both move a pod.

use chrono::{DateTime, Utc};

use super::payments::new_id;
use super::{in_tx, on_pool, Store, StoreError};

pub(super) const POD_COLUMNS: &str =
    "id, user_id, name, offer_id, provider, price_per_hour, state, \
    client_token, machine_ref, hold_id, failure, billed_intervals, created_at, updated_at, \
    running_since, stopped_at, run, ssh_host, ssh_port, ssh_user, jupyter_url";

/// A stored pod.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PodRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub offer_id: String,
    pub provider: String,
    /// The hourly price billed, micro-USD, fixed at deploy time.
    pub price_per_hour: i64,
    pub state: String,
    pub client_token: String,
    pub machine_ref: Option<String>,
    pub hold_id: Option<String>,
    pub failure: Option<String>,
    /// Metering intervals charged so far.
    pub billed_intervals: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub running_since: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    /// Runs before this one (a restart of a stopped pod begins a new run).
    pub run: i64,
    /// How to reach the machine, as its provider said when it started running.
    pub ssh_host: Option<String>,
    pub ssh_port: Option<i64>,
    pub ssh_user: Option<String>,
    pub jupyter_url: Option<String>,
}

/// A finished run of a pod: what it ran, at what price.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PodRunRow {
    pub pod_id: String,
    pub run: i64,
    pub price_per_hour: i64,
    pub running_since: DateTime<Utc>,
    pub stopped_at: DateTime<Utc>,
}

/// One state change of a pod.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct PodEventRow {
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// What a new pod is.
#[derive(Clone, Debug)]
pub struct NewPod<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub offer_id: &'a str,
    pub provider: &'a str,
    pub price_per_hour: i64,
    pub client_token: &'a str,
    pub hold_id: &'a str,
}

/// Fields set along with a state change (each only when given and not set before).
#[derive(Clone, Debug, Default)]
pub struct PodChange<'a> {
    pub machine_ref: Option<&'a str>,
    pub running_since: Option<DateTime<Utc>>,
    pub stopped_at: Option<DateTime<Utc>>,
    pub failure: Option<&'a str>,
}

fn in_list(states: &[&'static str]) -> String {
    let quoted: Vec<String> = states.iter().map(|s| format!("'{s}'")).collect();
    quoted.join(", ")
}

impl Store {
    /// Stores a new pod in state `requested` with its first history row.
    #[tracing::instrument(skip_all)]
    pub async fn pod_insert(&self, pod: &NewPod<'_>) -> Result<PodRow, StoreError> {
        let now = super::now();
        let insert = "INSERT INTO pods (id, user_id, name, offer_id, provider, price_per_hour, \
            state, client_token, machine_ref, hold_id, failure, billed_intervals, created_at, \
            updated_at, running_since, stopped_at) VALUES ($1, $2, $3, $4, $5, $6, 'requested', \
            $7, NULL, $8, NULL, 0, $9, $9, NULL, NULL)";
        let event = "INSERT INTO pod_events (id, pod_id, from_state, to_state, reason, at) \
            VALUES ($1, $2, NULL, 'requested', 'deployed', $3)";
        in_tx!(self, |tx| {
            sqlx::query(insert)
                .bind(pod.id)
                .bind(pod.user_id)
                .bind(pod.name)
                .bind(pod.offer_id)
                .bind(pod.provider)
                .bind(pod.price_per_hour)
                .bind(pod.client_token)
                .bind(pod.hold_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(event)
                .bind(new_id("pev"))
                .bind(pod.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        });
        self.pod(pod.id)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("pod {} vanished", pod.id)))
    }

    /// A pod by id.
    #[tracing::instrument(skip_all)]
    pub async fn pod(&self, id: &str) -> Result<Option<PodRow>, StoreError> {
        let sql = format!("SELECT {POD_COLUMNS} FROM pods WHERE id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// A pod by its creation token.
    #[tracing::instrument(skip_all)]
    pub async fn pod_by_token(&self, token: &str) -> Result<Option<PodRow>, StoreError> {
        let sql = format!("SELECT {POD_COLUMNS} FROM pods WHERE client_token = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(token)
            .fetch_optional(pool)
            .await)?)
    }

    /// `user_id`'s pods, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn pods_of(&self, user_id: &str) -> Result<Vec<PodRow>, StoreError> {
        let sql = format!(
            "SELECT {POD_COLUMNS} FROM pods WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Every pod in one of `states`, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn pods_in(&self, states: &[&'static str]) -> Result<Vec<PodRow>, StoreError> {
        let sql = format!(
            "SELECT {POD_COLUMNS} FROM pods WHERE state IN ({}) ORDER BY created_at, id",
            in_list(states)
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .fetch_all(pool)
            .await)?)
    }

    /// How many of `user_id`'s pods are in one of `states`.
    #[tracing::instrument(skip_all)]
    pub async fn pods_counted(
        &self,
        user_id: &str,
        states: &[&'static str],
    ) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM pods WHERE user_id = $1 AND state IN ({})",
            in_list(states)
        );
        let (n,): (i64,) = on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_one(pool)
            .await)?;
        Ok(n)
    }

    /// Moves a pod from `from` to `to` (with `change`) and records why; `false` (nothing
    /// written) when the pod is no longer in `from`.
    #[tracing::instrument(skip_all)]
    pub async fn pod_transition(
        &self,
        id: &str,
        from: &str,
        to: &str,
        reason: &str,
        change: &PodChange<'_>,
    ) -> Result<bool, StoreError> {
        let now = super::now();
        let update = "UPDATE pods SET state = $1, updated_at = $2, \
            machine_ref = COALESCE(machine_ref, $3), running_since = COALESCE(running_since, $4), \
            stopped_at = COALESCE(stopped_at, $5), failure = COALESCE(failure, $6) \
            WHERE id = $7 AND state = $8";
        let event = "INSERT INTO pod_events (id, pod_id, from_state, to_state, reason, at) \
            VALUES ($1, $2, $3, $4, $5, $6)";
        let moved = in_tx!(self, |tx| {
            let done = sqlx::query(update)
                .bind(to)
                .bind(now)
                .bind(change.machine_ref)
                .bind(change.running_since)
                .bind(change.stopped_at)
                .bind(change.failure)
                .bind(id)
                .bind(from)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            sqlx::query(event)
                .bind(new_id("pev"))
                .bind(id)
                .bind(from)
                .bind(to)
                .bind(reason)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            true
        });
        Ok(moved)
    }

    /// Begins the next run of stopped pod `pod`: its finished run is kept in `pod_runs`,
    /// metering restarts from zero under the new hold, and the pod is provisioning again.
    /// `false` (nothing written) when the pod is no longer stopped in that run.
    #[tracing::instrument(skip_all)]
    pub async fn pod_restart(&self, pod: &PodRow, hold_id: &str) -> Result<bool, StoreError> {
        let now = super::now();
        let update = "UPDATE pods SET state = 'provisioning', run = run + 1, \
            running_since = NULL, stopped_at = NULL, billed_intervals = 0, hold_id = $1, \
            failure = NULL, updated_at = $2 WHERE id = $3 AND state = 'stopped' AND run = $4";
        let keep = "INSERT INTO pod_runs (pod_id, run, user_id, price_per_hour, running_since, \
            stopped_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (pod_id, run) DO NOTHING";
        let event = "INSERT INTO pod_events (id, pod_id, from_state, to_state, reason, at) \
            VALUES ($1, $2, 'stopped', 'provisioning', 'start requested', $3)";
        let moved = in_tx!(self, |tx| {
            let done = sqlx::query(update)
                .bind(hold_id)
                .bind(now)
                .bind(&pod.id)
                .bind(pod.run)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Ok(false);
            }
            if let (Some(since), Some(stopped)) = (pod.running_since, pod.stopped_at) {
                sqlx::query(keep)
                    .bind(&pod.id)
                    .bind(pod.run)
                    .bind(&pod.user_id)
                    .bind(pod.price_per_hour)
                    .bind(since)
                    .bind(stopped)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(event)
                .bind(new_id("pev"))
                .bind(&pod.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            true
        });
        Ok(moved)
    }

    /// The finished runs of pod `pod_id`, or of every pod of `user_id` that stopped after
    /// `since`.
    #[tracing::instrument(skip_all)]
    pub async fn pod_runs(
        &self,
        pod_id: Option<&str>,
        user_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<PodRunRow>, StoreError> {
        let sql = "SELECT pod_id, run, price_per_hour, running_since, stopped_at FROM pod_runs \
            WHERE user_id = $1 AND stopped_at > $2 AND ($3 IS NULL OR pod_id = $3) \
            ORDER BY pod_id, run";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(user_id)
            .bind(since)
            .bind(pod_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Records that the first `count` metering intervals of a pod are charged (never
    /// lowers the count).
    #[tracing::instrument(skip_all)]
    pub async fn pod_set_billed(&self, id: &str, count: i64) -> Result<(), StoreError> {
        let sql = "UPDATE pods SET billed_intervals = $1 WHERE id = $2 AND billed_intervals < $1";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(count)
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Stores how to reach a pod's machine (parts not given are cleared).
    #[tracing::instrument(skip_all)]
    pub async fn pod_set_connection(
        &self,
        id: &str,
        connection: &crate::pods::provisioner::Connection,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE pods SET ssh_host = $1, ssh_port = $2, ssh_user = $3, \
            jupyter_url = $4 WHERE id = $5";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(connection.ssh_host.as_deref())
            .bind(connection.ssh_port.map(i64::from))
            .bind(connection.ssh_user.as_deref())
            .bind(connection.jupyter_url.as_deref())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// A pod's state history, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn pod_events(&self, pod_id: &str) -> Result<Vec<PodEventRow>, StoreError> {
        let sql = "SELECT from_state, to_state, reason, at FROM pod_events WHERE pod_id = $1 \
            ORDER BY at, id";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(pod_id)
            .fetch_all(pool)
            .await)?)
    }
}
