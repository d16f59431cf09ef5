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
