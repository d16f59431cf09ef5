//! The append-only event log: every ownership change, written in the transaction that makes it.

use allot_core::{CustomerId, RepId};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::error::StoreResult;
use crate::rows::{optional_text, text};
use crate::Store;

/// Kinds of ownership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnershipChange {
    /// From the pool to a rep.
    Assigned,
    /// From one rep to another.
    Transferred,
    /// From a rep back to the pool.
    Released,
}

impl OwnershipChange {
    pub fn between(from: Option<&RepId>, to: Option<&RepId>) -> Option<OwnershipChange> {
        match (from, to) {
            (None, Some(_)) => Some(OwnershipChange::Assigned),
            (Some(from), Some(to)) if from != to => Some(OwnershipChange::Transferred),
            (Some(_), None) => Some(OwnershipChange::Released),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OwnershipChange::Assigned => "ownership.assigned",
            OwnershipChange::Transferred => "ownership.transferred",
            OwnershipChange::Released => "ownership.released",
        }
    }
}

/// One entry of the log, as listed by `GET /api/v1/events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: i64,
    pub at: String,
    pub kind: String,
    pub customer_id: String,
    pub from_rep_id: Option<String>,
    pub to_rep_id: Option<String>,
    pub actor: String,
    pub reason: String,
    pub rule: Option<String>,
}

/// A change to record.
pub struct NewOwnershipEvent<'a> {
    pub at: &'a str,
    pub customer_id: &'a CustomerId,
    pub from: Option<&'a RepId>,
    pub to: Option<&'a RepId>,
    pub actor: &'a str,
    pub reason: &'a str,
    pub rule: Option<&'a str>,
}

pub(crate) async fn record_ownership_event(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    event: NewOwnershipEvent<'_>,
) -> StoreResult<()> {
    let Some(change) = OwnershipChange::between(event.from, event.to) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO events (at, kind, customer_id, from_rep_id, to_rep_id, actor, reason, rule)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(event.at)
    .bind(change.as_str())
    .bind(event.customer_id.as_str())
    .bind(event.from.map(RepId::as_str))
    .bind(event.to.map(RepId::as_str))
    .bind(event.actor)
    .bind(event.reason)
    .bind(event.rule)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

/// Filters for listing events.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub customer_id: Option<String>,
    pub rep_id: Option<String>,
    /// Only events with a larger id (cursor paging).
    pub after_id: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Events in order of writing, oldest first.
    pub async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT id, at, kind, customer_id, from_rep_id, to_rep_id, actor, reason, rule FROM events
             WHERE ($1 = '' OR customer_id = $1)
               AND ($2 = '' OR from_rep_id = $2 OR to_rep_id = $2)
               AND id > $3
             ORDER BY id LIMIT $4",
        )
        .bind(filter.customer_id.clone().unwrap_or_default())
        .bind(filter.rep_id.clone().unwrap_or_default())
        .bind(filter.after_id.unwrap_or(0))
        .bind(filter.limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// The newest ownership event of one customer: who changed its owner last, and why.
    pub async fn latest_event(&self, customer_id: &str) -> StoreResult<Option<Event>> {
        sqlx::query(
            "SELECT id, at, kind, customer_id, from_rep_id, to_rep_id, actor, reason, rule FROM events
             WHERE customer_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(customer_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(event_from_row)
        .transpose()
    }
}

fn event_from_row(row: &sqlx::any::AnyRow) -> StoreResult<Event> {
    Ok(Event {
        id: row.try_get("id")?,
        at: text(row, "at")?,
        kind: text(row, "kind")?,
        customer_id: text(row, "customer_id")?,
        from_rep_id: optional_text(row, "from_rep_id")?,
        to_rep_id: optional_text(row, "to_rep_id")?,
        actor: text(row, "actor")?,
        reason: text(row, "reason")?,
        rule: optional_text(row, "rule")?,
    })
}
