//! Transactions and interactions: import from files, single adds from the API, and loading them for grading.

use std::collections::{BTreeMap, HashMap, HashSet};

use allot_core::activity::{content_id, Interaction, Transaction};
use allot_core::{Clock, CustomerId, Money};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::bulk::{
    execute_with_rows, insert_rows, InsertRows, Kind, RowSource, Statement, Transfer, Value,
};
use crate::database::direct::{stored_time_column, with_direct_sqlite};
use crate::database::{on_backend, sql, Connected, Connection};
use crate::error::{StoreError, StoreResult};
use crate::imports::{finish_import, BadRows, ImportSummary, Progress, RowProblem};
use crate::organisation::existing_ids;
use crate::{format_timestamp, Store, StoredTime};

/// A transaction as stored, with its id (given or derived from its content).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTransaction {
    pub id: String,
    pub customer_id: String,
    /// RFC 3339 in UTC.
    pub at: String,
    /// In major units (yuan), exact to the cent.
    pub amount: Money,
    pub product_line: String,
    /// False when a transaction with this id existed and was replaced; left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

/// An interaction as stored.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredInteraction {
    pub id: String,
    pub customer_id: String,
    pub rep_id: String,
    pub at: String,
    pub kind: String,
    pub minutes: f64,
    pub outcome: String,
    /// False when an interaction with this id existed and was replaced; left out of listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

/// A customer's newest purchases and interactions, newest first, for its 360 view.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentActivity {
    pub transactions: Vec<StoredTransaction>,
    pub interactions: Vec<StoredInteraction>,
}

/// Everything grading needs about one customer's activity, as of no particular time:
/// the value module filters by the clock.
#[derive(Debug, Clone, Default)]
pub struct CustomerActivity {
    pub transactions: Vec<(DateTime<Utc>, Money)>,
    /// Time and minutes of each interaction, in time order.
    pub interactions: Vec<(DateTime<Utc>, f64)>,
}

/// Gives rows without an id a stable one: identical rows of one file count up.
struct RowIds {
    seen: HashMap<String, usize>,
}

impl RowIds {
    fn new() -> Self {
        RowIds {
            seen: HashMap::new(),
        }
    }

    fn id(&mut self, given: &Option<String>, prefix: &str, content: &[&str]) -> String {
        if let Some(id) = given {
            return id.clone();
        }
        let key = content.join("\u{1f}");
        let occurrence = self.seen.entry(key).or_insert(0);
        let id = content_id(prefix, content, *occurrence);
        *occurrence += 1;
        id
    }
}

/// Rows to upsert by id; a later row with the same id replaces an earlier one, as it would
/// row by row (and PostgreSQL refuses to upsert one id twice in a statement).
struct PendingRows<T> {
    rows: Vec<(String, T)>,
    positions: HashMap<String, usize>,
}

impl<T> PendingRows<T> {
    fn new() -> Self {
        PendingRows {
            rows: Vec::new(),
            positions: HashMap::new(),
        }
    }

    fn push(&mut self, id: String, row: T) {
        match self.positions.get(&id) {
            Some(&position) => self.rows[position].1 = row,
            None => {
                self.positions.insert(id.clone(), self.rows.len());
                self.rows.push((id, row));
            }
        }
    }
}

async fn upsert_transactions(
    source: &mut impl Connected,
    rows: &[(String, Transaction)],
) -> StoreResult<()> {
    let values: Vec<Vec<Value<'_>>> = rows
        .iter()
        .map(|(id, row)| {
            vec![
                Value::Text(id),
                Value::Text(row.customer_id.as_str()),
                Value::Timestamp(row.at),
                Value::Integer(row.amount.minor_units()),
                Value::Text(&row.product_line),
            ]
        })
        .collect();
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "transactions",
            columns: &[
            ("id", Kind::Text),
            ("customer_id", Kind::Text),
            ("at", Kind::Timestamp),
            ("amount_minor", Kind::Integer),
            ("product_line", Kind::Text),
        ],
            rows: &values,
            on_conflict: Some("(id) DO UPDATE SET customer_id = excluded.customer_id, at = excluded.at, amount_minor = excluded.amount_minor, product_line = excluded.product_line"),
            never_clash: false,
        },
        Transfer::for_rows(rows.len()),
    )
    .await?;
    Ok(())
}

pub(crate) async fn upsert_interactions(
    source: &mut impl Connected,
    rows: &[(String, Interaction)],
) -> StoreResult<()> {
    let values: Vec<Vec<Value<'_>>> = rows
        .iter()
        .map(|(id, row)| {
            vec![
                Value::Text(id),
                Value::Text(row.customer_id.as_str()),
                Value::Text(row.rep_id.as_str()),
                Value::Timestamp(row.at),
                Value::Text(row.kind.as_str()),
                Value::Real(row.minutes),
                Value::Text(&row.outcome),
            ]
        })
        .collect();
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "interactions",
            columns: &[
            ("id", Kind::Text),
            ("customer_id", Kind::Text),
            ("rep_id", Kind::Text),
            ("at", Kind::Timestamp),
            ("kind", Kind::Text),
            ("minutes", Kind::Real),
            ("outcome", Kind::Text),
        ],
            rows: &values,
            on_conflict: Some("(id) DO UPDATE SET customer_id = excluded.customer_id, rep_id = excluded.rep_id, at = excluded.at, kind = excluded.kind, minutes = excluded.minutes, outcome = excluded.outcome"),
            never_clash: false,
        },
        Transfer::for_rows(rows.len()),
    )
    .await?;
    // From the rows kept: a row replaced by a later one with the same id never happened.
    let mut latest: BTreeMap<&str, DateTime<Utc>> = BTreeMap::new();
    for (_, row) in rows {
        let slot = latest.entry(row.customer_id.as_str()).or_insert(row.at);
        if *slot < row.at {
            *slot = row.at;
        }
    }
    let values: Vec<Vec<Value<'_>>> = latest
        .into_iter()
        .map(|(id, at)| vec![Value::Text(id), Value::Timestamp(at)])
        .collect();
    let touched = RowSource {
        name: "touched",
        columns: &[("id", Kind::Text), ("at", Kind::Timestamp)],
        rows: &values,
    };
    // Last-interaction time only moves forward: an old touch imported late does not hide a newer one.
    execute_with_rows(source.connection(), &touched, Transfer::Arrays, Statement::text("UPDATE customers SET last_interaction_at = touched.at FROM touched
             WHERE customers.id = touched.id
                 AND (customers.last_interaction_at IS NULL OR customers.last_interaction_at < touched.at)"))
    .await?;
    Ok(())
}

/// What the two activity imports share: how a row without an id gets one.
trait ActivityRow {
    /// Starts the ids derived from content, so the two kinds never collide.
    const ID_PREFIX: &'static str;
    fn given_id(&self) -> &Option<String>;
    /// The fields that make two id-less rows the same row.
    fn content(&self) -> Vec<String>;

    /// The row's id: the given one, else one derived from its content (`ids` counts identical
    /// rows of one file up, so they stay distinct).
    fn id(&self, ids: &mut RowIds) -> String {
        let content = self.content();
        let content: Vec<&str> = content.iter().map(String::as_str).collect();
        ids.id(self.given_id(), Self::ID_PREFIX, &content)
    }
}

impl ActivityRow for Transaction {
    const ID_PREFIX: &'static str = "t";

    fn given_id(&self) -> &Option<String> {
        &self.id
    }

    fn content(&self) -> Vec<String> {
        vec![
            self.customer_id.to_string(),
            format_timestamp(self.at),
            // The shortest decimal: what the amount read as a float printed, so ids derived
            // before amounts were exact stay the same.
            self.amount.to_string(),
            self.product_line.clone(),
        ]
    }
}

impl ActivityRow for Interaction {
    const ID_PREFIX: &'static str = "i";

    fn given_id(&self) -> &Option<String> {
        &self.id
    }

    fn content(&self) -> Vec<String> {
        vec![
            self.customer_id.to_string(),
            self.rep_id.to_string(),
            format_timestamp(self.at),
            self.kind.to_string(),
            self.minutes.to_string(),
            self.outcome.clone(),
        ]
    }
}

/// Checks each row (`problem` names the field and says what is wrong: a reference that names
/// nothing, a time after the clock's day), gives it its id and counts it as inserted or
/// updated. Returns the rows to write, the last one per id.
fn stage_rows<T: ActivityRow>(
    rows: Vec<(usize, T)>,
    existing: &mut HashSet<String>,
    problem: impl Fn(&T) -> Option<(&'static str, String)>,
    summary: &mut ImportSummary,
    progress: Progress<'_>,
) -> Vec<(String, T)> {
    let mut ids = RowIds::new();
    let mut pending = PendingRows::new();
    for (done, (line, row)) in rows.into_iter().enumerate() {
        if let Some((field, message)) = problem(&row) {
            summary
                .problems
                .push(RowProblem::conflict(line, field, message));
            continue;
        }
        let id = row.id(&mut ids);
        if existing.insert(id.clone()) {
            summary.inserted += 1;
        } else {
            summary.updated += 1;
        }
        pending.push(id, row);
        progress(done as u64 + 1);
    }
    pending.rows
}

fn missing(entity: &str, id: &impl std::fmt::Display) -> String {
    format!("{entity} '{id}' does not exist")
}

/// Why a record dated `at` cannot be taken as of `clock`: activity that has not happened yet
/// would set a last-interaction time nothing later could move back.
pub(crate) fn in_the_future(at: DateTime<Utc>, clock: Clock) -> Option<String> {
    (at >= clock.end_of_today()).then(|| {
        format!(
            "{} is after today ({}, the clock's calendar day)",
            format_timestamp(at),
            clock.today()
        )
    })
}

fn refuse_the_future(at: DateTime<Utc>, clock: Clock) -> StoreResult<()> {
    match in_the_future(at, clock) {
        Some(message) => Err(StoreError::Invalid(allot_core::FieldError::new(
            "at", message,
        ))),
        None => Ok(()),
    }
}

impl Store {
    /// Upserts transactions by id in one transaction. A row naming an unknown customer is a
    /// problem of that row; with `strict`, any problem writes nothing.
    pub async fn import_transactions(
        &self,
        rows: Vec<(usize, Transaction)>,
        bad_rows: BadRows,
        clock: Clock,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let customers = existing_ids(&mut write, "customers").await?;
        let mut existing = existing_ids(&mut write, "transactions").await?;
        let mut summary = ImportSummary::default();
        let pending = stage_rows(
            rows,
            &mut existing,
            |row: &Transaction| {
                if !customers.contains(row.customer_id.as_str()) {
                    Some(("customer_id", missing("customer", &row.customer_id)))
                } else {
                    in_the_future(row.at, clock).map(|message| ("at", message))
                }
            },
            &mut summary,
            progress,
        );
        upsert_transactions(&mut write, &pending).await?;
        finish_import(write, summary, bad_rows).await
    }

    /// Upserts interactions by id and moves each customer's last-interaction time forward.
    pub async fn import_interactions(
        &self,
        rows: Vec<(usize, Interaction)>,
        bad_rows: BadRows,
        clock: Clock,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let customers = existing_ids(&mut write, "customers").await?;
        let reps = existing_ids(&mut write, "reps").await?;
        let mut existing = existing_ids(&mut write, "interactions").await?;
        let mut summary = ImportSummary::default();
        let pending = stage_rows(
            rows,
            &mut existing,
            |row: &Interaction| {
                if !customers.contains(row.customer_id.as_str()) {
                    Some(("customer_id", missing("customer", &row.customer_id)))
                } else if !reps.contains(row.rep_id.as_str()) {
                    Some(("rep_id", missing("rep", &row.rep_id)))
                } else {
                    in_the_future(row.at, clock).map(|message| ("at", message))
                }
            },
            &mut summary,
            progress,
        );
        upsert_interactions(&mut write, &pending).await?;
        finish_import(write, summary, bad_rows).await
    }

    /// Records one transaction (API). Without an id, one is derived from its content.
    pub async fn add_transaction(
        &self,
        row: Transaction,
        clock: Clock,
    ) -> StoreResult<StoredTransaction> {
        refuse_the_future(row.at, clock)?;
        let mut write = self.begin_write().await?;
        require_customer(&mut write, &row.customer_id, "customer_id").await?;
        let id = row.id(&mut RowIds::new());
        let created = !row_exists(&mut write, "transactions", &id).await?;
        let rows = [(id, row)];
        upsert_transactions(&mut write, &rows).await?;
        write.commit().await?;
        let [(id, row)] = rows;
        Ok(StoredTransaction {
            id,
            customer_id: row.customer_id.to_string(),
            at: StoredTime(row.at).text(),
            amount: row.amount,
            product_line: row.product_line,
            created: Some(created),
        })
    }

    /// Records one interaction (API) and moves the customer's last-interaction time.
    pub async fn add_interaction(
        &self,
        row: Interaction,
        clock: Clock,
    ) -> StoreResult<StoredInteraction> {
        refuse_the_future(row.at, clock)?;
        let mut write = self.begin_write().await?;
        require_customer(&mut write, &row.customer_id, "customer_id").await?;
        if !row_exists(&mut write, "reps", row.rep_id.as_str()).await? {
            return Err(StoreError::Conflict {
                message: format!("rep '{}' does not exist", row.rep_id),
                field: Some("rep_id".to_string()),
            });
        }
        let id = row.id(&mut RowIds::new());
        let created = !row_exists(&mut write, "interactions", &id).await?;
        let rows = [(id, row)];
        upsert_interactions(&mut write, &rows).await?;
        write.commit().await?;
        let [(id, row)] = rows;
        Ok(StoredInteraction {
            id,
            customer_id: row.customer_id.to_string(),
            rep_id: row.rep_id.to_string(),
            at: format_timestamp(row.at),
            kind: row.kind.to_string(),
            minutes: row.minutes,
            outcome: row.outcome,
            created: Some(created),
        })
    }

    /// A customer's newest `limit` purchases and `limit` interactions, newest first; not found
    /// when the customer does not exist.
    pub async fn recent_activity(
        &self,
        customer_id: &CustomerId,
        limit: i64,
    ) -> StoreResult<RecentActivity> {
        type TransactionRow = (String, StoredTime, i64, String);
        type InteractionRow = (String, String, StoredTime, String, f64, String);
        let mut read = self.database.begin_read().await?;
        let (exists, transactions, interactions): (
            Option<i64>,
            Vec<TransactionRow>,
            Vec<InteractionRow>,
        ) = on_backend!(&mut read, |connection, Db| {
            let exists = sql!(Db; "SELECT CAST(1 AS BIGINT) FROM customers WHERE id = ", bind(customer_id.as_str()))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?;
            let transactions = sql!(Db; "SELECT id, at, amount_minor, product_line FROM transactions WHERE customer_id = ",
                bind(customer_id.as_str()), " ORDER BY at DESC, id DESC LIMIT ", bind(limit))
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
            let interactions = sql!(Db; "SELECT id, rep_id, at, kind, minutes, outcome FROM interactions WHERE customer_id = ",
                bind(customer_id.as_str()), " ORDER BY at DESC, id DESC LIMIT ", bind(limit))
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
            (exists, transactions, interactions)
        });
        if exists.is_none() {
            return Err(StoreError::NotFound {
                entity: "customer",
                id: customer_id.to_string(),
            });
        }
        Ok(RecentActivity {
            transactions: transactions
                .into_iter()
                .map(|(id, at, amount, product_line)| StoredTransaction {
                    id,
                    customer_id: customer_id.to_string(),
                    at: at.text(),
                    amount: Money::from_minor_units(amount),
                    product_line,
                    created: None,
                })
                .collect(),
            interactions: interactions
                .into_iter()
                .map(
                    |(id, rep_id, at, kind, minutes, outcome)| StoredInteraction {
                        id,
                        customer_id: customer_id.to_string(),
                        rep_id,
                        at: at.text(),
                        kind,
                        minutes,
                        outcome,
                        created: None,
                    },
                )
                .collect(),
        })
    }

    /// Every customer's activity, keyed by customer id, for grading.
    pub(crate) async fn load_activity(
        &self,
        source: &mut impl Connected,
    ) -> StoreResult<BTreeMap<String, CustomerActivity>> {
        let mut activity: BTreeMap<String, CustomerActivity> = BTreeMap::new();
        if let Connection::Sqlite(connection) = source.connection() {
            // Read on the connection's own handle: five million interactions handed one by one
            // from sqlx's worker thread, each with its own copy of the customer id, cost several
            // times the query (the daily health refresh reads them all).
            return with_direct_sqlite(connection, move |direct| {
                read_in_customer_order(
                    direct,
                    "SELECT customer_id, at, amount_minor FROM transactions ORDER BY customer_id, at, id",
                    &mut activity,
                    |row| Ok((stored_time_of(row)?, Money::from_minor_units(row.get(2)?))),
                    |customer| &mut customer.transactions,
                )?;
                // In the order of the covering index (migration 0020), so it is read from the
                // index alone; an order of the row's own values, whatever the insertion order.
                read_in_customer_order(
                    direct,
                    "SELECT customer_id, at, minutes FROM interactions ORDER BY customer_id, at, kind, outcome, minutes",
                    &mut activity,
                    |row| Ok((stored_time_of(row)?, row.get(2)?)),
                    |customer| &mut customer.interactions,
                )?;
                Ok(activity)
            })
            .await;
        }
        type Purchase = (String, StoredTime, i64);
        type Touch = (String, StoredTime, f64);
        let (purchases, touches): (Vec<Purchase>, Vec<Touch>) = on_backend!(
            source,
            |connection, Db| {
                let purchases = sql!(Db;
                    "SELECT customer_id, at, amount_minor FROM transactions ORDER BY customer_id, at, id")
                    .build_query_as()
                    .fetch_all(&mut *connection)
                    .await?;
                let touches = sql!(Db;
                    "SELECT customer_id, at, minutes FROM interactions ORDER BY customer_id, at, kind, outcome, minutes")
                    .build_query_as()
                    .fetch_all(&mut *connection)
                    .await?;
                (purchases, touches)
            }
        );
        for (customer_id, at, amount) in purchases {
            activity
                .entry(customer_id)
                .or_default()
                .transactions
                .push((at.0, Money::from_minor_units(amount)));
        }
        for (customer_id, at, minutes) in touches {
            activity
                .entry(customer_id)
                .or_default()
                .interactions
                .push((at.0, minutes));
        }
        Ok(activity)
    }
}

/// Reads `statement` (customer id first, in customer order) into each customer's list, one
/// map entry per customer rather than per row.
fn read_in_customer_order<T>(
    direct: &rusqlite::Connection,
    statement: &str,
    activity: &mut BTreeMap<String, CustomerActivity>,
    value: impl Fn(&rusqlite::Row<'_>) -> StoreResult<T>,
    list: impl Fn(&mut CustomerActivity) -> &mut Vec<T>,
) -> StoreResult<()> {
    let mut add = |customer: String, items: Vec<T>| {
        let target = list(activity.entry(customer).or_default());
        if target.is_empty() {
            *target = items;
        } else {
            target.extend(items);
        }
    };
    let mut prepared = direct.prepare(statement)?;
    let mut rows = prepared.query([])?;
    let mut current: Option<(String, Vec<T>)> = None;
    while let Some(row) = rows.next()? {
        let customer = row
            .get_ref(0)?
            .as_str()
            .map_err(|error| StoreError::Corrupt(format!("a customer id: {error}")))?;
        let item = value(row)?;
        match &mut current {
            Some((id, items)) if id.as_str() == customer => items.push(item),
            _ => {
                if let Some((id, items)) = current.take() {
                    add(id, items);
                }
                current = Some((customer.to_string(), vec![item]));
            }
        }
    }
    if let Some((id, items)) = current {
        add(id, items);
    }
    Ok(())
}

/// The stored time in column 1 of a direct row.
fn stored_time_of(row: &rusqlite::Row<'_>) -> StoreResult<DateTime<Utc>> {
    stored_time_column(row, 1)?.ok_or_else(|| StoreError::Corrupt("a stored time is NULL".into()))
}

async fn require_customer(
    source: &mut impl Connected,
    customer_id: &CustomerId,
    field: &str,
) -> StoreResult<()> {
    if row_exists(source, "customers", customer_id.as_str()).await? {
        Ok(())
    } else {
        Err(StoreError::Conflict {
            message: format!("customer '{customer_id}' does not exist"),
            field: Some(field.to_string()),
        })
    }
}

async fn row_exists(
    source: &mut impl Connected,
    table: &'static str,
    id: &str,
) -> StoreResult<bool> {
    let found: Option<i64> = on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT CAST(1 AS BIGINT) FROM {table} WHERE id = "), bind(id))
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    });
    Ok(found.is_some())
}
