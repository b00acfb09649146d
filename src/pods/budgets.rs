//! Budgets: a spending limit per pod (its whole life) or per user per calendar month
//! (UTC). Spending is the metered usage of the pods: what was charged plus what the
//! current interval has accrued. Crossing 50, 75 and 90 % sends an alert once (a stored
//! notification, a `budget.alert` WebSocket event and mail when SMTP is configured);
//! with `auto_stop`, the pods under the budget are stopped at the last worker pass before
//! the limit would be passed, and the 100 % alert says so.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde_json::json;

use super::service::state_of;
use super::{cost_of, PodError, PodState, Pods};
use crate::events::{Event, UserNotification};
use crate::store;
use crate::store::budgets::{BudgetRow, NotificationRow};
use crate::store::pods::PodRow;

/// Alert thresholds in percent of the limit; the last one stops the pods.
pub const THRESHOLDS: [i32; 4] = [50, 75, 90, 100];

/// The largest limit accepted: one million dollars.
pub const MAX_LIMIT_MICRO_USD: i64 = 1_000_000_000_000;

/// The subject of the monthly budget.
pub const MONTH: &str = "month";

/// A budget with what was spent against it in the current period.
#[derive(Clone, Debug)]
pub struct BudgetStatus {
    pub budget: BudgetRow,
    /// `YYYY-MM` for the monthly budget, `pod` for a pod's.
    pub period: String,
    pub spent: i64,
    /// Thresholds alerted in this period.
    pub alerted: Vec<i32>,
}

/// The first instant of `now`'s calendar month (UTC).
pub fn month_start(now: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now)
}

/// What `pod`'s current run ran between `from` and `to`, at its billed price.
pub fn usage_between(pod: &PodRow, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    match pod.running_since {
        Some(start) => span_cost(pod.price_per_hour, start, pod.stopped_at, from, to),
        None => 0,
    }
}

/// The cost at `per_hour` of the part of [`start`, `stop` or `to`) after `from`.
fn span_cost(
    per_hour: i64,
    start: DateTime<Utc>,
    stop: Option<DateTime<Utc>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> i64 {
    let end = stop.map_or(to, |s| s.min(to));
    let millis = (end - start.max(from)).num_milliseconds();
    if millis <= 0 {
        return 0;
    }
    cost_of(per_hour, millis).map_or(i64::MAX, |m| m.0)
}

fn subject_of_pod(pod_id: &str) -> String {
    format!("pod:{pod_id}")
}

fn dollars(micros: i64) -> String {
    format!("${:.2}", micros as f64 / 1e6)
}

impl Pods {
    /// Sets (creates or replaces) `user_id`'s monthly budget, or the budget of their pod
    /// `pod_id`; answers it and whether it is new.
    pub async fn set_budget(
        &self,
        user_id: &str,
        pod_id: Option<&str>,
        limit: i64,
        auto_stop: bool,
    ) -> Result<(BudgetStatus, bool), PodError> {
        if !(1..=MAX_LIMIT_MICRO_USD).contains(&limit) {
            return Err(PodError::Invalid(format!(
                "limit_micro_usd must be from 1 to {MAX_LIMIT_MICRO_USD}"
            )));
        }
        let subject = match pod_id {
            Some(id) => {
                let pod = self.pod_of(user_id, id).await?;
                if state_of(&pod) == PodState::Terminated {
                    return Err(PodError::Conflict(format!("pod {id} is terminated")));
                }
                subject_of_pod(id)
            }
            None => MONTH.to_owned(),
        };
        let (row, created) = self
            .store
            .budget_upsert(user_id, &subject, pod_id, limit, auto_stop)
            .await?;
        Ok((self.budget_status(row, store::now()).await?, created))
    }

    /// `user_id`'s budgets with their spending.
    pub async fn budgets(&self, user_id: &str) -> Result<Vec<BudgetStatus>, PodError> {
        let now = store::now();
        let mut out = Vec::new();
        for row in self.store.budgets_of(user_id).await? {
            out.push(self.budget_status(row, now).await?);
        }
        Ok(out)
    }

    /// `user_id`'s budget `id`; another user's is not found.
    pub async fn budget_of(&self, user_id: &str, id: &str) -> Result<BudgetStatus, PodError> {
        match self.store.budget(id).await? {
            Some(row) if row.user_id == user_id => self.budget_status(row, store::now()).await,
            _ => Err(PodError::NotFound(format!("no budget {id}"))),
        }
    }

    /// Deletes `user_id`'s budget `id`.
    pub async fn delete_budget(&self, user_id: &str, id: &str) -> Result<(), PodError> {
        let budget = self.budget_of(user_id, id).await?;
        self.store.budget_delete(&budget.budget.id).await?;
        Ok(())
    }

    async fn budget_status(
        &self,
        budget: BudgetRow,
        now: DateTime<Utc>,
    ) -> Result<BudgetStatus, PodError> {
        let (period, spent) = match &budget.pod_id {
            Some(pod_id) => {
                let pod = self.reload(pod_id).await?;
                let earliest = pod.created_at;
                let before = self
                    .earlier_runs(Some(pod_id), &budget.user_id, earliest, now)
                    .await?;
                let current = usage_between(&pod, earliest, now);
                ("pod".to_owned(), before.saturating_add(current))
            }
            None => (
                now.format("%Y-%m").to_string(),
                self.month_usage(&budget.user_id, now).await?,
            ),
        };
        let alerted = self
            .store
            .budget_alerts(&budget.id, &period)
            .await?
            .into_iter()
            .map(|a| a.threshold)
            .collect();
        Ok(BudgetStatus {
            budget,
            period,
            spent,
            alerted,
        })
    }

    /// `user_id`'s metered pod usage in `now`'s calendar month.
    pub async fn month_usage(&self, user_id: &str, now: DateTime<Utc>) -> Result<i64, PodError> {
        let from = month_start(now);
        let pods = self.store.pods_run_since(user_id, from).await?;
        let current = pods
            .iter()
            .map(|p| usage_between(p, from, now))
            .fold(0i64, i64::saturating_add);
        let before = self.earlier_runs(None, user_id, from, now).await?;
        Ok(current.saturating_add(before))
    }

    /// The cost after `from` of the finished runs of `pod_id` (or of all `user_id`'s pods).
    async fn earlier_runs(
        &self,
        pod_id: Option<&str>,
        user_id: &str,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<i64, PodError> {
        Ok(self
            .store
            .pod_runs(pod_id, user_id, from)
            .await?
            .iter()
            .map(|r| {
                span_cost(
                    r.price_per_hour,
                    r.running_since,
                    Some(r.stopped_at),
                    from,
                    now,
                )
            })
            .fold(0, i64::saturating_add))
    }

    /// Refuses a deploy when the monthly budget stops pods and is spent.
    pub(super) async fn check_month_budget(&self, user_id: &str) -> Result<(), PodError> {
        let Some(budget) = self.store.budget_for(user_id, MONTH).await? else {
            return Ok(());
        };
        let status = self.budget_status(budget, store::now()).await?;
        let (budget, spent) = (&status.budget, status.spent);
        // Reached: spent, or stopped at the limit (metering ends at the limit's instant,
        // which may round a micro-dollar short of it).
        if budget.auto_stop && (spent >= budget.limit_micro_usd || status.alerted.contains(&100)) {
            return Err(PodError::Conflict(format!(
                "the monthly budget of {} is spent ({} used); raise it to deploy",
                dollars(budget.limit_micro_usd),
                dollars(spent)
            )));
        }
        Ok(())
    }

    /// Sends the alerts `user_id`'s budgets have newly crossed and stops the pods of a
    /// budget with auto-stop that the next worker pass would take past its limit.
    pub(super) async fn enforce_budgets(&self, user_id: &str) -> Result<(), PodError> {
        let now = store::now();
        let tick_ms = i64::try_from(self.settings.tick.as_millis()).unwrap_or(i64::MAX);
        for row in self.store.budgets_of(user_id).await? {
            let status = self.budget_status(row, now).await?;
            let pods = self.pods_under(&status.budget).await?;
            let next_tick: i64 = pods
                .iter()
                .map(|p| cost_of(p.price_per_hour, tick_ms).map_or(i64::MAX, |m| m.0))
                .fold(0, i64::saturating_add);
            let limit = status.budget.limit_micro_usd;
            let stop_now = status.budget.auto_stop
                && !pods.is_empty()
                && status.spent.saturating_add(next_tick) > limit;
            for threshold in THRESHOLDS {
                let crossed = if threshold == 100 {
                    stop_now || status.spent >= limit
                } else {
                    i128::from(status.spent) * 100 >= i128::from(limit) * i128::from(threshold)
                };
                if crossed && !status.alerted.contains(&threshold) {
                    self.alert(&status, threshold, stop_now).await?;
                }
            }
            if stop_now {
                // Metering ends when the limit is reached at the pods' joint rate, even
                // if the stop itself lands a little later.
                let rate: i64 = pods
                    .iter()
                    .filter(|p| p.running_since.is_some())
                    .map(|p| p.price_per_hour)
                    .fold(0, i64::saturating_add);
                // Negative when a late pass finds the limit already passed.
                let left = limit - status.spent;
                let deadline = (rate > 0).then(|| {
                    let ms = (i128::from(left) * 3_600_000).div_euclid(i128::from(rate));
                    let ms = i64::try_from(ms).unwrap_or(0);
                    now + chrono::Duration::milliseconds(ms)
                });
                for pod in pods {
                    let reason = format!("budget reached: {} limit", dollars(limit));
                    match self.stop_by(&pod, &reason, deadline).await {
                        Ok(_) | Err(PodError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(())
    }

    /// The running or provisioning pods a budget covers.
    async fn pods_under(&self, budget: &BudgetRow) -> Result<Vec<PodRow>, PodError> {
        let live = |p: &PodRow| matches!(state_of(p), PodState::Running | PodState::Provisioning);
        Ok(match &budget.pod_id {
            Some(id) => self.store.pod(id).await?.into_iter().filter(live).collect(),
            None => self
                .store
                .pods_of(&budget.user_id)
                .await?
                .into_iter()
                .filter(live)
                .collect(),
        })
    }

    async fn alert(
        &self,
        status: &BudgetStatus,
        threshold: i32,
        stopping: bool,
    ) -> Result<(), PodError> {
        let b = &status.budget;
        if !self
            .store
            .budget_alert_claim(&b.id, &status.period, threshold, status.spent)
            .await?
        {
            return Ok(());
        }
        let what = match &b.pod_id {
            Some(id) => format!("the budget of pod {id}"),
            None => format!("your {} monthly budget", status.period),
        };
        let title = if threshold == 100 {
            format!("Budget reached: {what}")
        } else {
            format!("{threshold}% of {what} used")
        };
        let mut body = format!(
            "{} of {} spent ({threshold}% threshold).",
            dollars(status.spent),
            dollars(b.limit_micro_usd)
        );
        let stopping = stopping && threshold == 100;
        if stopping {
            body.push_str(" Its running pods are being stopped (auto-stop).");
        }
        let payload = json!({
            "budget_id": b.id,
            "pod_id": b.pod_id,
            "period": status.period,
            "threshold": threshold,
            "spent_micro_usd": status.spent,
            "limit_micro_usd": b.limit_micro_usd,
            "auto_stopped": stopping,
        });
        self.deliver(&b.user_id, "budget.alert", &title, &body, payload)
            .await?;
        Ok(())
    }

    /// Tells `user_id` something that matters: stored in their inbox, published on their
    /// WebSocket channel as `kind`, and mailed when SMTP is configured.
    pub(super) async fn deliver(
        &self,
        user_id: &str,
        kind: &str,
        title: &str,
        body: &str,
        payload: serde_json::Value,
    ) -> Result<NotificationRow, PodError> {
        let row = self
            .store
            .notification_insert(user_id, kind, title, body, &payload)
            .await?;
        self.events
            .publish(vec![Event::Notification(UserNotification {
                user_id: user_id.to_owned(),
                kind: kind.to_owned(),
                payload: json!({ "notification_id": row.id, "title": title, "body": body, "data": payload }),
            })]);
        if let Some(mailer) = self.mailer.as_ref().filter(|m| m.is_configured()) {
            if let Some(user) = self.store.user_by_id(user_id).await? {
                mailer.send_in_background(user.email, title.to_owned(), body.to_owned());
            }
        }
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(start: Option<&str>, stop: Option<&str>) -> PodRow {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        PodRow {
            id: "p".into(),
            user_id: "u".into(),
            name: "n".into(),
            offer_id: "o".into(),
            provider: "demo-aws".into(),
            price_per_hour: 3_600_000,
            state: "running".into(),
            client_token: "t".into(),
            machine_ref: None,
            hold_id: None,
            failure: None,
            billed_intervals: 0,
            created_at: t("2026-10-31T23:00:00Z"),
            updated_at: t("2026-10-31T23:00:00Z"),
            running_since: start.map(t),
            stopped_at: stop.map(t),
            run: 0,
            ssh_host: None,
            ssh_port: None,
            ssh_user: None,
            jupyter_url: None,
        }
    }

    #[test]
    fn usage_counts_only_the_overlap_with_the_window() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let now = t("2026-11-01T00:10:00Z");
        let from = month_start(now);
        assert_eq!(from, t("2026-11-01T00:00:00Z"));
        // $3.60/h is 1000 µ$/s; from 23:59 and still running: 10 minutes in November.
        let running = pod(Some("2026-10-31T23:59:00Z"), None);
        assert_eq!(usage_between(&running, from, now), 600 * 1000);
        let stopped = pod(Some("2026-10-31T23:59:00Z"), Some("2026-11-01T00:00:30Z"));
        assert_eq!(usage_between(&stopped, from, now), 30 * 1000);
        let before = pod(Some("2026-10-31T22:00:00Z"), Some("2026-10-31T23:00:00Z"));
        assert_eq!(usage_between(&before, from, now), 0);
        assert_eq!(usage_between(&pod(None, None), from, now), 0);
    }
}
