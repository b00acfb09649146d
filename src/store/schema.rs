//! Introspection of the application schema: tables, columns and foreign-key order.
//!
//! Used by backups (generic dump and restore in dependency order) and by the test that
//! proves both backends' migrations produce the same tables and columns.

use std::collections::{BTreeMap, BTreeSet};

use super::{Backend, Store, StoreError};

/// Tables that belong to the migration tool, not to the application.
const INTERNAL_TABLES: [&str; 2] = ["_sqlx_migrations", "sqlite_sequence"];

/// One application table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSchema {
    pub name: String,
    /// Column names in declaration order.
    pub columns: Vec<String>,
    /// Column types as the backend names them (lowercase), parallel to `columns`.
    pub types: Vec<String>,
    /// Tables this one references through foreign keys.
    pub references: BTreeSet<String>,
}

impl Store {
    /// Every application table, parents before children (foreign-key order), ties by name.
    #[tracing::instrument(skip_all)]
    pub async fn schema(&self) -> Result<Vec<TableSchema>, StoreError> {
        let tables = match &self.backend {
            Backend::Sqlite(pool) => sqlite_schema(pool).await?,
            Backend::Postgres(pool) => postgres_schema(pool).await?,
        };
        topological(tables)
    }
}

async fn sqlite_schema(
    pool: &sqlx::SqlitePool,
) -> Result<BTreeMap<String, TableSchema>, StoreError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let mut tables = BTreeMap::new();
    for name in names
        .into_iter()
        .filter(|n| !INTERNAL_TABLES.contains(&n.as_str()))
    {
        let cols: Vec<(String, String)> =
            sqlx::query_as("SELECT name, lower(type) FROM pragma_table_info($1) ORDER BY cid")
                .bind(&name)
                .fetch_all(pool)
                .await?;
        let references: BTreeSet<String> =
            sqlx::query_scalar(r#"SELECT "table" FROM pragma_foreign_key_list($1)"#)
                .bind(&name)
                .fetch_all(pool)
                .await?
                .into_iter()
                .collect();
        let (columns, types) = cols.into_iter().unzip();
        tables.insert(
            name.clone(),
            TableSchema {
                name,
                columns,
                types,
                references,
            },
        );
    }
    Ok(tables)
}

async fn postgres_schema(pool: &sqlx::PgPool) -> Result<BTreeMap<String, TableSchema>, StoreError> {
    let cols: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
         FROM information_schema.columns c \
         JOIN information_schema.tables t ON t.table_name = c.table_name AND t.table_schema = c.table_schema \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(pool)
    .await?;
    let mut tables: BTreeMap<String, TableSchema> = BTreeMap::new();
    for (table, column, data_type) in cols {
        if INTERNAL_TABLES.contains(&table.as_str()) {
            continue;
        }
        let entry = tables.entry(table.clone()).or_insert_with(|| TableSchema {
            name: table,
            columns: Vec::new(),
            types: Vec::new(),
            references: BTreeSet::new(),
        });
        entry.columns.push(column);
        entry.types.push(data_type.to_lowercase());
    }
    let refs: Vec<(String, String)> = sqlx::query_as(
        "SELECT cl.relname::text, rf.relname::text FROM pg_constraint con \
         JOIN pg_class cl ON cl.oid = con.conrelid \
         JOIN pg_class rf ON rf.oid = con.confrelid \
         JOIN pg_namespace ns ON ns.oid = cl.relnamespace \
         WHERE con.contype = 'f' AND ns.nspname = current_schema()",
    )
    .fetch_all(pool)
    .await?;
    for (table, referenced) in refs {
        if let Some(entry) = tables.get_mut(&table) {
            entry.references.insert(referenced);
        }
    }
    Ok(tables)
}

/// Orders tables so that every table comes after the tables it references.
fn topological(mut tables: BTreeMap<String, TableSchema>) -> Result<Vec<TableSchema>, StoreError> {
    let mut ordered = Vec::with_capacity(tables.len());
    while !tables.is_empty() {
        let ready: Vec<String> = tables
            .values()
            .filter(|t| {
                t.references
                    .iter()
                    .all(|r| r == &t.name || !tables.contains_key(r))
            })
            .map(|t| t.name.clone())
            .collect();
        if ready.is_empty() {
            let names: Vec<&str> = tables.keys().map(String::as_str).collect();
            return Err(StoreError::Invalid(format!(
                "foreign keys form a cycle among tables {}",
                names.join(", ")
            )));
        }
        for name in ready {
            if let Some(table) = tables.remove(&name) {
                ordered.push(table);
            }
        }
    }
    Ok(ordered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, refs: &[&str]) -> (String, TableSchema) {
        let schema = TableSchema {
            name: name.into(),
            columns: vec!["id".into()],
            types: vec!["text".into()],
            references: refs.iter().map(|r| (*r).to_string()).collect(),
        };
        (name.into(), schema)
    }

    #[test]
    fn parents_come_before_children_and_self_references_are_allowed() {
        let tables = BTreeMap::from([
            table("a_child", &["m_parent"]),
            table("m_parent", &["z_root", "m_parent"]),
            table("z_root", &[]),
        ]);
        let order: Vec<String> = topological(tables)
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(order, ["z_root", "m_parent", "a_child"]);
    }

    #[test]
    fn cycles_are_reported() {
        let tables = BTreeMap::from([table("a", &["b"]), table("b", &["a"])]);
        let err = topological(tables).unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
    }
}
