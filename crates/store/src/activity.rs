//! Transactions and interactions: import from files, single adds from the API, and loading them for grading.

use std::collections::{BTreeMap, HashMap, HashSet};

use allot_core::activity::{content_id, Interaction, Transaction};
use allot_core::{Clock, CustomerId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::batch::execute_batched;
use crate::error::{StoreError, StoreResult};
use crate::organisation::{
    existing_ids, finish_import, BadRows, ImportSummary, Progress, RowProblem,
};
use crate::rows::text;
use crate::{format_timestamp, Backend, Store};

/// A transaction as stored, with its id (given or derived from its content).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTransaction {
    pub id: String,
    pub customer_id: String,
    pub at: String,
    pub amount: f64,
    pub product_line: String,
    /// False when a transaction with this id existed and was replaced.
    pub created: bool,
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
    pub created: bool,
}

/// Everything grading needs about one customer's activity, as of no particular time:
/// the value module filters by the clock.
#[derive(Debug, Clone, Default)]
pub struct CustomerActivity {
    pub transactions: Vec<(DateTime<Utc>, f64)>,
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
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    rows: &[(String, Transaction)],
) -> StoreResult<()> {
    let rows: Vec<(&str, &Transaction, String)> = rows
        .iter()
        .map(|(id, row)| (id.as_str(), row, format_timestamp(row.at)))
        .collect();
    execute_batched(
        transaction,
        backend,
        "INSERT INTO transactions (id, customer_id, at, amount, product_line) VALUES {rows}
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, at = excluded.at,
             amount = excluded.amount, product_line = excluded.product_line",
        &["{}"; 5],
        &rows,
        |query, (id, row, at)| {
            query
                .bind(*id)
                .bind(row.customer_id.as_str())
                .bind(at.as_str())
                .bind(row.amount)
                .bind(row.product_line.as_str())
        },
    )
    .await?;
    Ok(())
}

async fn upsert_interactions(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    rows: &[(String, Interaction)],
) -> StoreResult<()> {
    let rows: Vec<(&str, &Interaction, String)> = rows
        .iter()
        .map(|(id, row)| (id.as_str(), row, format_timestamp(row.at)))
        .collect();
    execute_batched(
        transaction,
        backend,
        "INSERT INTO interactions (id, customer_id, rep_id, at, kind, minutes, outcome) VALUES {rows}
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, rep_id = excluded.rep_id,
             at = excluded.at, kind = excluded.kind, minutes = excluded.minutes, outcome = excluded.outcome",
        &["{}"; 7],
        &rows,
        |query, (id, row, at)| {
            query
                .bind(*id)
                .bind(row.customer_id.as_str())
                .bind(row.rep_id.as_str())
                .bind(at.as_str())
                .bind(row.kind.as_str())
                .bind(row.minutes)
                .bind(row.outcome.as_str())
        },
    )
    .await?;
    // From the rows kept: a row replaced by a later one with the same id never happened.
    let mut latest: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, row, at) in &rows {
        let slot = latest
            .entry(row.customer_id.as_str())
            .or_insert(at.as_str());
        if *slot < at.as_str() {
            *slot = at.as_str();
        }
    }
    let latest: Vec<(&str, &str)> = latest.into_iter().collect();
    // Last-interaction time only moves forward: an old touch imported late does not hide a newer one.
    execute_batched(
        transaction,
        backend,
        "WITH touched(id, at) AS (VALUES {rows})
         UPDATE customers SET last_interaction_at = touched.at FROM touched
         WHERE customers.id = touched.id
             AND (customers.last_interaction_at IS NULL OR customers.last_interaction_at < touched.at)",
        &["{}"; 2],
        &latest,
        |query, (id, at)| query.bind(*id).bind(*at),
    )
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
        let customers = existing_ids(&mut write.transaction, "customers").await?;
        let mut existing = existing_ids(&mut write.transaction, "transactions").await?;
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
        upsert_transactions(&mut write.transaction, self.backend, &pending).await?;
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
        let customers = existing_ids(&mut write.transaction, "customers").await?;
        let reps = existing_ids(&mut write.transaction, "reps").await?;
        let mut existing = existing_ids(&mut write.transaction, "interactions").await?;
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
        upsert_interactions(&mut write.transaction, self.backend, &pending).await?;
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
        self.require_customer(&mut write.transaction, &row.customer_id, "customer_id")
            .await?;
        let id = row.id(&mut RowIds::new());
        let created = !self
            .row_exists(&mut write.transaction, "transactions", &id)
            .await?;
        let rows = [(id, row)];
        upsert_transactions(&mut write.transaction, self.backend, &rows).await?;
        write.commit().await?;
        let [(id, row)] = rows;
        Ok(StoredTransaction {
            id,
            customer_id: row.customer_id.to_string(),
            at: format_timestamp(row.at),
            amount: row.amount,
            product_line: row.product_line,
            created,
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
        self.require_customer(&mut write.transaction, &row.customer_id, "customer_id")
            .await?;
        if !self
            .row_exists(&mut write.transaction, "reps", row.rep_id.as_str())
            .await?
        {
            return Err(StoreError::Conflict {
                message: format!("rep '{}' does not exist", row.rep_id),
                field: Some("rep_id".to_string()),
            });
        }
        let id = row.id(&mut RowIds::new());
        let created = !self
            .row_exists(&mut write.transaction, "interactions", &id)
            .await?;
        let rows = [(id, row)];
        upsert_interactions(&mut write.transaction, self.backend, &rows).await?;
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
            created,
        })
    }

    async fn require_customer(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        customer_id: &CustomerId,
        field: &str,
    ) -> StoreResult<()> {
        if self
            .row_exists(transaction, "customers", customer_id.as_str())
            .await?
        {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                message: format!("customer '{customer_id}' does not exist"),
                field: Some(field.to_string()),
            })
        }
    }

    async fn row_exists(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        table: &'static str,
        id: &str,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(&format!("SELECT 1 FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut **transaction)
            .await?
            .is_some())
    }

    /// Every customer's activity, keyed by customer id, for grading.
    pub(crate) async fn load_activity(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<BTreeMap<String, CustomerActivity>> {
        let mut activity: BTreeMap<String, CustomerActivity> = BTreeMap::new();
        for row in sqlx::query(
            "SELECT customer_id, at, amount FROM transactions ORDER BY customer_id, at, id",
        )
        .fetch_all(&mut **transaction)
        .await?
        {
            let at = parse_stored_time(&text(&row, "at")?)?;
            activity
                .entry(text(&row, "customer_id")?)
                .or_default()
                .transactions
                .push((at, row.try_get("amount")?));
        }
        for row in sqlx::query(
            "SELECT customer_id, at, minutes FROM interactions ORDER BY customer_id, at, id",
        )
        .fetch_all(&mut **transaction)
        .await?
        {
            let at = parse_stored_time(&text(&row, "at")?)?;
            activity
                .entry(text(&row, "customer_id")?)
                .or_default()
                .interactions
                .push((at, row.try_get("minutes")?));
        }
        Ok(activity)
    }
}

pub(crate) fn parse_stored_time(raw: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|error| StoreError::Corrupt(format!("stored time '{raw}': {error}")))
}
