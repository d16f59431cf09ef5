//! Writing customers in bulk, the statement generated from the core's column table, and
//! recounting the loads of the reps whose customers changed.

use std::collections::HashSet;
use std::sync::OnceLock;

use allot_core::customer::{StoredType, CUSTOMER_COLUMNS};
use allot_core::Customer;
use chrono::{DateTime, Utc};

use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::{on_backend, sql, Connected, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};

fn kind_of(stored: StoredType) -> Kind {
    match stored {
        StoredType::Text => Kind::Text,
        StoredType::Integer => Kind::Integer,
        StoredType::Real => Kind::Real,
        StoredType::Timestamp => Kind::Timestamp,
    }
}

/// The columns a customer row writes: the table's, then its attributes and when it changed.
fn write_columns() -> &'static [(&'static str, Kind)] {
    static COLUMNS: OnceLock<Vec<(&'static str, Kind)>> = OnceLock::new();
    COLUMNS.get_or_init(|| {
        CUSTOMER_COLUMNS
            .iter()
            .map(|column| (column.sql, kind_of(column.stored_as)))
            .chain([("attributes", Kind::Json), ("updated_at", Kind::Timestamp)])
            .collect()
    })
}

/// What an upsert of an existing customer changes: every column. Once a customer has been
/// graded its tier belongs to grading (and to manual overrides, which are logged): the stored
/// tier is kept whatever the row says, so no write path can change a tier without its event.
fn on_conflict() -> &'static str {
    static CLAUSE: OnceLock<String> = OnceLock::new();
    CLAUSE.get_or_init(|| {
        let updates: Vec<String> = write_columns()
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| *name != "id")
            .map(|name| match name {
                "tier" => "tier = CASE WHEN EXISTS (SELECT 1 FROM customer_values WHERE customer_values.customer_id = customers.id) \
                           THEN customers.tier ELSE excluded.tier END"
                    .to_string(),
                name => format!("{name} = excluded.{name}"),
            })
            .collect();
        format!("(id) DO UPDATE SET {}", updates.join(", "))
    })
}

/// Writes `customers` (new or changed), each with `updated_at`; `transfer` says how PostgreSQL
/// receives them (COPY for imports).
pub(crate) async fn upsert_customers(
    source: &mut impl Connected,
    customers: &[&Customer],
    updated_at: DateTime<Utc>,
    transfer: Transfer,
) -> StoreResult<()> {
    write_customers(source, customers, updated_at, transfer, Some(on_conflict())).await?;
    forget_match_keys(source, customers).await?;
    write_match_keys(source, customers, transfer).await
}

/// Inserts customers known not to be stored (looked up under the routing lock, which every
/// writer of customers holds): no conflict clause, so PostgreSQL copies them straight into the
/// table. Should one exist after all, the unique key refuses the whole write.
pub(crate) async fn insert_new_customers(
    source: &mut impl Connected,
    customers: &[&Customer],
    updated_at: DateTime<Utc>,
    transfer: Transfer,
) -> StoreResult<()> {
    write_customers(source, customers, updated_at, transfer, None).await?;
    write_match_keys(source, customers, transfer).await
}

async fn write_customers(
    source: &mut impl Connected,
    customers: &[&Customer],
    updated_at: DateTime<Utc>,
    transfer: Transfer,
    on_conflict: Option<&str>,
) -> StoreResult<()> {
    let attributes: Vec<String> = customers
        .iter()
        .map(|customer| serde_json::to_string(&customer.attributes))
        .collect::<Result<_, _>>()
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    let rows: Vec<Vec<Value<'_>>> = customers
        .iter()
        .zip(&attributes)
        .map(|(customer, attributes)| {
            CUSTOMER_COLUMNS
                .iter()
                .map(|column| Value::of_cell((column.cell)(customer), kind_of(column.stored_as)))
                .chain([Value::Json(attributes), Value::Timestamp(updated_at)])
                .collect()
        })
        .collect();
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "customers",
            columns: write_columns(),
            rows: &rows,
            on_conflict,
            never_clash: false,
        },
        transfer,
    )
    .await?;
    Ok(())
}

/// Removes the match keys of customers about to be written again (their name or contacts may
/// have changed).
async fn forget_match_keys(
    source: &mut impl Connected,
    customers: &[&Customer],
) -> StoreResult<()> {
    let ids: Vec<&str> = customers
        .iter()
        .map(|customer| customer.id.as_str())
        .collect();
    for chunk in ids.chunks(LIST_CHUNK) {
        on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "DELETE FROM customer_match_keys WHERE ");
            query.push_in_list("customer_id", chunk);
            query.build().execute(&mut *connection).await?;
        });
    }
    Ok(())
}

/// Indexes the match keys of `customers` (see [`allot_core::matching`]), so later customers
/// are matched against them (撞单).
pub(crate) async fn write_match_keys(
    source: &mut impl Connected,
    customers: &[&Customer],
    transfer: Transfer,
) -> StoreResult<()> {
    const COLUMNS: &[(&str, Kind)] = &[("fingerprint", Kind::Integer), ("customer_id", Kind::Text)];
    let mut keys: Vec<(i64, &str)> = customers
        .iter()
        .flat_map(|customer| {
            allot_core::matching::customer_match_keys(customer)
                .into_iter()
                .map(|key| (key.fingerprint(), customer.id.as_str()))
        })
        .collect();
    // Two keys of one customer may share a fingerprint; the row is the same.
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Value<'_>>> = keys
        .iter()
        .map(|(fingerprint, customer)| vec![Value::Integer(*fingerprint), Value::Text(customer)])
        .collect();
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "customer_match_keys",
            columns: COLUMNS,
            rows: &rows,
            on_conflict: None,
            // Keys are deduplicated above, and a customer's are forgotten before it is
            // written again.
            never_clash: true,
        },
        transfer,
    )
    .await?;
    Ok(())
}

/// Recounts the owned count and workload of the given reps from the customers table. Used
/// after changes outside routing (imports, edits), where incremental bookkeeping would be easy
/// to get wrong; only the reps whose customers changed are counted again.
pub(crate) async fn recount_rep_loads(
    source: &mut impl Connected,
    reps: &HashSet<&str>,
) -> StoreResult<()> {
    let reps: Vec<&str> = reps.iter().copied().collect();
    for chunk in reps.chunks(LIST_CHUNK) {
        on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "UPDATE reps SET
                owned_count = (SELECT COUNT(*) FROM customers WHERE customers.owner_id = reps.id),
                owned_workload = (SELECT COALESCE(SUM(customers.workload), 0.0) FROM customers WHERE customers.owner_id = reps.id)
             WHERE ");
            query.push_in_list("reps.id", chunk);
            query.build().execute(&mut *connection).await?;
        });
    }
    Ok(())
}
