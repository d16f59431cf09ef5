//! Writing customers in bulk, the statement generated from the core's column table, and
//! recounting the loads of the reps whose customers changed.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use allot_core::customer::{StoredType, CUSTOMER_COLUMNS};
use allot_core::{Customer, CustomerId};
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
/// receives them (COPY for imports). `previous` holds the stored versions of those that were
/// stored: their match keys are replaced where they changed.
pub(crate) async fn upsert_customers(
    source: &mut impl Connected,
    customers: &[&Customer],
    previous: &[&Customer],
    updated_at: DateTime<Utc>,
    transfer: Transfer,
) -> StoreResult<()> {
    write_customers(source, customers, updated_at, transfer, Some(on_conflict())).await?;
    replace_match_keys(source, previous, customers, transfer).await
}

/// Inserts customers known not to be stored (looked up under the routing lock, which every
/// writer of customers holds): no conflict clause, so PostgreSQL copies them straight into the
/// table. Should one exist after all, the unique key refuses the whole write.
/// `prints` are the fingerprints of each customer's match keys, in the customers' order; with
/// `pending`, they are kept there, to be written when the import ends.
pub(crate) async fn insert_new_customers(
    source: &mut impl Connected,
    customers: &[&Customer],
    prints: &[Vec<i64>],
    updated_at: DateTime<Utc>,
    transfer: Transfer,
    pending: Option<&mut PendingMatchKeys>,
) -> StoreResult<()> {
    if prints.len() != customers.len() {
        return Err(StoreError::Corrupt(format!(
            "{} customers to insert with the key fingerprints of {}",
            customers.len(),
            prints.len()
        )));
    }
    write_customers(source, customers, updated_at, transfer, None).await?;
    match pending {
        Some(pending) => {
            for (customer, prints) in customers.iter().zip(prints) {
                pending.add(&customer.id, prints);
            }
            Ok(())
        }
        None => {
            let mut rows: Vec<(i64, &str)> = customers
                .iter()
                .zip(prints)
                .flat_map(|(customer, prints)| {
                    prints.iter().map(|print| (*print, customer.id.as_str()))
                })
                .collect();
            rows.sort_unstable();
            rows.dedup();
            insert_key_rows(source, &rows, transfer).await
        }
    }
}

/// The match keys of the customers an import into an empty table wrote, kept until it ends
/// and then written in fingerprint order, so they are appended to the index instead of
/// scattered over it (written chunk by chunk, they took as long as the rest of a first import
/// of a million customers).
#[derive(Default)]
pub(crate) struct PendingMatchKeys {
    customers: Vec<CustomerId>,
    /// (fingerprint, position in `customers`).
    rows: Vec<(i64, u32)>,
    /// The first customer of each fingerprint, and any others that share it. Fingerprints are
    /// hashes already: foldhash spreads them for a fraction of SipHash's cost (a first import
    /// of a million customers keeps four million).
    first: HashMap<i64, u32, foldhash::fast::RandomState>,
    more: HashMap<i64, Vec<u32>, foldhash::fast::RandomState>,
}

/// Key rows written per statement batch when pending keys are written.
const PENDING_ROWS_PER_WRITE: usize = 50_000;

impl PendingMatchKeys {
    /// Keeps a customer's key fingerprints.
    pub(crate) fn add(&mut self, customer: &CustomerId, prints: &[i64]) {
        let Ok(position) = u32::try_from(self.customers.len()) else {
            // Past four billion customers in one import their keys would not be kept, so not
            // matched; unreachable in practice, and not worth a panic.
            return;
        };
        self.customers.push(customer.clone());
        let mut fingerprints = prints.to_vec();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        for fingerprint in fingerprints {
            self.rows.push((fingerprint, position));
            match self.first.entry(fingerprint) {
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(position);
                }
                std::collections::hash_map::Entry::Occupied(_) => {
                    self.more.entry(fingerprint).or_default().push(position);
                }
            }
        }
    }

    /// The customers written with a key of this fingerprint.
    pub(crate) fn customers_with(&self, fingerprint: i64) -> impl Iterator<Item = &CustomerId> {
        self.first
            .get(&fingerprint)
            .into_iter()
            .chain(self.more.get(&fingerprint).into_iter().flatten())
            .map(|position| &self.customers[*position as usize])
    }

    /// Writes every kept key, in fingerprint order.
    pub(crate) async fn write(mut self, source: &mut impl Connected) -> StoreResult<()> {
        const COLUMNS: &[(&str, Kind)] =
            &[("fingerprint", Kind::Integer), ("customer_id", Kind::Text)];
        let customers = std::mem::take(&mut self.customers);
        let mut rows = std::mem::take(&mut self.rows);
        drop(self);
        rows.sort_unstable_by(|(a_print, a_at), (b_print, b_at)| {
            (a_print, customers[*a_at as usize].as_str())
                .cmp(&(b_print, customers[*b_at as usize].as_str()))
        });
        for batch in rows.chunks(PENDING_ROWS_PER_WRITE) {
            let values: Vec<Vec<Value<'_>>> = batch
                .iter()
                .map(|(fingerprint, at)| {
                    vec![
                        Value::Integer(*fingerprint),
                        Value::Text(customers[*at as usize].as_str()),
                    ]
                })
                .collect();
            insert_rows(
                source.connection(),
                &InsertRows {
                    table: "customer_match_keys",
                    columns: COLUMNS,
                    rows: &values,
                    on_conflict: None,
                    // One row per customer and fingerprint, into a table that was empty.
                    never_clash: true,
                },
                Transfer::Copy,
            )
            .await?;
        }
        Ok(())
    }
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

/// The (fingerprint, customer) rows of customers' match keys, sorted, without repeats.
fn key_rows<'c>(customers: &[&'c Customer]) -> Vec<(i64, &'c str)> {
    let mut rows: Vec<(i64, &str)> = customers
        .iter()
        .flat_map(|customer| {
            allot_core::matching::customer_match_keys(customer)
                .into_iter()
                .map(|key| (key.fingerprint(), customer.id.as_str()))
        })
        .collect();
    // Two keys of one customer may share a fingerprint; the row is the same.
    rows.sort_unstable();
    rows.dedup();
    rows
}

/// `(fingerprint, customer_id) IN (…)` over key rows: row values on SQLite, two arrays on
/// PostgreSQL.
trait KeyRowList<'a> {
    fn push_in_key_rows(&mut self, rows: &[(i64, &'a str)]) -> &mut Self;
}

impl<'a> KeyRowList<'a> for sqlx::QueryBuilder<'a, sqlx::Sqlite> {
    fn push_in_key_rows(&mut self, rows: &[(i64, &'a str)]) -> &mut Self {
        self.push("(fingerprint, customer_id) IN (VALUES ");
        let mut separated = self.separated(", ");
        for (fingerprint, customer) in rows {
            separated
                .push("(")
                .push_bind_unseparated(*fingerprint)
                .push_unseparated(", ")
                .push_bind_unseparated(*customer)
                .push_unseparated(")");
        }
        self.push(")")
    }
}

impl<'a> KeyRowList<'a> for sqlx::QueryBuilder<'a, sqlx::Postgres> {
    fn push_in_key_rows(&mut self, rows: &[(i64, &'a str)]) -> &mut Self {
        let fingerprints: Vec<i64> = rows.iter().map(|(fingerprint, _)| *fingerprint).collect();
        let customers: Vec<&'a str> = rows.iter().map(|(_, customer)| *customer).collect();
        self.push("(fingerprint, customer_id) IN (SELECT * FROM UNNEST(")
            .push_bind(fingerprints)
            .push("::int8[], ")
            .push_bind(customers)
            .push("::text[]))")
    }
}

/// Replaces the match keys of customers written again: the rows of `previous` (their stored
/// versions) that `customers` no longer have go, the new ones come. A customer whose name and
/// contacts did not change writes no key at all. Deleting by the whole key needs no index on the
/// customer, which a first import would pay for on every row.
async fn replace_match_keys(
    source: &mut impl Connected,
    previous: &[&Customer],
    customers: &[&Customer],
    transfer: Transfer,
) -> StoreResult<()> {
    let before: HashSet<(i64, &str)> = key_rows(previous).into_iter().collect();
    let after = key_rows(customers);
    let after_set: HashSet<(i64, &str)> = after.iter().copied().collect();
    let gone: Vec<(i64, &str)> = before
        .iter()
        .filter(|row| !after_set.contains(row))
        .copied()
        .collect();
    for chunk in gone.chunks(LIST_CHUNK / 2) {
        on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "DELETE FROM customer_match_keys WHERE ");
            query.push_in_key_rows(chunk);
            query.build().execute(&mut *connection).await?;
        });
    }
    let new: Vec<(i64, &str)> = after
        .into_iter()
        .filter(|row| !before.contains(row))
        .collect();
    insert_key_rows(source, &new, transfer).await
}

/// Indexes the match keys of `customers` (see [`allot_core::matching`]), so later customers
/// are matched against them (撞单).
pub(crate) async fn write_match_keys(
    source: &mut impl Connected,
    customers: &[&Customer],
    transfer: Transfer,
) -> StoreResult<()> {
    insert_key_rows(source, &key_rows(customers), transfer).await
}

async fn insert_key_rows(
    source: &mut impl Connected,
    keys: &[(i64, &str)],
    transfer: Transfer,
) -> StoreResult<()> {
    const COLUMNS: &[(&str, Kind)] = &[("fingerprint", Kind::Integer), ("customer_id", Kind::Text)];
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
            // The rows are distinct, and a customer's stored rows are not among them.
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
