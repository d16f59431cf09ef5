//! Routing decisions in the database: writing a batch of them with their owners and ownership
//! events, and reading them back with their traces written in words.

use std::sync::Arc;

use allot_core::routing::{render_stored_trace, DecisionRecord, StoredTrace};
use allot_core::rules::RuleSet;
use allot_core::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::bulk::{
    insert_rows, update_rows, InsertRows, Kind, Transfer, UpdateRows, Value,
};
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::events::OwnershipChange;
use crate::{Store, StoredTime, WriteTransaction};

/// A decision as stored, with when and by whom it was made.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredDecision {
    pub id: i64,
    /// RFC 3339 in UTC.
    pub at: String,
    pub actor: String,
    pub rules_version: Option<i64>,
    #[serde(flatten)]
    pub decision: DecisionRecord,
}

/// Decisions waiting to be written, flushed in one statement per kind of row: the owners, the
/// events, the decisions. Batching keeps the same transaction and the same guarantees.
pub(crate) struct DecisionBatch {
    rules_version: Option<i64>,
    pub(crate) assignments: Vec<PendingAssignment>,
    decisions: Vec<PendingDecision>,
}

pub(crate) struct PendingAssignment {
    pub(crate) at: DateTime<Utc>,
    pub(crate) actor: String,
    pub(crate) customer_id: String,
    pub(crate) owner_id: String,
    pub(crate) rule: Option<String>,
    pub(crate) reason: String,
}

struct PendingDecision {
    at: DateTime<Utc>,
    actor: String,
    customer_id: String,
    owner_id: Option<String>,
    rule: Option<String>,
    strategy: Option<String>,
    reason: String,
    trace: String,
}

impl DecisionBatch {
    /// Decisions waiting.
    pub(crate) fn len(&self) -> usize {
        self.decisions.len()
    }

    pub(crate) fn new(rules_version: Option<i64>) -> Self {
        DecisionBatch {
            rules_version,
            assignments: Vec::new(),
            decisions: Vec::new(),
        }
    }

    /// Queues a decision made at `at` by `actor`; `trace` is its stored form
    /// ([`StoredTrace`]), not `record.trace`.
    pub(crate) fn add(
        &mut self,
        record: &DecisionRecord,
        trace: &StoredTrace,
        at: DateTime<Utc>,
        actor: &str,
    ) -> StoreResult<()> {
        let trace =
            serde_json::to_string(trace).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        if let Some(owner) = &record.owner_id {
            self.assignments.push(PendingAssignment {
                at,
                actor: actor.to_string(),
                customer_id: record.customer_id.clone(),
                owner_id: owner.clone(),
                rule: record.rule.clone(),
                reason: record.reason.clone(),
            });
        }
        self.decisions.push(PendingDecision {
            at,
            actor: actor.to_string(),
            customer_id: record.customer_id.clone(),
            owner_id: record.owner_id.clone(),
            rule: record.rule.clone(),
            strategy: record.strategy.clone(),
            reason: record.reason.clone(),
            trace,
        });
        Ok(())
    }

    /// Writes everything pending. The owner update only touches customers still in the pool;
    /// if it touches fewer rows than it should, another writer got there first and the whole
    /// transaction is refused: the database, not only this code, keeps one owner per customer.
    pub(crate) async fn flush(&mut self, write: &mut WriteTransaction) -> StoreResult<()> {
        if !self.assignments.is_empty() {
            let owners: Vec<Vec<Value<'_>>> = self
                .assignments
                .iter()
                .map(|assignment| {
                    vec![
                        Value::Text(&assignment.customer_id),
                        Value::Text(&assignment.owner_id),
                        Value::Timestamp(assignment.at),
                    ]
                })
                .collect();
            let started = std::time::Instant::now();
            let updated = update_rows(
                write.connection(),
                &UpdateRows {
                    table: "customers",
                    key: &[("id", Kind::Text)],
                    still: None,
                    set: &[("owner_id", Kind::Text), ("updated_at", Kind::Timestamp)],
                    rows: &owners,
                    only_if: Some("customers.owner_id IS NULL"),
                    caller_fails_unless_every_row_changes: true,
                },
            )
            .await?;
            tracing::trace!(elapsed = ?started.elapsed(), "owner update");
            if updated != self.assignments.len() as u64 {
                return Err(StoreError::Conflict {
                    message: "a customer being routed was given an owner concurrently; nothing was written".to_string(),
                    field: Some("owner_id".to_string()),
                });
            }
            let events: Vec<Vec<Value<'_>>> = self
                .assignments
                .iter()
                .map(|assignment| {
                    vec![
                        Value::Timestamp(assignment.at),
                        Value::Text(OwnershipChange::Assigned.as_str()),
                        Value::Text(&assignment.customer_id),
                        Value::Null(Kind::Text),
                        Value::Text(&assignment.owner_id),
                        Value::Text(&assignment.actor),
                        Value::Text(&assignment.reason),
                        Value::Text("routing"),
                        Value::text(assignment.rule.as_deref()),
                    ]
                })
                .collect();
            let started = std::time::Instant::now();
            insert_rows(
                write.connection(),
                &InsertRows {
                    table: "events",
                    columns: crate::events::EVENT_WRITE_COLUMNS,
                    rows: &events,
                    on_conflict: None,
                    never_clash: false,
                },
                Transfer::for_rows(events.len()),
            )
            .await?;
            tracing::trace!(elapsed = ?started.elapsed(), "events insert");
        }
        if !self.decisions.is_empty() {
            let rows: Vec<Vec<Value<'_>>> = self
                .decisions
                .iter()
                .map(|decision| {
                    vec![
                        Value::Timestamp(decision.at),
                        Value::Text(&decision.customer_id),
                        Value::text(decision.owner_id.as_deref()),
                        Value::text(decision.rule.as_deref()),
                        Value::text(decision.strategy.as_deref()),
                        Value::Text(&decision.reason),
                        Value::Text(&decision.trace),
                        Value::integer(self.rules_version),
                        Value::Text(&decision.actor),
                    ]
                })
                .collect();
            let started = std::time::Instant::now();
            insert_rows(
                write.connection(),
                &InsertRows {
                    table: "decisions",
                    columns: &[
                        ("at", Kind::Timestamp),
                        ("customer_id", Kind::Text),
                        ("owner_id", Kind::Text),
                        ("rule", Kind::Text),
                        ("strategy", Kind::Text),
                        ("reason", Kind::Text),
                        ("trace", Kind::Text),
                        ("rules_version", Kind::Integer),
                        ("actor", Kind::Text),
                    ],
                    rows: &rows,
                    on_conflict: None,
                    never_clash: false,
                },
                Transfer::for_rows(rows.len()),
            )
            .await?;
            tracing::trace!(elapsed = ?started.elapsed(), "decisions insert");
        }
        self.assignments.clear();
        self.decisions.clear();
        Ok(())
    }
}

#[derive(sqlx_macros::FromRow)]
struct DecisionRow {
    id: i64,
    at: StoredTime,
    customer_id: String,
    owner_id: Option<String>,
    rule: Option<String>,
    strategy: Option<String>,
    reason: String,
    trace: String,
    rules_version: Option<i64>,
    actor: String,
}

const DECISION_COLUMNS: &str =
    "id, at, customer_id, owner_id, rule, strategy, reason, trace, rules_version, actor";

impl Store {
    /// The latest decision that gave the customer an owner.
    pub(crate) async fn latest_assigning_decision(
        &self,
        source: &mut impl Connected,
        customer_id: &CustomerId,
    ) -> StoreResult<Option<StoredDecision>> {
        let row: Option<DecisionRow> = on_backend!(&mut *source, |connection, Db| {
            sql!(Db; format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE customer_id = "),
                bind(customer_id.as_str()), " AND owner_id IS NOT NULL ORDER BY id DESC LIMIT 1")
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?
        });
        match row {
            Some(row) => Ok(Some(self.decision_from_row(source, row).await?)),
            None => Ok(None),
        }
    }

    /// Every stored decision for a customer, newest first.
    pub async fn decisions_for(
        &self,
        customer_id: &CustomerId,
    ) -> StoreResult<Vec<StoredDecision>> {
        let mut read = self.database.begin_read().await?;
        let rows: Vec<DecisionRow> = on_backend!(&mut read, |connection, Db| {
            sql!(Db; format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE customer_id = "),
                bind(customer_id.as_str()), " ORDER BY id DESC")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        });
        let mut decisions = Vec::with_capacity(rows.len());
        for row in rows {
            decisions.push(self.decision_from_row(&mut read, row).await?);
        }
        Ok(decisions)
    }

    /// A stored decision in words: its trace is in stored form, written in words here against
    /// the rules version it was made with.
    async fn decision_from_row(
        &self,
        source: &mut impl Connected,
        row: DecisionRow,
    ) -> StoreResult<StoredDecision> {
        let corrupt = |error: serde_json::Error| StoreError::Corrupt(error.to_string());
        // Decisions stored before the stored form hold the whole trace in words, without `format`.
        let trace = match serde_json::from_str::<StoredTrace>(&row.trace) {
            Ok(stored) if stored.format == StoredTrace::FORMAT => {
                let rules = match row.rules_version {
                    Some(version) => self.rules_of_version(source, version).await?,
                    None => Arc::new(RuleSet::default()),
                };
                let id = CustomerId::parse(&row.customer_id)
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                render_stored_trace(&rules, &id, &stored)
            }
            Ok(stored) => {
                return Err(StoreError::Corrupt(format!(
                    "a stored trace of unknown format {}",
                    stored.format
                )))
            }
            Err(_) => serde_json::from_str(&row.trace).map_err(corrupt)?,
        };
        Ok(StoredDecision {
            id: row.id,
            at: row.at.text(),
            actor: row.actor,
            rules_version: row.rules_version,
            decision: DecisionRecord {
                customer_id: row.customer_id,
                owner_id: row.owner_id,
                rule: row.rule,
                strategy: row.strategy,
                reason: row.reason,
                trace,
            },
        })
    }
}
