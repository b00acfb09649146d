//! Portable logical backups for both backends: a JSON-lines file.
//!
//! Line 1 is a header (format, backend, schema version), then one line per row
//! `{"t":table,"r":{column:value}}` with tables in foreign-key order, then a trailer with
//! the row count of every table. Restore refuses a file without a matching trailer (a
//! truncated backup), runs in one transaction, and refuses a non-empty database unless
//! forced. Because the schema conventions are shared (no binary columns, portable types),
//! a backup taken on SQLite restores on PostgreSQL and the other way round.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::schema::TableSchema;
use super::{Backend, Store, StoreError};

/// Identifies the file format in the header.
pub const BACKUP_FORMAT: &str = "gpubroker-backup";
/// Version of the file format.
pub const BACKUP_FORMAT_VERSION: u32 = 1;
/// Rows inserted per statement on restore.
const RESTORE_BATCH: usize = 500;

/// First line of a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct BackupHeader {
    pub format: String,
    pub format_version: u32,
    pub backend: String,
    pub schema_version: i64,
    pub created_at: DateTime<Utc>,
    pub gpubroker_version: String,
}

/// Last line of a backup: row counts per table.
#[derive(Debug, Serialize, Deserialize)]
struct BackupTrailer {
    end: bool,
    tables: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct RowLineOut<'a> {
    t: &'a str,
    r: &'a RawValue,
}

#[derive(Deserialize)]
struct RowLineIn {
    t: String,
    r: Box<RawValue>,
}

/// Row counts per table of a finished backup or restore.
pub type TableCounts = BTreeMap<String, u64>;

impl Store {
    /// Writes a consistent snapshot of every application table to `out`.
    #[tracing::instrument(skip_all)]
    pub async fn backup_to(&self, out: &mut impl Write) -> Result<TableCounts, StoreError> {
        let tables = self.schema().await?;
        let header = BackupHeader {
            format: BACKUP_FORMAT.into(),
            format_version: BACKUP_FORMAT_VERSION,
            backend: self.kind().as_str().into(),
            schema_version: self.applied_migration().await?,
            created_at: Utc::now(),
            gpubroker_version: env!("CARGO_PKG_VERSION").into(),
        };
        write_json_line(out, &header)?;
        let mut counts = TableCounts::new();
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for table in &tables {
                    let sql = sqlite_select_json(table);
                    let mut rows = sqlx::query_scalar::<_, String>(&sql).fetch(&mut *tx);
                    let n = counts.entry(table.name.clone()).or_default();
                    while let Some(row) = rows.try_next().await? {
                        write_row(out, &table.name, &row)?;
                        *n += 1;
                    }
                    tracing::info!(table = %table.name, rows = *n, "table backed up");
                }
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                for table in &tables {
                    let sql = format!(
                        "SELECT row_to_json(t)::text FROM {} t ORDER BY t.{}",
                        quote_ident(&table.name),
                        quote_ident(&table.columns[0])
                    );
                    let mut rows = sqlx::query_scalar::<_, String>(&sql).fetch(&mut *tx);
                    let n = counts.entry(table.name.clone()).or_default();
                    while let Some(row) = rows.try_next().await? {
                        write_row(out, &table.name, &row)?;
                        *n += 1;
                    }
                    tracing::info!(table = %table.name, rows = *n, "table backed up");
                }
                tx.commit().await?;
            }
        }
        write_json_line(
            out,
            &BackupTrailer {
                end: true,
                tables: counts.clone(),
            },
        )?;
        out.flush().map_err(io_error)?;
        Ok(counts)
    }

    /// Number of rows in every application table.
    pub async fn row_counts(&self) -> Result<TableCounts, StoreError> {
        let mut counts = TableCounts::new();
        for table in self.schema().await? {
            let sql = format!("SELECT COUNT(*) FROM {}", quote_ident(&table.name));
            let n: i64 =
                super::on_pool!(self, |pool| sqlx::query_scalar(&sql).fetch_one(pool).await)?;
            counts.insert(table.name, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }

    /// Restores a backup read from `input` into this (migrated) database, in one transaction.
    /// A database holding any row is refused unless `force`, which replaces its contents.
    #[tracing::instrument(skip_all)]
    pub async fn restore_from(
        &self,
        input: impl BufRead,
        force: bool,
    ) -> Result<TableCounts, StoreError> {
        let mut lines = input.lines();
        let header: BackupHeader = match lines.next() {
            Some(line) => serde_json::from_str(&line.map_err(io_error)?).map_err(|e| {
                StoreError::Invalid(format!("not a gpubroker backup (bad header: {e})"))
            })?,
            None => return Err(StoreError::Invalid("backup file is empty".into())),
        };
        if header.format != BACKUP_FORMAT || header.format_version != BACKUP_FORMAT_VERSION {
            return Err(StoreError::Invalid(format!(
                "unsupported backup format {} v{}",
                header.format, header.format_version
            )));
        }
        let ours = self.applied_migration().await?;
        if header.schema_version != ours {
            return Err(StoreError::Invalid(format!(
                "backup has schema version {} but this database is at {ours}; restore with the gpubroker version that wrote it",
                header.schema_version
            )));
        }
        let existing = self.row_counts().await?;
        let non_empty: Vec<String> = existing
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| format!("{t} ({n} rows)"))
            .collect();
        if !non_empty.is_empty() && !force {
            return Err(StoreError::Invalid(format!(
                "database is not empty ({}); use --force to replace its contents",
                non_empty.join(", ")
            )));
        }
        let schema = self.schema().await?;
        let mut restorer = Restorer::begin(self, &schema).await?;
        let tables: BTreeMap<String, TableSchema> =
            schema.into_iter().map(|t| (t.name.clone(), t)).collect();
        let mut counts = TableCounts::new();
        let mut trailer: Option<BackupTrailer> = None;
        for line in lines {
            let line = line.map_err(io_error)?;
            if line.trim().is_empty() {
                continue;
            }
            if trailer.is_some() {
                return Err(StoreError::Invalid(
                    "backup has data after its end marker".into(),
                ));
            }
            if let Ok(row) = serde_json::from_str::<RowLineIn>(&line) {
                let table = tables.get(&row.t).ok_or_else(|| {
                    StoreError::Invalid(format!("backup has rows for unknown table {:?}", row.t))
                })?;
                restorer.push(table, row.r).await?;
                *counts.entry(row.t).or_default() += 1;
            } else {
                let end: BackupTrailer = serde_json::from_str(&line)
                    .map_err(|e| StoreError::Invalid(format!("malformed backup line: {e}")))?;
                trailer = Some(end);
            }
        }
        let trailer = trailer.ok_or_else(|| {
            StoreError::Invalid("backup is truncated (no end marker); nothing was restored".into())
        })?;
        let expected: TableCounts = trailer.tables.into_iter().filter(|(_, n)| *n > 0).collect();
        if expected != counts {
            return Err(StoreError::Invalid(format!(
                "backup row counts do not match its end marker ({counts:?} read, {expected:?} expected); nothing was restored"
            )));
        }
        restorer.finish().await?;
        Ok(counts)
    }
}

/// An open restore transaction with a pending batch of rows for one table.
struct Restorer {
    tx: RestoreTx,
    /// The table of the pending batch and its columns.
    table: Option<(String, Vec<String>)>,
    batch: Vec<Box<RawValue>>,
}

enum RestoreTx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Restorer {
    /// Opens the transaction and deletes existing rows (children first).
    async fn begin(store: &Store, order: &[TableSchema]) -> Result<Self, StoreError> {
        let mut tx = match &store.backend {
            Backend::Sqlite(pool) => RestoreTx::Sqlite(pool.begin().await?),
            Backend::Postgres(pool) => RestoreTx::Postgres(pool.begin().await?),
        };
        for table in order.iter().rev() {
            let sql = format!("DELETE FROM {}", quote_ident(&table.name));
            match &mut tx {
                RestoreTx::Sqlite(tx) => sqlx::query(&sql).execute(&mut **tx).await.map(|_| ())?,
                RestoreTx::Postgres(tx) => {
                    sqlx::query(&sql).execute(&mut **tx).await.map(|_| ())?;
                }
            }
        }
        Ok(Self {
            tx,
            table: None,
            batch: Vec::new(),
        })
    }

    async fn push(&mut self, table: &TableSchema, row: Box<RawValue>) -> Result<(), StoreError> {
        let same_table = self
            .table
            .as_ref()
            .is_some_and(|(name, _)| *name == table.name);
        if !same_table || self.batch.len() >= RESTORE_BATCH {
            self.flush().await?;
            self.table = Some((table.name.clone(), table.columns.clone()));
        }
        self.batch.push(row);
        Ok(())
    }

    /// Inserts the pending batch.
    async fn flush(&mut self) -> Result<(), StoreError> {
        let Some((name, columns)) = self.table.take() else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = format!(
            "[{}]",
            self.batch
                .iter()
                .map(|r| r.get())
                .collect::<Vec<_>>()
                .join(",")
        );
        self.batch.clear();
        match &mut self.tx {
            RestoreTx::Sqlite(tx) => {
                let sql = sqlite_insert_json(&name, &columns);
                sqlx::query(&sql).bind(rows).execute(&mut **tx).await?;
            }
            RestoreTx::Postgres(tx) => {
                let q = quote_ident(&name);
                let sql = format!(
                    "INSERT INTO {q} SELECT * FROM json_populate_recordset(NULL::{q}, $1::json)"
                );
                sqlx::query(&sql).bind(rows).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Flushes, resets PostgreSQL sequences past the restored ids, and commits.
    async fn finish(mut self) -> Result<(), StoreError> {
        self.flush().await?;
        match self.tx {
            RestoreTx::Sqlite(tx) => tx.commit().await?,
            RestoreTx::Postgres(mut tx) => {
                let serials: Vec<(String, String)> = sqlx::query_as(
                    "SELECT table_name::text, column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() \
                     AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')",
                )
                .fetch_all(&mut *tx)
                .await?;
                for (table, column) in serials {
                    let sql = format!(
                        "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({c}), 0) + 1, false) FROM {t}",
                        c = quote_ident(&column),
                        t = quote_ident(&table)
                    );
                    sqlx::query(&sql)
                        .bind(quote_ident(&table))
                        .bind(&column)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// `SELECT json_object('c1', "c1", ...)` for one SQLite table, ordered by its first column.
fn sqlite_select_json(table: &TableSchema) -> String {
    let pairs: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("'{}', {}", c.replace('\'', "''"), quote_ident(c)))
        .collect();
    format!(
        "SELECT json_object({}) FROM {} ORDER BY {}",
        pairs.join(", "),
        quote_ident(&table.name),
        quote_ident(&table.columns[0])
    )
}

/// `INSERT INTO t (c..) SELECT json_extract(value, '$."c"').. FROM json_each($1)`.
fn sqlite_insert_json(table: &str, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let values: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "json_extract(value, '$.\"{}\"')",
                c.replace('\'', "''").replace('"', "\\\"")
            )
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) SELECT {} FROM json_each($1)",
        quote_ident(table),
        cols.join(", "),
        values.join(", ")
    )
}

/// Quotes an SQL identifier (both dialects use double quotes).
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn write_row(out: &mut impl Write, table: &str, row: &str) -> Result<(), StoreError> {
    let raw: &RawValue = serde_json::from_str(row)
        .map_err(|e| StoreError::Invalid(format!("row of {table} is not JSON: {e}")))?;
    write_json_line(out, &RowLineOut { t: table, r: raw })
}

fn write_json_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), StoreError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| StoreError::Invalid(e.to_string()))?;
    out.write_all(b"\n").map_err(io_error)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(io_error)`
fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Invalid(format!("backup i/o: {e}"))
}
