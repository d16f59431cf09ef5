//! Backup and restore in one portable format, so a SQLite file can move to PostgreSQL (and back) without loss.
//!
//! A backup is JSON lines: a header (format, version, the schema's migration version), then
//! for each table a line naming it and its columns followed by one JSON array per row, and an
//! end line with every table's row count, so a cut-off file is refused instead of half-loaded.
//! It is read from one snapshot: a read transaction (SQLite in WAL mode and PostgreSQL's
//! repeatable read both see one moment for all its statements). Values travel as SQLite keeps
//! them — timestamps as `YYYY-MM-DDTHH:MM:SS.ffffffZ` text in UTC, dates as `YYYY-MM-DD`,
//! booleans as 0/1, JSON as its text — and PostgreSQL's typed columns are converted on the way
//! out and cast on the way in. Tables go in foreign-key order; every table of the database is
//! in the file, so a table added later cannot be left out by mistake.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::pin::Pin;

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Row, TypeInfo, ValueRef};

use crate::database::{Connected, Connection};
use crate::error::{StoreError, StoreResult};
use crate::Store;

/// What the first line says.
const FORMAT: &str = "allot-backup";
const FORMAT_VERSION: i64 = 1;

/// Tables the migrations fill with one row of their own: a restore replaces that row.
const SEEDED_BY_MIGRATIONS: [&str; 2] = ["routing_generation", "match_key_version"];

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: i64,
    schema_version: i64,
    /// `sqlite` or `postgres`: where the backup was taken (information only).
    source: String,
    taken_at: String,
}

#[derive(Serialize, Deserialize)]
struct TableStart {
    table: String,
    columns: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct End {
    end: bool,
    rows: BTreeMap<String, u64>,
}

/// What a backup or a restore wrote: rows per table.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSummary {
    pub schema_version: i64,
    pub rows: BTreeMap<String, u64>,
}

fn malformed(line: usize, why: impl std::fmt::Display) -> StoreError {
    StoreError::Backup(format!("line {line}: {why}"))
}

fn file_error(error: std::io::Error) -> StoreError {
    StoreError::Backup(format!("the backup file: {error}"))
}

/// A column and, on PostgreSQL, its type (`format_type`).
#[derive(Debug, Clone)]
struct Column {
    name: String,
    postgres_type: Option<String>,
}

/// How a PostgreSQL column is read into the portable form.
fn portable_expression(column: &Column) -> StoreResult<String> {
    let quoted = format!("\"{}\"", column.name);
    Ok(match column.postgres_type.as_deref() {
        Some("timestamp with time zone") => {
            format!("to_char({quoted} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
        }
        Some("date") => format!("to_char({quoted}, 'YYYY-MM-DD')"),
        Some("boolean") => {
            format!("CASE WHEN {quoted} IS NULL THEN NULL WHEN {quoted} THEN 1 ELSE 0 END")
        }
        Some("jsonb" | "json") => format!("{quoted}::text"),
        Some("text" | "bigint" | "integer" | "double precision") | None => quoted,
        Some(other) => {
            return Err(StoreError::Backup(format!(
                "column {} has type {other}, which backups do not carry yet",
                column.name
            )))
        }
    })
}

/// The next item of a row stream.
async fn next_row<T>(
    rows: &mut Pin<Box<dyn Stream<Item = Result<T, sqlx::Error>> + Send + '_>>,
) -> Option<Result<T, sqlx::Error>> {
    std::future::poll_fn(|context| rows.as_mut().poll_next(context)).await
}

/// References PostgreSQL checks with triggers instead of a foreign key (migration 0017: a
/// customer's owner is a rep), which its catalogue does not list as references.
const REFERENCES_CHECKED_BY_TRIGGERS: &[(&str, &str)] = &[("customers", "reps")];

/// The database's tables in foreign-key order (a table after those it refers to), without
/// sqlx's and SQLite's own.
async fn tables_in_order(connection: &mut impl Connected) -> StoreResult<Vec<String>> {
    let (tables, references): (Vec<String>, Vec<(String, String)>) = match connection.connection() {
        Connection::Sqlite(connection) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
            )
            .fetch_all(&mut *connection)
            .await?;
            let mut references = Vec::new();
            for table in &tables {
                let targets: Vec<String> =
                    sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list(?)")
                        .bind(table)
                        .fetch_all(&mut *connection)
                        .await?;
                references.extend(targets.into_iter().map(|target| (table.clone(), target)));
            }
            (tables, references)
        }
        Connection::Postgres(connection) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
                 AND table_name NOT LIKE '\\_sqlx%' ORDER BY table_name",
            )
            .fetch_all(&mut *connection)
            .await?;
            let mut references: Vec<(String, String)> = sqlx::query_as(
                "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint \
                 WHERE contype = 'f' AND connamespace = current_schema()::regnamespace",
            )
            .fetch_all(&mut *connection)
            .await?;
            references.extend(
                REFERENCES_CHECKED_BY_TRIGGERS
                    .iter()
                    .map(|(from, to)| (from.to_string(), to.to_string())),
            );
            (tables, references)
        }
    };
    let mut ordered: Vec<String> = Vec::with_capacity(tables.len());
    let mut remaining = tables;
    while !remaining.is_empty() {
        let (ready, waiting): (Vec<String>, Vec<String>) =
            remaining.into_iter().partition(|table| {
                references
                    .iter()
                    .all(|(from, to)| from != table || to == table || ordered.contains(to))
            });
        if ready.is_empty() {
            return Err(StoreError::Backup(format!(
                "the tables {waiting:?} refer to each other in a cycle; no order loads them"
            )));
        }
        ordered.extend(ready);
        remaining = waiting;
    }
    Ok(ordered)
}

async fn columns_of(connection: &mut impl Connected, table: &str) -> StoreResult<Vec<Column>> {
    Ok(match connection.connection() {
        Connection::Sqlite(connection) => {
            let names: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                    .bind(table)
                    .fetch_all(&mut *connection)
                    .await?;
            names
                .into_iter()
                .map(|name| Column {
                    name,
                    postgres_type: None,
                })
                .collect()
        }
        Connection::Postgres(connection) => {
            let columns: Vec<(String, String)> = sqlx::query_as(
                "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            )
            .bind(table)
            .fetch_all(&mut *connection)
            .await?;
            columns
                .into_iter()
                .map(|(name, kind)| Column {
                    name,
                    postgres_type: Some(kind),
                })
                .collect()
        }
    })
}

async fn schema_version(connection: &mut impl Connected) -> StoreResult<i64> {
    let statement = "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations";
    Ok(match connection.connection() {
        Connection::Sqlite(connection) => {
            sqlx::query_scalar(statement)
                .fetch_one(&mut *connection)
                .await?
        }
        Connection::Postgres(connection) => {
            sqlx::query_scalar(statement)
                .fetch_one(&mut *connection)
                .await?
        }
    })
}

/// A SQLite value in the portable form (SQLite's own storage classes).
fn sqlite_value(row: &sqlx::sqlite::SqliteRow, index: usize) -> StoreResult<Value> {
    let raw = row.try_get_raw(index)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().name().to_string();
    Ok(match kind.as_str() {
        "INTEGER" => Value::from(row.try_get::<i64, _>(index)?),
        "REAL" => Value::from(row.try_get::<f64, _>(index)?),
        "TEXT" => Value::from(row.try_get::<String, _>(index)?),
        other => {
            return Err(StoreError::Backup(format!(
                "a {other} value, which backups do not carry"
            )))
        }
    })
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> StoreResult<()> {
    serde_json::to_writer(&mut *out, value)
        .map_err(|error| StoreError::Backup(error.to_string()))?;
    out.write_all(b"\n").map_err(file_error)
}

impl Store {
    /// Writes every table to `out` from one snapshot (see the module's documentation).
    pub async fn backup(
        &self,
        out: &mut impl Write,
        taken_at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<BackupSummary> {
        let mut read = self.database.begin_read().await?;
        let schema_version = schema_version(&mut read).await?;
        write_line(
            out,
            &Header {
                format: FORMAT.to_string(),
                version: FORMAT_VERSION,
                schema_version,
                source: match self.backend() {
                    crate::Backend::Sqlite => "sqlite",
                    crate::Backend::Postgres => "postgres",
                }
                .to_string(),
                taken_at: crate::format_timestamp(taken_at),
            },
        )?;
        let mut counts = BTreeMap::new();
        for table in tables_in_order(&mut read).await? {
            let columns = columns_of(&mut read, &table).await?;
            write_line(
                out,
                &TableStart {
                    table: table.clone(),
                    columns: columns.iter().map(|column| column.name.clone()).collect(),
                },
            )?;
            let mut count = 0u64;
            match read.connection() {
                Connection::Sqlite(connection) => {
                    let statement = format!("SELECT * FROM \"{table}\"");
                    let mut rows = sqlx::query(&statement).fetch(&mut *connection);
                    while let Some(row) = next_row(&mut rows).await {
                        let row = row?;
                        let values = (0..columns.len())
                            .map(|index| sqlite_value(&row, index))
                            .collect::<StoreResult<Vec<Value>>>()?;
                        write_line(out, &values)?;
                        count += 1;
                    }
                }
                Connection::Postgres(connection) => {
                    let expressions = columns
                        .iter()
                        .map(portable_expression)
                        .collect::<StoreResult<Vec<_>>>()?;
                    let statement = format!(
                        "SELECT json_build_array({})::text FROM \"{table}\"",
                        expressions.join(", ")
                    );
                    let mut rows =
                        sqlx::query_scalar::<_, String>(&statement).fetch(&mut *connection);
                    while let Some(row) = next_row(&mut rows).await {
                        out.write_all(row?.as_bytes()).map_err(file_error)?;
                        out.write_all(b"\n").map_err(file_error)?;
                        count += 1;
                    }
                }
            }
            counts.insert(table, count);
        }
        write_line(
            out,
            &End {
                end: true,
                rows: counts.clone(),
            },
        )?;
        out.flush().map_err(file_error)?;
        Ok(BackupSummary {
            schema_version,
            rows: counts,
        })
    }

    /// Loads a backup into this database, which must be empty and at the backup's schema
    /// version, in one transaction: a file that is malformed or cut off anywhere loads nothing.
    pub async fn restore(&self, input: impl BufRead) -> StoreResult<BackupSummary> {
        let mut write = self.begin_write().await?;
        let schema = schema_version(&mut write).await?;
        let tables = tables_in_order(&mut write).await?;
        let mut target_columns: HashMap<String, Vec<Column>> = HashMap::new();
        for table in &tables {
            let columns = columns_of(&mut write, table).await?;
            let count = row_count(&mut write, table).await?;
            if count > 0 && !SEEDED_BY_MIGRATIONS.contains(&table.as_str()) {
                return Err(StoreError::Conflict {
                    message: format!(
                        "restore needs an empty database; this one has {count} rows in {table}"
                    ),
                    field: None,
                });
            }
            target_columns.insert(table.clone(), columns);
        }
        let mut lines = input
            .lines()
            .enumerate()
            .map(|(index, line)| (index + 1, line));
        let (_, first) = lines
            .next()
            .ok_or_else(|| StoreError::Backup("the file is empty".to_string()))?;
        let header: Header = serde_json::from_str(&first.map_err(file_error)?)
            .map_err(|error| malformed(1, format!("not an Allot backup header: {error}")))?;
        if header.format != FORMAT || header.version != FORMAT_VERSION {
            return Err(malformed(
                1,
                format!(
                    "format {} version {}; this release reads {FORMAT} version {FORMAT_VERSION}",
                    header.format, header.version
                ),
            ));
        }
        if header.schema_version != schema {
            return Err(malformed(
                1,
                format!(
                    "the backup's schema is version {} and this release's is {schema}; restore it with the release that wrote it, then upgrade",
                    header.schema_version
                ),
            ));
        }
        let mut loading: Option<(TableStart, Vec<Column>, Vec<Vec<Value>>)> = None;
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut end: Option<End> = None;
        for (number, line) in lines {
            let line = line.map_err(file_error)?;
            if end.is_some() {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(malformed(number, "text after the end line"));
            }
            if line.starts_with('[') {
                let Some((start, columns, pending)) = &mut loading else {
                    return Err(malformed(number, "a row before any table line"));
                };
                let row: Vec<Value> = serde_json::from_str(&line).map_err(|error| {
                    malformed(number, format!("a row that is not JSON: {error}"))
                })?;
                if row.len() != start.columns.len() {
                    return Err(malformed(
                        number,
                        format!(
                            "a row of {} values in table {}, which has {} columns",
                            row.len(),
                            start.table,
                            start.columns.len()
                        ),
                    ));
                }
                pending.push(row);
                *counts.entry(start.table.clone()).or_default() += 1;
                if pending.len() >= rows_per_statement(self.backend(), columns.len()) {
                    insert_rows(&mut write, &start.table, columns, pending).await?;
                    pending.clear();
                }
                continue;
            }
            let object: Value = serde_json::from_str(&line)
                .map_err(|error| malformed(number, format!("not JSON: {error}")))?;
            if let Some((start, columns, pending)) = loading.take() {
                insert_rows(&mut write, &start.table, &columns, &pending).await?;
            }
            if object.get("end").is_some() {
                end = Some(
                    serde_json::from_value(object)
                        .map_err(|error| malformed(number, format!("a bad end line: {error}")))?,
                );
                continue;
            }
            let start: TableStart = serde_json::from_value(object)
                .map_err(|error| malformed(number, format!("a bad table line: {error}")))?;
            let target = target_columns.get(&start.table).ok_or_else(|| {
                malformed(
                    number,
                    format!("table {} is not in this database", start.table),
                )
            })?;
            let mut columns = Vec::with_capacity(start.columns.len());
            for name in &start.columns {
                let column = target
                    .iter()
                    .find(|column| &column.name == name)
                    .ok_or_else(|| {
                        malformed(
                            number,
                            format!("table {} has no column {name}", start.table),
                        )
                    })?;
                columns.push(column.clone());
            }
            if columns.len() != target.len() {
                return Err(malformed(
                    number,
                    format!("table {} has columns the backup does not give", start.table),
                ));
            }
            clear_table(&mut write, &start.table).await?;
            counts.entry(start.table.clone()).or_default();
            loading = Some((start, columns, Vec::new()));
        }
        let end = end.ok_or_else(|| {
            StoreError::Backup("the file ends before its end line: it was cut off".to_string())
        })?;
        if end.rows != counts {
            return Err(StoreError::Backup(format!(
                "the end line counts {:?} rows but the file holds {counts:?}",
                end.rows
            )));
        }
        if let Connection::Postgres(connection) = write.connection() {
            restart_identities(connection).await?;
        }
        write.commit().await?;
        Ok(BackupSummary {
            schema_version: schema,
            rows: counts,
        })
    }
}

async fn row_count(connection: &mut impl Connected, table: &str) -> StoreResult<i64> {
    let statement = format!("SELECT COUNT(*) FROM \"{table}\"");
    Ok(match connection.connection() {
        Connection::Sqlite(connection) => {
            sqlx::query_scalar(&statement)
                .fetch_one(&mut *connection)
                .await?
        }
        Connection::Postgres(connection) => {
            sqlx::query_scalar(&statement)
                .fetch_one(&mut *connection)
                .await?
        }
    })
}

/// Empties a table the migrations seeded (the others are empty already).
async fn clear_table(connection: &mut impl Connected, table: &str) -> StoreResult<()> {
    if !SEEDED_BY_MIGRATIONS.contains(&table) {
        return Ok(());
    }
    let statement = format!("DELETE FROM \"{table}\"");
    match connection.connection() {
        Connection::Sqlite(connection) => {
            sqlx::query(&statement).execute(&mut *connection).await?;
        }
        Connection::Postgres(connection) => {
            sqlx::query(&statement).execute(&mut *connection).await?;
        }
    }
    Ok(())
}

/// Rows per multi-row INSERT, within each backend's limit of bound values.
fn rows_per_statement(backend: crate::Backend, columns: usize) -> usize {
    let limit = match backend {
        crate::Backend::Sqlite => 30_000,
        crate::Backend::Postgres => 60_000,
    };
    (limit / columns.max(1)).clamp(1, 1_000)
}

/// A portable value as text, for PostgreSQL's casts.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(if *flag { "1" } else { "0" }.to_string()),
        other => Some(other.to_string()),
    }
}

async fn insert_rows(
    connection: &mut impl Connected,
    table: &str,
    columns: &[Column],
    rows: &[Vec<Value>],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let names = columns
        .iter()
        .map(|column| format!("\"{}\"", column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let head = format!("INSERT INTO \"{table}\" ({names}) ");
    match connection.connection() {
        Connection::Sqlite(connection) => {
            let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(head);
            query.push_values(rows, |mut values, row| {
                for value in row {
                    match value {
                        Value::Null => values.push_bind(None::<String>),
                        Value::Number(number) => match number.as_i64() {
                            Some(integer) => values.push_bind(integer),
                            None => values.push_bind(number.as_f64()),
                        },
                        Value::String(text) => values.push_bind(text.clone()),
                        other => values.push_bind(other.to_string()),
                    };
                }
            });
            query.build().execute(&mut *connection).await?;
        }
        Connection::Postgres(connection) => {
            let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(head);
            query.push_values(rows, |mut values, row| {
                for (value, column) in row.iter().zip(columns) {
                    let kind = column.postgres_type.as_deref().unwrap_or("text");
                    values
                        .push("CAST(")
                        .push_bind_unseparated(as_text(value))
                        .push_unseparated(format!(" AS {kind})"));
                }
            });
            query.build().execute(&mut *connection).await?;
        }
    }
    Ok(())
}

/// Moves every identity column's sequence past the ids loaded, so new rows do not collide.
async fn restart_identities(connection: &mut sqlx::PgConnection) -> StoreResult<()> {
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name NOT LIKE '\\_sqlx%' \
         AND (is_identity = 'YES' OR column_default LIKE 'nextval%')",
    )
    .fetch_all(&mut *connection)
    .await?;
    for (table, column) in identities {
        let statement = format!(
            "SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), \
             COALESCE(MAX(\"{column}\"), 1), MAX(\"{column}\") IS NOT NULL) FROM \"{table}\""
        );
        sqlx::query(&statement).execute(&mut *connection).await?;
    }
    Ok(())
}
