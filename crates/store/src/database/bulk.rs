//! Many rows per statement: a set of rows is handed to one statement as a named row source, so a
//! large write costs a round trip per chunk instead of one per row.
//!
//! The statement is written once and reads the rows `FROM` the source's name. SQLite gets the
//! rows as a `WITH name(…) AS MATERIALIZED (VALUES …)` list of bound values; PostgreSQL as
//! `WITH name(…) AS (SELECT … FROM UNNEST($1::text[], …))`, one array parameter per column, or,
//! for imports, `COPY … FROM STDIN` into a temporary table of that name.

use chrono::{DateTime, Utc};
use futures_core::future::BoxFuture;
use sqlx::{PgConnection, Postgres, QueryBuilder, Sqlite, SqliteConnection};

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
    /// `COPY … FROM STDIN` into a temporary table: for imports of many rows.
    Copy,
}

/// The statement that reads a row source: text and bound values, the same for both backends.
#[derive(Debug, Clone, Default)]
pub(crate) struct Statement<'a> {
    parts: Vec<Part<'a>>,
}

#[derive(Debug, Clone)]
enum Part<'a> {
    Text(String),
    Bind(Value<'a>),
}

impl<'a> Statement<'a> {
    pub(crate) fn text(text: impl Into<String>) -> Statement<'a> {
        Statement {
            parts: vec![Part::Text(text.into())],
        }
    }

    pub(crate) fn then(mut self, text: impl Into<String>) -> Statement<'a> {
        self.parts.push(Part::Text(text.into()));
        self
    }

    pub(crate) fn bind(mut self, value: Value<'a>) -> Statement<'a> {
        self.parts.push(Part::Bind(value));
        self
    }

    fn push_sqlite(&self, builder: &mut QueryBuilder<'a, Sqlite>) {
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    builder.push(text);
                }
                Part::Bind(value) => bind_sqlite(builder, *value),
            }
        }
    }

    fn push_postgres(&self, builder: &mut QueryBuilder<'a, Postgres>) {
        for part in &self.parts {
            match part {
                Part::Text(text) => {
                    builder.push(text);
                }
                Part::Bind(value) => bind_postgres(builder, *value),
            }
        }
    }
}

fn bind_sqlite<'a>(builder: &mut QueryBuilder<'a, Sqlite>, value: Value<'a>) {
    match value {
        Value::Null(_) => builder.push_bind(None::<&str>),
        Value::Text(text) | Value::Json(text) => builder.push_bind(text),
        Value::Integer(number) => builder.push_bind(number),
        Value::Real(number) => builder.push_bind(number),
        Value::Timestamp(time) => builder.push_bind(StoredTime(time)),
        Value::Boolean(flag) => builder.push_bind(flag),
    };
}

fn bind_postgres<'a>(builder: &mut QueryBuilder<'a, Postgres>, value: Value<'a>) {
    match value {
        Value::Null(Kind::Text) | Value::Null(Kind::Json) => builder.push_bind(None::<&str>),
        Value::Null(Kind::Integer) => builder.push_bind(None::<i64>),
        Value::Null(Kind::Real) => builder.push_bind(None::<f64>),
        Value::Null(Kind::Timestamp) => builder.push_bind(None::<StoredTime>),
        Value::Null(Kind::Boolean) => builder.push_bind(None::<bool>),
        Value::Text(text) => builder.push_bind(text),
        Value::Json(text) => builder.push_bind(text).push("::jsonb"),
        Value::Integer(number) => builder.push_bind(number),
        Value::Real(number) => builder.push_bind(number),
        Value::Timestamp(time) => builder.push_bind(StoredTime(time)),
        Value::Boolean(flag) => builder.push_bind(flag),
    };
}

/// Largest number of values bound in one SQLite statement (its limit is 32,766).
const SQLITE_VALUES_PER_STATEMENT: usize = 30_000;
/// Most rows in one SQLite statement, whatever their width.
const SQLITE_ROWS_PER_STATEMENT: usize = 1_000;
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
    statement: Statement<'a>,
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
    statement: &'f Statement<'a>,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        let width = source.columns.len().max(1);
        let rows_per_chunk =
            (SQLITE_VALUES_PER_STATEMENT / width).clamp(1, SQLITE_ROWS_PER_STATEMENT);
        let mut affected = 0;
        for chunk in source.rows.chunks(rows_per_chunk) {
            let mut builder = QueryBuilder::<Sqlite>::new(format!(
                // MATERIALIZED: otherwise SQLite may drive a join from the other table and read the
                // list once per row of it.
                "WITH {}({}) AS MATERIALIZED (",
                source.name,
                column_list(source)
            ));
            builder.push_values(chunk, |mut tuple, row| {
                for value in row {
                    match *value {
                        Value::Null(_) => tuple.push_bind(None::<&str>),
                        Value::Text(text) | Value::Json(text) => tuple.push_bind(text),
                        Value::Integer(number) => tuple.push_bind(number),
                        Value::Real(number) => tuple.push_bind(number),
                        Value::Timestamp(time) => tuple.push_bind(StoredTime(time)),
                        Value::Boolean(flag) => tuple.push_bind(flag),
                    };
                }
            });
            builder.push(") ");
            statement.push_sqlite(&mut builder);
            affected += builder
                .build()
                .execute(&mut *connection)
                .await?
                .rows_affected();
        }
        Ok(affected)
    })
}

fn execute_with_arrays<'f, 'a: 'f>(
    connection: &'f mut PgConnection,
    source: &'f RowSource<'a>,
    statement: &'f Statement<'a>,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        let mut affected = 0;
        for chunk in source.rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
            let mut builder = QueryBuilder::<Postgres>::new(format!(
                "WITH {}({}) AS (SELECT ",
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
            builder.push(" FROM UNNEST(");
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
            builder.push(format!(") AS incoming({})) ", aliases.join(", ")));
            statement.push_postgres(&mut builder);
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
        Kind::Boolean => array!(bool, Value::Boolean(flag) => flag),
    }
}

fn execute_with_copy<'f, 'a: 'f>(
    connection: &'f mut PgConnection,
    source: &'f RowSource<'a>,
    statement: &'f Statement<'a>,
) -> BoxFuture<'f, StoreResult<u64>> {
    Box::pin(async move {
        let definitions: Vec<String> = source
            .columns
            .iter()
            .map(|(name, kind)| format!("{name} {}", kind.postgres_type()))
            .collect();
        let create = format!(
            "CREATE TEMPORARY TABLE IF NOT EXISTS {} ({}) ON COMMIT DROP",
            source.name,
            definitions.join(", ")
        );
        sqlx::query(&create)
            .persistent(false)
            .execute(&mut *connection)
            .await?;
        let mut affected = 0;
        let mut buffer = Vec::new();
        for chunk in source.rows.chunks(POSTGRES_ROWS_PER_STATEMENT) {
            let truncate = format!("TRUNCATE {}", source.name);
            sqlx::query(&truncate)
                .persistent(false)
                .execute(&mut *connection)
                .await?;
            buffer.clear();
            for row in chunk {
                encode_copy_row(&mut buffer, row);
            }
            let mut copy = connection
                .copy_in_raw(&format!(
                    "COPY {} ({}) FROM STDIN",
                    source.name,
                    column_list(source)
                ))
                .await?;
            if let Err(error) = copy.send(buffer.as_slice()).await {
                copy.abort(error.to_string()).await.ok();
                return Err(error.into());
            }
            copy.finish().await?;
            let mut builder = QueryBuilder::<Postgres>::new("");
            statement.push_postgres(&mut builder);
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
