//! Budgets, the alerts they fired and the user's notification inbox. An alert is stored
//! once per (budget, period, threshold): the insert that wins decides who sends it, so an
//! alert fires once however often or on however many replicas budgets are evaluated.

use chrono::{DateTime, Utc};

use super::payments::new_id;
use super::pods::PodRow;
use super::{in_tx, on_pool, Store, StoreError};

const BUDGET_COLUMNS: &str =
    "id, user_id, subject, pod_id, limit_micro_usd, auto_stop, created_at, updated_at";

/// A stored budget.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BudgetRow {
    pub id: String,
    pub user_id: String,
    /// `month` or `pod:<pod id>`.
    pub subject: String,
    pub pod_id: Option<String>,
    pub limit_micro_usd: i64,
    pub auto_stop: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An alert a budget fired.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct BudgetAlertRow {
    pub budget_id: String,
    pub period: String,
    pub threshold: i32,
    pub spent: i64,
    pub at: DateTime<Utc>,
}

/// A notification in a user's inbox.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub title: String,
    pub body: String,
    /// JSON text.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Creates or replaces `user_id`'s budget for `subject`; a changed limit clears the
    /// alerts fired so far, so they fire again against the new limit.
    #[tracing::instrument(skip_all)]
    pub async fn budget_upsert(
        &self,
        user_id: &str,
        subject: &str,
        pod_id: Option<&str>,
        limit: i64,
        auto_stop: bool,
    ) -> Result<(BudgetRow, bool), StoreError> {
        let now = super::now();
        let existing = self.budget_for(user_id, subject).await?;
        let insert = "INSERT INTO budgets (id, user_id, subject, pod_id, limit_micro_usd, \
            auto_stop, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
            ON CONFLICT (user_id, subject) DO UPDATE SET limit_micro_usd = $5, auto_stop = $6, \
            updated_at = $7";
        let clear = "DELETE FROM budget_alerts WHERE budget_id = $1";
        in_tx!(self, |tx| {
            sqlx::query(insert)
                .bind(new_id("bud"))
                .bind(user_id)
                .bind(subject)
                .bind(pod_id)
                .bind(limit)
                .bind(auto_stop)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if let Some(old) = existing.as_ref().filter(|b| b.limit_micro_usd != limit) {
                sqlx::query(clear).bind(&old.id).execute(&mut *tx).await?;
            }
        });
        let row = self
            .budget_for(user_id, subject)
            .await?
            .ok_or_else(|| StoreError::Invalid(format!("budget {subject} vanished")))?;
        Ok((row, existing.is_none()))
    }

    /// `user_id`'s budget for `subject`.
    #[tracing::instrument(skip_all)]
    pub async fn budget_for(
        &self,
        user_id: &str,
        subject: &str,
    ) -> Result<Option<BudgetRow>, StoreError> {
        let sql =
            format!("SELECT {BUDGET_COLUMNS} FROM budgets WHERE user_id = $1 AND subject = $2");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .bind(subject)
            .fetch_optional(pool)
            .await)?)
    }

    /// A budget by id.
    #[tracing::instrument(skip_all)]
    pub async fn budget(&self, id: &str) -> Result<Option<BudgetRow>, StoreError> {
        let sql = format!("SELECT {BUDGET_COLUMNS} FROM budgets WHERE id = $1");
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    /// `user_id`'s budgets, the monthly one first.
    #[tracing::instrument(skip_all)]
    pub async fn budgets_of(&self, user_id: &str) -> Result<Vec<BudgetRow>, StoreError> {
        let sql = format!(
            "SELECT {BUDGET_COLUMNS} FROM budgets WHERE user_id = $1 \
             ORDER BY CASE WHEN subject = 'month' THEN 0 ELSE 1 END, created_at, id"
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .fetch_all(pool)
            .await)?)
    }

    /// Deletes a budget and its alerts; `false` when there was none.
    #[tracing::instrument(skip_all)]
    pub async fn budget_delete(&self, id: &str) -> Result<bool, StoreError> {
        Ok(in_tx!(self, |tx| {
            sqlx::query("DELETE FROM budget_alerts WHERE budget_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM budgets WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            done.rows_affected() == 1
        }))
    }

    /// Records that `budget_id` crossed `threshold` in `period`; `true` only for the
    /// caller whose insert made the record (who then sends the alert).
    #[tracing::instrument(skip_all)]
    pub async fn budget_alert_claim(
        &self,
        budget_id: &str,
        period: &str,
        threshold: i32,
        spent: i64,
    ) -> Result<bool, StoreError> {
        let sql = "INSERT INTO budget_alerts (budget_id, period, threshold, spent, at) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (budget_id, period, threshold) DO NOTHING";
        let inserted = on_pool!(self, |pool| sqlx::query(sql)
            .bind(budget_id)
            .bind(period)
            .bind(threshold)
            .bind(spent)
            .bind(super::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(inserted == 1)
    }

    /// The alerts `budget_id` fired in `period`, lowest threshold first.
    #[tracing::instrument(skip_all)]
    pub async fn budget_alerts(
        &self,
        budget_id: &str,
        period: &str,
    ) -> Result<Vec<BudgetAlertRow>, StoreError> {
        let sql = "SELECT budget_id, period, threshold, spent, at FROM budget_alerts \
            WHERE budget_id = $1 AND period = $2 ORDER BY threshold";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(budget_id)
            .bind(period)
            .fetch_all(pool)
            .await)?)
    }

    /// `user_id`'s pods that ran at some time after `since` (running now, or stopped
    /// after it).
    #[tracing::instrument(skip_all)]
    pub async fn pods_run_since(
        &self,
        user_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<PodRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM pods WHERE user_id = $1 AND running_since IS NOT NULL \
             AND (stopped_at IS NULL OR stopped_at > $2) ORDER BY created_at, id",
            super::pods::POD_COLUMNS
        );
        Ok(on_pool!(self, |pool| sqlx::query_as(&sql)
            .bind(user_id)
            .bind(since)
            .fetch_all(pool)
            .await)?)
    }

    /// The users with a pod running now or stopped after `since`.
    #[tracing::instrument(skip_all)]
    pub async fn pod_users_active_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT DISTINCT user_id FROM pods WHERE running_since IS NOT NULL \
            AND (stopped_at IS NULL OR stopped_at > $1) ORDER BY user_id";
        let rows: Vec<(String,)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(since)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Adds a notification to `user_id`'s inbox.
    #[tracing::instrument(skip_all)]
    pub async fn notification_insert(
        &self,
        user_id: &str,
        kind: &str,
        title: &str,
        body: &str,
        payload: &serde_json::Value,
    ) -> Result<NotificationRow, StoreError> {
        let id = new_id("ntf");
        let now = super::now();
        let sql = "INSERT INTO notifications (id, user_id, kind, title, body, payload, \
            created_at, read_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)";
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(&id)
            .bind(user_id)
            .bind(kind)
            .bind(title)
            .bind(body)
            .bind(payload.to_string())
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(NotificationRow {
            id,
            user_id: user_id.to_owned(),
            kind: kind.to_owned(),
            title: title.to_owned(),
            body: body.to_owned(),
            payload: payload.to_string(),
            created_at: now,
            read_at: None,
        })
    }

    /// `user_id`'s newest `limit` notifications, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn notifications_of(
        &self,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let sql = "SELECT id, user_id, kind, title, body, payload, created_at, read_at \
            FROM notifications WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2";
        Ok(on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Marks all of `user_id`'s unread notifications read; answers how many.
    #[tracing::instrument(skip_all)]
    pub async fn notifications_mark_read(&self, user_id: &str) -> Result<u64, StoreError> {
        let sql = "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL";
        Ok(on_pool!(self, |pool| sqlx::query(sql)
            .bind(super::now())
            .bind(user_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
