//! Multi-row statements: one INSERT or UPDATE for hundreds of rows, the same text on both backends.
//!
//! Row-at-a-time statements were the cost of every large write (routing a pool, grading all
//! customers); batching keeps the same transaction and so the same guarantees.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use crate::error::StoreResult;
use crate::Backend;

/// A query being bound, as the bind functions of [`execute_batched`] receive and return it.
pub(crate) type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// Rows per multi-row statement, lowered for wide rows so a statement stays far below both
/// backends' parameter limits (SQLite 32,766, PostgreSQL 65,535).
const BATCH_ROWS: usize = 500;
const BATCH_PARAMETERS: usize = 20_000;

/// Rows of text cells handed to one statement as the FROM item `row_source`, with columns
/// `c0`, `c1`, … and `position` (their order). Many rows go as one JSON parameter: one
/// parameter instead of thousands, where PostgreSQL through sqlx's Any driver spent most of a
/// large write binding them. A few rows go as bound values: planning a join over JSON costs
/// more than binding a handful (a single routing decision through the API).
pub(crate) struct RowSource {
    pub from: String,
    binds: RowBinds,
}

enum RowBinds {
    Json(String),
    Values(Vec<Option<String>>),
}

/// Up to this many rows are bound as values.
const FEW_ROWS: usize = 8;

impl RowSource {
    /// `rows`, all of the same width. The FROM item's parameters come first; a statement
    /// numbers its own from [`RowSource::next_parameter`] on.
    pub(crate) fn new(
        backend: Backend,
        rows: Vec<Vec<Option<&str>>>,
    ) -> Result<RowSource, serde_json::Error> {
        let width = rows.first().map_or(0, Vec::len);
        let columns: Vec<String> = (0..width).map(|index| format!("c{index}")).collect();
        if rows.len() <= FEW_ROWS {
            let mut parameter = 0;
            let lists: Vec<String> = rows
                .iter()
                .enumerate()
                .map(|(position, _)| {
                    let cells: Vec<String> = (0..width)
                        .map(|_| {
                            parameter += 1;
                            format!("CAST(${parameter} AS TEXT)")
                        })
                        .collect();
                    format!("({}, {position})", cells.join(", "))
                })
                .collect();
            // VALUES names its columns column1, column2, … on both backends (SQLite takes no
            // column list after an alias).
            let renamed: Vec<String> = columns
                .iter()
                .chain(std::iter::once(&"position".to_string()))
                .enumerate()
                .map(|(index, name)| format!("column{} AS {name}", index + 1))
                .collect();
            return Ok(RowSource {
                from: format!(
                    "(SELECT {} FROM (VALUES {}) AS listed) AS row_source",
                    renamed.join(", "),
                    lists.join(", ")
                ),
                binds: RowBinds::Values(
                    rows.into_iter()
                        .flatten()
                        .map(|cell| cell.map(str::to_string))
                        .collect(),
                ),
            });
        }
        let cells: Vec<String> = (0..width)
            .map(|index| format!("value->>{index} AS c{index}"))
            .collect();
        let from = match backend {
            Backend::Sqlite => format!(
                "(SELECT {}, key AS position FROM json_each($1)) AS row_source",
                cells.join(", ")
            ),
            // jsonb: parsed once, where `json` would be parsed again by every `->>`.
            Backend::Postgres => format!(
                "(SELECT {}, position FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS element(value, position)) AS row_source",
                cells.join(", ")
            ),
        };
        Ok(RowSource {
            from,
            binds: RowBinds::Json(serde_json::to_string(&rows)?),
        })
    }

    /// The number of the first parameter after the rows'.
    pub(crate) fn next_parameter(&self) -> usize {
        match &self.binds {
            RowBinds::Json(_) => 2,
            RowBinds::Values(cells) => cells.len() + 1,
        }
    }

    /// Binds the rows' parameters; bind the statement's own after these.
    pub(crate) fn bind<'q>(&'q self, mut query: AnyQuery<'q>) -> AnyQuery<'q> {
        match &self.binds {
            RowBinds::Json(json) => query.bind(json.as_str()),
            RowBinds::Values(cells) => {
                for cell in cells {
                    query = query.bind(cell.as_deref());
                }
                query
            }
        }
    }
}

/// `(…), (…)` value lists for `rows` rows. Each cell is a template in which `{}` stands for the
/// parameter, such as `CAST({} AS DOUBLE PRECISION)`, or a constant without one. SQLite gets anonymous `?` markers: sqlx
/// looks each numbered parameter's name up in a linear list, which made `$N` markers quadratic
/// in the number of parameters (40% of routing time at 500 rows). `first_parameter` is the
/// number of the first PostgreSQL parameter, for statements with parameters before the rows.
pub(crate) fn value_lists(
    backend: Backend,
    rows: usize,
    cells: &[&str],
    first_parameter: usize,
) -> String {
    let mut parameter = first_parameter;
    let mut lists = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: Vec<String> = cells
            .iter()
            .map(|cell| {
                if !cell.contains("{}") {
                    // A constant, the same in every row.
                    return cell.to_string();
                }
                let marker = match backend {
                    Backend::Sqlite => "?".to_string(),
                    Backend::Postgres => format!("${parameter}"),
                };
                parameter += 1;
                cell.replace("{}", &marker)
            })
            .collect();
        lists.push(format!("({})", row.join(", ")));
    }
    lists.join(", ")
}

/// Runs `statement` (which contains `{rows}` where the value lists go) over `rows` in chunks,
/// binding each row with `bind`; returns the rows affected in all.
pub(crate) async fn execute_batched<T>(
    transaction: &mut Transaction<'static, Any>,
    backend: Backend,
    statement: &str,
    cells: &[&str],
    rows: &[T],
    bind: for<'q> fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> StoreResult<u64> {
    let chunk_rows = BATCH_ROWS.min(BATCH_PARAMETERS / cells.len().max(1)).max(1);
    let mut affected = 0;
    for chunk in rows.chunks(chunk_rows) {
        let sql = statement.replace("{rows}", &value_lists(backend, chunk.len(), cells, 1));
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        affected += query.execute(&mut **transaction).await?.rows_affected();
    }
    Ok(affected)
}
