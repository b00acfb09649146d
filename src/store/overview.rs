//! Counts for the admin center's overview: accounts, pods by state and the usage revenue
//! booked since a point in time.

use chrono::{DateTime, Utc};

use super::{on_pool, Store, StoreError};

/// The numbers of the admin overview.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewCounts {
    pub users: i64,
    pub disabled_users: i64,
    /// Pods per state name.
    pub pods_by_state: Vec<(String, i64)>,
    /// Credits to the revenue account (metered pod usage) since the given time.
    pub usage_revenue: i64,
}

impl Store {
    /// Accounts, pods by state, and the revenue account's credits since `since`.
    #[tracing::instrument(skip_all)]
    pub async fn overview_counts(
        &self,
        revenue_account: &str,
        since: DateTime<Utc>,
    ) -> Result<OverviewCounts, StoreError> {
        let users = "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN disabled THEN 1 ELSE 0 END), 0) \
            AS BIGINT) FROM users";
        let (users, disabled_users): (i64, i64) =
            on_pool!(self, |pool| sqlx::query_as(users).fetch_one(pool).await)?;
        let pods = "SELECT state, COUNT(*) FROM pods GROUP BY state ORDER BY state";
        let pods_by_state: Vec<(String, i64)> =
            on_pool!(self, |pool| sqlx::query_as(pods).fetch_all(pool).await)?;
        let revenue = "SELECT CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) FROM ledger_entries e \
            JOIN ledger_transactions t ON t.id = e.transaction_id \
            WHERE e.account_id = $1 AND e.side = 'credit' AND t.created_at >= $2";
        let usage_revenue: i64 = on_pool!(self, |pool| sqlx::query_scalar(revenue)
            .bind(revenue_account)
            .bind(since)
            .fetch_one(pool)
            .await)?;
        Ok(OverviewCounts {
            users,
            disabled_users,
            pods_by_state,
            usage_revenue,
        })
    }
}
