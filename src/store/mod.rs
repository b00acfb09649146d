//! The only place with SQL: `Store` over an SQLite or a PostgreSQL pool.
//!
//! One SQL string runs on whichever pool is active (both accept `$1` placeholders) through
//! the [`on_pool!`] dispatch macro; statements that differ by dialect are an explicit
//! `match` on [`Backend`]. Each aggregate has its own file.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::settings::{redact_url, DatabaseSettings, DatabaseTarget};

pub mod account_tokens;
pub mod ai;
pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod budgets;
pub mod config;
pub mod idempotency;
pub mod kpi;
pub mod leases;
pub mod ledger;
pub mod ledger_read;
pub mod ledger_statement;
pub mod ledger_verify;
pub mod ledger_write;
pub mod meta;
pub mod offers;
pub mod overview;
pub mod payment_records;
pub mod payments;
pub mod pods;
pub mod refunds;
pub mod schema;
pub mod subscriptions;
pub mod telemetry;
pub mod users;

/// Runs `$body` with `$pool` bound to the active pool (SQLite or PostgreSQL).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` with `$tx` bound to a transaction on the active pool and commits it when
/// `$body` finishes; an early `return` or `?` inside `$body` rolls it back (on drop).
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use in_tx;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Invalid(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err.to_string())
            }
            other => Self::Database(other),
        }
    }
}

/// The current time at the precision both backends store (microseconds), so values read
/// back equal the values written whichever backend (or backup) they went through.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6)
}

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    /// Lowercase name, as used in metrics and backups.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The active connection pool.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
}

/// Connection counts of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens the pool described by `settings`; creates the SQLite file (WAL mode) if needed.
    #[tracing::instrument(skip_all)]
    pub async fn connect(settings: &DatabaseSettings) -> Result<Store, StoreError> {
        let backend = match &settings.target {
            DatabaseTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Invalid(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(settings.pool_max)
                    .idle_timeout(settings.idle_timeout)
                    .acquire_timeout(settings.connect_timeout)
                    .connect_with(options)
                    .await?;
                Backend::Sqlite(pool)
            }
            DatabaseTarget::Postgres(url) => {
                let options = PgConnectOptions::from_str(url).map_err(|e| {
                    StoreError::Invalid(format!("DATABASE_URL {}: {e}", redact_url(url)))
                })?;
                let pool = PgPoolOptions::new()
                    .max_connections(settings.pool_max)
                    .idle_timeout(settings.idle_timeout)
                    .acquire_timeout(settings.connect_timeout)
                    .connect_with(options)
                    .await?;
                Backend::Postgres(pool)
            }
        };
        Ok(Store { backend })
    }

    /// Applies the embedded migrations of the active backend.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// Version of the newest migration embedded in this binary.
    pub fn latest_migration(&self) -> i64 {
        let migrator = match self.kind() {
            BackendKind::Sqlite => &SQLITE_MIGRATIONS,
            BackendKind::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Newest migration applied to the database, 0 when none.
    pub async fn applied_migration(&self) -> Result<i64, StoreError> {
        let sql = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success";
        let version: Result<i64, sqlx::Error> =
            on_pool!(self, |pool| sqlx::query_scalar(sql).fetch_one(pool).await);
        match version {
            Ok(v) => Ok(v),
            Err(sqlx::Error::Database(_)) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// A cheap round trip proving the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The PostgreSQL pool, when that is the backend (LISTEN/NOTIFY needs it).
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            Backend::Sqlite(_) => None,
        }
    }

    /// Which engine is active.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Current pool usage, for metrics.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = on_pool!(self, |pool| (
            pool.size(),
            u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            pool.options().get_max_connections()
        ));
        PoolStats { size, idle, max }
    }

    /// SQLite only: checkpoints the WAL and refreshes planner statistics.
    #[tracing::instrument(skip_all)]
    pub async fn housekeeping(&self) -> Result<(), StoreError> {
        if let Backend::Sqlite(pool) = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
            sqlx::query("PRAGMA optimize").execute(pool).await?;
        }
        Ok(())
    }

    /// Closes every connection; later queries fail with `Unavailable`.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }
}
