//! The append-only event log: every ownership change, written in the transaction that makes it.

use allot_core::{CustomerId, RepId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::{on_backend, sql, Connected};
use crate::error::StoreResult;
use crate::{Store, StoredTime};

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
    /// RFC 3339 in UTC.
    pub at: String,
    /// `ownership.assigned`, `ownership.transferred` or `ownership.released`; or
    /// `customer.forgotten`, the erasure of the customer's personal data (the owner unchanged:
    /// `from_rep_id` and `to_rep_id` both name it).
    pub kind: String,
    pub customer_id: String,
    pub from_rep_id: Option<String>,
    pub to_rep_id: Option<String>,
    pub actor: String,
    pub reason: String,
    /// What kind of change: `routing`, `import`, `manual`, `claim`, `release`, `reclaim`, or
    /// the transfer's reason kind (`rep_left`, `customer_request`, …); null for events older
    /// than the kinds.
    pub reason_kind: Option<String>,
    /// The routing rule that decided it, for routing's assignments.
    pub rule: Option<String>,
}

#[derive(sqlx_macros::FromRow)]
struct EventRow {
    id: i64,
    at: StoredTime,
    kind: String,
    customer_id: String,
    from_rep_id: Option<String>,
    to_rep_id: Option<String>,
    actor: String,
    reason: String,
    reason_kind: Option<String>,
    rule: Option<String>,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Event {
        Event {
            id: row.id,
            at: row.at.text(),
            kind: row.kind,
            customer_id: row.customer_id,
            from_rep_id: row.from_rep_id,
            to_rep_id: row.to_rep_id,
            actor: row.actor,
            reason: row.reason,
            reason_kind: row.reason_kind,
            rule: row.rule,
        }
    }
}

const EVENT_COLUMNS: &str =
    "id, at, kind, customer_id, from_rep_id, to_rep_id, actor, reason, reason_kind, rule";

/// A change to record.
#[derive(Debug, Clone)]
pub struct NewOwnershipEvent<'a> {
    pub at: DateTime<Utc>,
    pub customer_id: &'a CustomerId,
    pub from: Option<&'a RepId>,
    pub to: Option<&'a RepId>,
    pub actor: &'a str,
    pub reason: &'a str,
    pub reason_kind: &'a str,
    pub rule: Option<&'a str>,
}

/// The columns every writer of events fills, in this order.
pub(crate) const EVENT_WRITE_COLUMNS: &[(&str, Kind)] = &[
    ("at", Kind::Timestamp),
    ("kind", Kind::Text),
    ("customer_id", Kind::Text),
    ("from_rep_id", Kind::Text),
    ("to_rep_id", Kind::Text),
    ("actor", Kind::Text),
    ("reason", Kind::Text),
    ("reason_kind", Kind::Text),
    ("rule", Kind::Text),
];

/// Appends the events of real changes (an event whose owner does not change is none), in
/// order, in one statement per chunk.
pub(crate) async fn record_ownership_events(
    source: &mut impl Connected,
    events: &[NewOwnershipEvent<'_>],
    transfer: Transfer,
) -> StoreResult<()> {
    let rows: Vec<Vec<Value<'_>>> = events
        .iter()
        .filter_map(|event| {
            let change = OwnershipChange::between(event.from, event.to)?;
            Some((event, change))
        })
        .map(|(event, change)| {
            vec![
                Value::Timestamp(event.at),
                Value::Text(change.as_str()),
                Value::Text(event.customer_id.as_str()),
                Value::text(event.from.map(RepId::as_str)),
                Value::text(event.to.map(RepId::as_str)),
                Value::Text(event.actor),
                Value::Text(event.reason),
                Value::Text(event.reason_kind),
                Value::text(event.rule),
            ]
        })
        .collect();
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "events",
            columns: EVENT_WRITE_COLUMNS,
            rows: &rows,
            on_conflict: None,
            never_clash: false,
        },
        transfer,
    )
    .await?;
    Ok(())
}

/// Filters for listing events.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub customer_id: Option<CustomerId>,
    pub rep_id: Option<RepId>,
    /// Only events with a larger id (cursor paging).
    pub after_id: Option<i64>,
    pub limit: i64,
    /// Only rows of customers in this view; all when `None`.
    pub view: Option<crate::lifecycle::View>,
}

impl Store {
    /// Events in order of writing, oldest first.
    pub async fn list_events(&self, filter: &EventFilter) -> StoreResult<Vec<Event>> {
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut connection = self.database.acquire().await?;
        let rows: Vec<EventRow> = on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > "),
                bind(filter.after_id.unwrap_or(0)));
            crate::lifecycle::push_customer_in_view!(
                query,
                filter.view.as_ref(),
                view_reps.as_deref(),
                "customer_id"
            );
            if let Some(customer) = &filter.customer_id {
                query
                    .push(" AND customer_id = ")
                    .push_bind(customer.as_str());
            }
            if let Some(rep) = &filter.rep_id {
                query
                    .push(" AND (from_rep_id = ")
                    .push_bind(rep.as_str())
                    .push(" OR to_rep_id = ")
                    .push_bind(rep.as_str())
                    .push(")");
            }
            query
                .push(" ORDER BY id LIMIT ")
                .push_bind(filter.limit.clamp(1, 10_000));
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        Ok(rows.into_iter().map(Event::from).collect())
    }

    /// The newest ownership event of one customer: who changed its owner last, and why.
    pub async fn latest_event(&self, customer_id: &CustomerId) -> StoreResult<Option<Event>> {
        let mut connection = self.database.acquire().await?;
        let row: Option<EventRow> = on_backend!(&mut connection, |connection, Db| {
            sql!(Db; format!("SELECT {EVENT_COLUMNS} FROM events WHERE kind LIKE 'ownership.%' AND customer_id = "),
                bind(customer_id.as_str()), " ORDER BY id DESC LIMIT 1")
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?
        });
        Ok(row.map(Event::from))
    }
}
