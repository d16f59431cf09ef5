//! Many rows per statement: a set of rows is handed to one statement as a named row source, so a
//! large write costs a round trip per chunk instead of one per row.
//!
//! The statement is written once and reads the rows `FROM` the source's name. SQLite gets the
//! rows as a `WITH name(…) AS MATERIALIZED (VALUES …)` list of bound values; PostgreSQL as
//! `WITH name(…) AS (SELECT … FROM UNNEST($1::text[], …))`, one array parameter per column, or,
//! for imports, `COPY … FROM STDIN` into a temporary table of that name.

use chrono::{DateTime, Utc};
use futures_core::future::BoxFuture;
use sqlx::{PgConnection, Postgres, QueryBuilder, SqliteConnection};

use super::direct::DirectStatement;
use super::time::{format_timestamp, StoredTime};
use super::Connection;

// The statement around a row source is data (`Statement`), not a closure: a closure taking a
// builder for any lifetime made the futures here impossible for rustc to prove `Send`.
use crate::error::StoreResult;

/// The type of a column of a row source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    Real,
    Timestamp,
    /// A calendar day: `date` on PostgreSQL, `YYYY-MM-DD` text on SQLite.
    Date,
    Boolean,
    /// JSON text: `jsonb` on PostgreSQL, text on SQLite.
    Json,
}

impl Kind {
    fn postgres_type(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Integer => "int8",
            Kind::Real => "float8",
            Kind::Timestamp => "timestamptz",
            Kind::Date => "date",
            Kind::Boolean => "bool",
            Kind::Json => "jsonb",
        }
    }
}

/// One cell of a row source, or a value bound in the statement around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Null(Kind),
    Text(&'a str),
    Integer(i64),
    Real(f64),
    Timestamp(DateTime<Utc>),
    Date(chrono::NaiveDate),
    Boolean(bool),
    Json(&'a str),
}

impl<'a> Value<'a> {
    pub(crate) fn text(value: Option<&'a str>) -> Value<'a> {
        value.map_or(Value::Null(Kind::Text), Value::Text)
    }

    pub(crate) fn integer(value: Option<i64>) -> Value<'a> {
        value.map_or(Value::Null(Kind::Integer), Value::Integer)
    }

    pub(crate) fn real(value: Option<f64>) -> Value<'a> {
        value
            .filter(|number| number.is_finite())
            .map_or(Value::Null(Kind::Real), Value::Real)
    }

    pub(crate) fn timestamp(value: Option<DateTime<Utc>>) -> Value<'a> {
        value.map_or(Value::Null(Kind::Timestamp), Value::Timestamp)
    }

    /// A cell of the core's column table.
    pub(crate) fn of_cell(cell: allot_core::customer::CellRef<'a>, kind: Kind) -> Value<'a> {
        use allot_core::customer::CellRef;
        match cell {
            CellRef::Null => Value::Null(kind),
            CellRef::Text(text) => Value::Text(text),
            CellRef::Integer(number) => Value::Integer(number),
            CellRef::Real(number) => Value::Real(number),
            CellRef::Timestamp(time) => Value::Timestamp(time),
        }
    }
}

/// Rows of equal width, with their column names and types.
pub(crate) struct RowSource<'a> {
    /// What the statement reads the rows `FROM`.
    pub name: &'static str,
    pub columns: &'a [(&'a str, Kind)],
    pub rows: &'a [Vec<Value<'a>>],
}

/// How PostgreSQL receives the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// One array parameter per column: one round trip.
    Arrays,
    /// `COPY … FROM STDIN`: for many rows.
    Copy,
}

impl Transfer {
    /// From this many rows on, COPY's extra round trip costs less than encoding the arrays.
    const COPY_FROM_ROWS: usize = 1_000;

    pub(crate) fn for_rows(rows: usize) -> Transfer {
        if rows >= Self::COPY_FROM_ROWS {
            Transfer::Copy
        } else {
            Transfer::Arrays
        }
    }
}

/// The statement that reads a row source, the same text for both backends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Statement {
    text: String,
}

impl Statement {
    pub(crate) fn text(text: impl Into<String>) -> Statement {
        Statement { text: text.into() }
    }
}

/// Most rows in one PostgreSQL statement or COPY, to bound the memory of one chunk.
const POSTGRES_ROWS_PER_STATEMENT: usize = 20_000;

/// Runs `statement` once per chunk of `source`'s rows, with the rows available under
/// `source.name`; returns the rows it affected in all. Nothing runs for no rows.
///
/// The future is boxed and declared `Send`: proven here, where its lifetimes are named, it
/// need not be proven again in every future that awaits it (rustc cannot always do that).
pub(crate) fn execute_with_rows<'f, 'a: 'f>(
    connection: Connection<'f>,
    source: &'f RowSource<'a>,
    transfer: Transfer,
    statement: Statement,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        if source.rows.is_empty() {
            return Ok(0);
        }
        match connection {
            Connection::Sqlite(connection) => execute_sqlite(connection, source, &statement).await,
            Connection::Postgres(connection) => match transfer {
                Transfer::Arrays => execute_with_arrays(connection, source, &statement).await,
                Transfer::Copy => execute_with_copy(connection, source, &statement).await,
            },
        }
    })
}

fn column_list(source: &RowSource<'_>) -> String {
    source
        .columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn execute_sqlite<'f, 'a: 'f>(
    connection: &'f mut SqliteConnection,
    source: &'f RowSource<'a>,
    statement: &'f Statement,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        super::direct::with_direct_sqlite(connection, |direct| {
            execute_sqlite_direct(direct, source, statement)
        })
        .await
    })
}

/// Rows to insert into a table: its columns (in the rows' order) and what to do when a row's
/// key exists already (the text after `ON CONFLICT`, the same on both backends).
pub(crate) struct InsertRows<'a> {
    pub table: &'static str,
    pub columns: &'a [(&'a str, Kind)],
    pub rows: &'a [Vec<Value<'a>>],
    pub on_conflict: Option<&'a str>,
    /// The caller knows no row can clash with a stored one or break a constraint. SQLite then
    /// inserts `OR IGNORE`, which spares it the statement journal: a multi-row insert into
    /// random places of an index copies every page it touches into that journal (writing the
    /// match keys of a million customers took 5 s longer with a plain INSERT).
    pub never_clash: bool,
}

impl InsertRows<'_> {
    fn sqlite_verb(&self) -> &'static str {
        if self.never_clash && self.on_conflict.is_none() {
            "INSERT OR IGNORE"
        } else {
            "INSERT"
        }
    }
}

/// Inserts the rows, many per round trip: multi-row `INSERT … VALUES` on SQLite; on PostgreSQL
/// `INSERT … SELECT FROM UNNEST` of one array per column, or for `Transfer::Copy` a `COPY` —
/// straight into the table when no key can clash, else into a temporary table merged from.
pub(crate) fn insert_rows<'f, 'a: 'f>(
    connection: Connection<'f>,
    insert: &'f InsertRows<'a>,
    transfer: Transfer,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        if insert.rows.is_empty() {
            return Ok(0);
        }
        let names: Vec<&str> = insert.columns.iter().map(|(name, _)| *name).collect();
        let names = names.join(", ");
        let conflict = insert
            .on_conflict
            .map(|clause| format!(" ON CONFLICT {clause}"))
            .unwrap_or_default();
        match connection {
            Connection::Sqlite(connection) => {
                super::direct::with_direct_sqlite(connection, |direct| {
                    insert_sqlite_direct(direct, insert, &names, &conflict)
                })
                .await
            }
            Connection::Postgres(connection) => {
                let source = RowSource {
                    name: "incoming_rows",
                    columns: insert.columns,
                    rows: insert.rows,
                };
                match (transfer, insert.on_conflict) {
                    (Transfer::Copy, None) => copy_into(connection, insert.table, &source).await,
                    (transfer, _) => {
                        let statement = Statement::text(format!(
                            "INSERT INTO {} ({names}) SELECT {names} FROM incoming_rows ORDER BY incoming_position{conflict}",
                            insert.table
                        ));
                        match transfer {
                            Transfer::Arrays => {
                                execute_with_arrays(connection, &source, &statement).await
                            }
                            Transfer::Copy => {
                                execute_with_copy(connection, &source, &statement).await
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Rows that each change one row of a table, found by its key: `set` columns take the row's
/// values where the key columns match and `only_if` (plain SQL over the table, the same on both
/// backends) holds.
pub(crate) struct UpdateRows<'a> {
    pub table: &'static str,
    pub key: &'a [(&'a str, Kind)],
    /// A column that must still hold the row's value for it (NULL matching NULL): the value a
    /// step saw, so that a racing step that changed it first makes this one change nothing.
    pub still: Option<(&'a str, Kind)>,
    pub set: &'a [(&'a str, Kind)],
    /// Each row: the key's values, then the `still` value if any, then the set columns' values.
    pub rows: &'a [Vec<Value<'a>>],
    pub only_if: Option<&'a str>,
    /// The caller fails its transaction unless every row changed, so a row that would break a
    /// constraint may be skipped instead of failing the statement: SQLite then runs `UPDATE OR
    /// IGNORE`, which needs no statement journal (a copy of every page a statement touches, kept
    /// to undo that statement alone, and half the time of a route's owner update).
    pub caller_fails_unless_every_row_changes: bool,
}

/// Updates by key, many rows per round trip: on SQLite one prepared `UPDATE … WHERE key = ?`
/// stepped per row (SQLite's cheapest way to change scattered rows: no list to materialise and
/// join); on PostgreSQL `UPDATE … FROM UNNEST(…)`, one array per column. Returns the rows changed.
pub(crate) fn update_rows<'f, 'a: 'f>(
    connection: Connection<'f>,
    update: &'f UpdateRows<'a>,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        if update.rows.is_empty() {
            return Ok(0);
        }
        let table = update.table;
        let condition = update
            .only_if
            .map(|condition| format!(" AND ({condition})"))
            .unwrap_or_default();
        match connection {
            Connection::Sqlite(connection) => {
                let sets: Vec<String> = update
                    .set
                    .iter()
                    .map(|(name, _)| format!("{name} = ?"))
                    .collect();
                let mut keys: Vec<String> = update
                    .key
                    .iter()
                    .map(|(name, _)| format!("{table}.{name} = ?"))
                    .collect();
                if let Some((name, _)) = update.still {
                    keys.push(format!("{table}.{name} IS ?"));
                }
                let verb = if update.caller_fails_unless_every_row_changes {
                    "UPDATE OR IGNORE"
                } else {
                    "UPDATE"
                };
                let sql = format!(
                    "{verb} {table} SET {} WHERE {}{condition}",
                    sets.join(", "),
                    keys.join(" AND ")
                );
                let key_width = update.key.len() + usize::from(update.still.is_some());
                super::direct::with_direct_sqlite(connection, |direct| {
                    let mut prepared = DirectStatement::prepare(direct, &sql)?;
                    let mut affected = 0;
                    for row in update.rows {
                        let (key, set) = row.split_at(key_width.min(row.len()));
                        for (index, value) in set.iter().chain(key).enumerate() {
                            bind_direct(&mut prepared, index + 1, value)?;
                        }
                        affected += prepared.execute()?;
                    }
                    Ok(affected)
                })
                .await
            }
            Connection::Postgres(connection) => {
                let still = update
                    .still
                    .map(|(name, kind)| (format!("still_{name}"), kind));
                let columns: Vec<(&str, Kind)> = update
                    .key
                    .iter()
                    .copied()
                    .chain(still.as_ref().map(|(name, kind)| (name.as_str(), *kind)))
                    .chain(update.set.iter().copied())
                    .collect();
                let source = RowSource {
                    name: "incoming_changes",
                    columns: &columns,
                    rows: update.rows,
                };
                let sets: Vec<String> = update
                    .set
                    .iter()
                    .map(|(name, _)| format!("{name} = incoming_changes.{name}"))
                    .collect();
                let mut keys: Vec<String> = update
                    .key
                    .iter()
                    .map(|(name, _)| format!("{table}.{name} = incoming_changes.{name}"))
                    .collect();
                if let Some((name, _)) = update.still {
                    keys.push(format!(
                        "{table}.{name} IS NOT DISTINCT FROM incoming_changes.still_{name}"
                    ));
                }
                let statement = Statement::text(format!(
                    "UPDATE {table} SET {} FROM incoming_changes WHERE {}{condition}",
                    sets.join(", "),
                    keys.join(" AND ")
                ));
                execute_with_arrays(connection, &source, &statement).await
            }
        }
    })
}

fn insert_sqlite_direct(
    direct: &rusqlite::Connection,
    insert: &InsertRows<'_>,
    names: &str,
    conflict: &str,
) -> StoreResult<u64> {
    let row_placeholders = format!("({})", vec!["?"; insert.columns.len()].join(", "));
    let width = insert.columns.len().max(1);
    // SQLite binds at most 32,766 values in one statement.
    let rows_per_chunk = (30_000 / width).clamp(1, SQLITE_INSERT_ROWS_PER_STATEMENT);
    let sql_for = |rows: usize| {
        format!(
            "{} INTO {} ({names}) VALUES {}{conflict}",
            insert.sqlite_verb(),
            insert.table,
            vec![row_placeholders.as_str(); rows].join(", ")
        )
    };
    let mut full: Option<DirectStatement> = None;
    let mut affected = 0;
    for chunk in insert.rows.chunks(rows_per_chunk) {
        let mut last;
        let prepared = if chunk.len() == rows_per_chunk {
            if full.is_none() {
                full = Some(DirectStatement::prepare(direct, &sql_for(chunk.len()))?);
            }
            full.as_mut().expect("prepared above")
        } else {
            last = DirectStatement::prepare(direct, &sql_for(chunk.len()))?;
            &mut last
        };
        for (index, value) in chunk.iter().flatten().enumerate() {
            bind_direct(prepared, index + 1, value)?;
        }
        affected += prepared.execute()?;
    }
    Ok(affected)
}

/// Rows in one SQLite `INSERT`. A statement of one row needs no statement journal (a copy of
/// each page it changes, so that it can be undone alone) but pays a step per row; one of a
/// thousand rows journals every page it touches and takes long to prepare. Measured on a
/// million-customer import (docs/BENCHMARKS.md): 1 row 11.6–12.9 s, 20–250 rows 9.2–10.8 s,
/// 1,000–1,400 rows 11.6–12.2 s.
const SQLITE_INSERT_ROWS_PER_STATEMENT: usize = 100;

/// `COPY` straight into the table.
async fn copy_into(
    connection: &mut PgConnection,
    table: &str,
    source: &RowSource<'_>,
) -> StoreResult<u64> {
    let mut affected = 0;
    for chunk in source.rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
        let copy = format!("COPY {table} ({}) FROM STDIN", column_list(source));
        affected += copy_rows(connection, &copy, chunk).await?;
    }
    Ok(affected)
}

/// Rows sent to the server in one COPY at a time, a slice of this many rows per message.
const COPY_ROWS_PER_MESSAGE: usize = 1_000;

/// Runs `copy` (a `COPY … FROM STDIN`) over `rows`, sending each slice of rows as soon as it is
/// encoded: the server stores one slice while the next is encoded, where a chunk encoded whole
/// before sending left the server idle meanwhile.
async fn copy_rows(
    connection: &mut PgConnection,
    copy: &str,
    rows: &[Vec<Value<'_>>],
) -> StoreResult<u64> {
    let mut copy = connection.copy_in_raw(copy).await?;
    let mut buffer = Vec::new();
    for slice in rows.chunks(COPY_ROWS_PER_MESSAGE) {
        buffer.clear();
        for row in slice {
            encode_copy_row(&mut buffer, row);
        }
        if let Err(error) = copy.send(buffer.as_slice()).await {
            copy.abort(error.to_string()).await.ok();
            return Err(error.into());
        }
    }
    Ok(copy.finish().await?)
}

/// Rows in one `VALUES` list per execution of SQLite's statement: enough to spread each
/// statement's fixed costs (its journal, a sort), few enough to prepare in no time.
const SQLITE_ROWS_PER_STATEMENT: usize = 200;

/// The rows in chunks of one `VALUES` list, each size of statement prepared once per call.
fn execute_sqlite_direct(
    direct: &rusqlite::Connection,
    source: &RowSource<'_>,
    statement: &Statement,
) -> StoreResult<u64> {
    let row_placeholders = format!("({})", vec!["?"; source.columns.len()].join(", "));
    let sql_for = |rows: usize| {
        let mut sql = format!(
            "WITH {}({}) AS MATERIALIZED (VALUES {}) ",
            source.name,
            column_list(source),
            vec![row_placeholders.as_str(); rows].join(", ")
        );
        sql.push_str(&statement.text);
        sql
    };
    let mut full: Option<DirectStatement> = None;
    let mut affected = 0;
    for chunk in source.rows.chunks(SQLITE_ROWS_PER_STATEMENT) {
        let mut last;
        let prepared = if chunk.len() == SQLITE_ROWS_PER_STATEMENT {
            if full.is_none() {
                full = Some(DirectStatement::prepare(direct, &sql_for(chunk.len()))?);
            }
            full.as_mut().expect("prepared above")
        } else {
            last = DirectStatement::prepare(direct, &sql_for(chunk.len()))?;
            &mut last
        };
        for (index, value) in chunk.iter().flatten().enumerate() {
            bind_direct(prepared, index + 1, value)?;
        }
        affected += prepared.execute()?;
    }
    Ok(affected)
}

fn bind_direct<'v>(
    prepared: &mut DirectStatement<'_, 'v>,
    index: usize,
    value: &Value<'v>,
) -> StoreResult<()> {
    match *value {
        Value::Null(_) => prepared.bind_null(index),
        Value::Text(text) | Value::Json(text) => prepared.bind_text(index, text),
        Value::Integer(number) => prepared.bind_integer(index, number),
        Value::Real(number) => prepared.bind_real(index, number),
        Value::Timestamp(time) => prepared.bind_text_copied(index, &format_timestamp(time)),
        Value::Date(day) => prepared.bind_text_copied(index, &day.format("%Y-%m-%d").to_string()),
        Value::Boolean(flag) => prepared.bind_integer(index, i64::from(flag)),
    }
}

fn execute_with_arrays<'f, 'a: 'f>(
    connection: &'f mut PgConnection,
    source: &'f RowSource<'a>,
    statement: &'f Statement,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        let mut affected = 0;
        for chunk in source.rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
            let mut builder = QueryBuilder::<Postgres>::new(format!(
                "WITH {}({}, incoming_position) AS (SELECT ",
                source.name,
                column_list(source)
            ));
            let selected: Vec<String> = source
                .columns
                .iter()
                .enumerate()
                .map(|(index, (_, kind))| match kind {
                    // Arrays of JSON travel as text and are parsed once, here.
                    Kind::Json => format!("c{index}::jsonb"),
                    _ => format!("c{index}"),
                })
                .collect();
            builder.push(selected.join(", "));
            builder.push(", incoming_position FROM UNNEST(");
            for (index, (_, kind)) in source.columns.iter().enumerate() {
                if index > 0 {
                    builder.push(", ");
                }
                bind_column(&mut builder, chunk, index, *kind);
                builder.push(format!(
                    "::{}[]",
                    match kind {
                        Kind::Json => "text",
                        other => other.postgres_type(),
                    }
                ));
            }
            let aliases: Vec<String> = (0..source.columns.len())
                .map(|index| format!("c{index}"))
                .collect();
            builder.push(format!(
                ") WITH ORDINALITY AS incoming({}, incoming_position)) ",
                aliases.join(", ")
            ));
            builder.push(&statement.text);
            affected += builder
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected();
        }
        Ok(affected)
    })
}

/// Binds one column of `rows` as one array parameter.
fn bind_column<'a>(
    builder: &mut QueryBuilder<'a, Postgres>,
    rows: &[Vec<Value<'a>>],
    index: usize,
    kind: Kind,
) {
    macro_rules! array {
        ($type:ty, $pattern:pat => $value:expr) => {{
            let cells: Vec<Option<$type>> = rows
                .iter()
                .map(|row| match row[index] {
                    $pattern => Some($value),
                    _ => None,
                })
                .collect();
            builder.push_bind(cells);
        }};
    }
    match kind {
        Kind::Text | Kind::Json => {
            array!(&'a str, Value::Text(text) | Value::Json(text) => text)
        }
        Kind::Integer => array!(i64, Value::Integer(number) => number),
        Kind::Real => array!(f64, Value::Real(number) => number),
        Kind::Timestamp => array!(StoredTime, Value::Timestamp(time) => StoredTime(time)),
        Kind::Date => array!(chrono::NaiveDate, Value::Date(day) => day),
        Kind::Boolean => array!(bool, Value::Boolean(flag) => flag),
    }
}

fn execute_with_copy<'f, 'a: 'f>(
    connection: &'f mut PgConnection,
    source: &'f RowSource<'a>,
    statement: &'f Statement,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        let definitions: Vec<String> = source
            .columns
            .iter()
            .map(|(name, kind)| format!("{name} {}", kind.postgres_type()))
            .collect();
        // A transaction may send rows of another shape under the same name before (grading
        // writes its value rows, then its health rows): the table is made afresh each time.
        let drop = format!("DROP TABLE IF EXISTS pg_temp.{}", source.name);
        let create = format!(
            "CREATE TEMPORARY TABLE {} ({}, incoming_position bigserial) ON COMMIT DROP",
            source.name,
            definitions.join(", ")
        );
        for statement in [drop, create] {
            sqlx::query(&statement)
                .persistent(false)
                .execute(&mut *connection)
                .await?;
        }
        let mut affected = 0;
        for chunk in source.rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
            let truncate = format!("TRUNCATE {}", source.name);
            sqlx::query(&truncate)
                .persistent(false)
                .execute(&mut *connection)
                .await?;
            let copy = format!("COPY {} ({}) FROM STDIN", source.name, column_list(source));
            copy_rows(connection, &copy, chunk).await?;
            let mut builder = QueryBuilder::<Postgres>::new("");
            builder.push(&statement.text);
            affected += builder
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected();
        }
        Ok(affected)
    })
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn encode_copy_row(buffer: &mut Vec<u8>, row: &[Value<'_>]) {
    for (index, value) in row.iter().enumerate() {
        if index > 0 {
            buffer.push(b'\t');
        }
        match *value {
            Value::Null(_) => buffer.extend_from_slice(b"\\N"),
            Value::Text(text) | Value::Json(text) => {
                for byte in text.bytes() {
                    match byte {
                        b'\\' => buffer.extend_from_slice(b"\\\\"),
                        b'\t' => buffer.extend_from_slice(b"\\t"),
                        b'\n' => buffer.extend_from_slice(b"\\n"),
                        b'\r' => buffer.extend_from_slice(b"\\r"),
                        other => buffer.push(other),
                    }
                }
            }
            Value::Integer(number) => buffer.extend_from_slice(number.to_string().as_bytes()),
            Value::Real(number) => buffer.extend_from_slice(format!("{number:?}").as_bytes()),
            Value::Timestamp(time) => buffer.extend_from_slice(format_timestamp(time).as_bytes()),
            Value::Date(day) => {
                buffer.extend_from_slice(day.format("%Y-%m-%d").to_string().as_bytes())
            }
            Value::Boolean(flag) => buffer.push(if flag { b't' } else { b'f' }),
        }
    }
    buffer.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_rows_escape_what_the_text_format_reserves() {
        let mut buffer = Vec::new();
        encode_copy_row(
            &mut buffer,
            &[
                Value::Text("a\tb\\c\nd"),
                Value::Null(Kind::Text),
                Value::Integer(-7),
                Value::Real(0.1),
                Value::Boolean(true),
            ],
        );
        assert_eq!(
            String::from_utf8(buffer).unwrap(),
            "a\\tb\\\\c\\nd\t\\N\t-7\t0.1\tt\n"
        );
    }
}
