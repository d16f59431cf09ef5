//! Tickets (工单/投诉): import from files, one at a time from the API, their service clocks as
//! of the clock, listing, and loading them for grading.
//!
//! A ticket is upserted by its id, so closing one is sending it again with `closed_at`.
//! Grading counts the tickets open as of the clock (health) and all tickets opened up to it
//! (cost to serve). A ticket keeps the customer's tier when it opened: the promise its clocks
//! run on (`allot_core::service`). Every step of its life is a row of `ticket_events`, written
//! in the transaction of the step.

pub mod escalation;
mod steps;

pub use steps::TicketStep;

use std::collections::{BTreeMap, HashMap};

use allot_core::activity::{Ticket, TicketFields, TicketKind, TicketSeverity};
use allot_core::service::{ticket_standing, ServicePolicy, TicketTimes};
use allot_core::update::GivenColumns;
use allot_core::{Clock, CustomerId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::direct::{read_all_rows, stored_time_column};
use crate::database::{on_backend, sql, Connected, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::imports::{
    finish_import, problems_of, single_record_outcome, BadRows, FirstLines, ImportRow,
    ImportSummary, Progress, RowProblem,
};
use crate::organisation::existing_ids;
use crate::{Store, StoredTime, WriteTransaction};

/// A ticket as stored, with its service clocks as of the clock.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTicket {
    pub id: String,
    pub customer_id: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    /// major or general.
    pub severity: String,
    pub subject: String,
    /// request or complaint.
    pub kind: String,
    pub first_response_at: Option<String>,
    pub resolved_at: Option<String>,
    /// How many times it was reopened; the resolution clock restarts at each reopening.
    pub reopened: i64,
    pub reopened_at: Option<String>,
    /// 1–5, given once resolved.
    pub rating: Option<i64>,
    /// The customer's tier when the ticket opened: the promise its clocks run on.
    pub tier: Option<String>,
    /// RFC 3339 in UTC; null when the tier is promised nothing.
    pub first_response_due: Option<String>,
    /// RFC 3339 in UTC, counted from the last reopening if any.
    pub resolution_due: Option<String>,
    /// Left on the clock still running, in business minutes when the tier's promise counts
    /// business time; negative once overdue; null when done or nothing is promised.
    pub remaining_business_minutes: Option<i64>,
    /// A promise was missed (as of the clock).
    pub breached: bool,
    pub first_response_breached: bool,
    pub resolution_breached: bool,
    /// The escalation level reached (0: not escalated).
    pub escalation_level: i64,
    /// False when a ticket with this id existed and was updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

/// One step of a ticket's life.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketEvent {
    pub id: i64,
    pub at: String,
    /// `admin:<token>`, `rep:r07`, `import`, `system:escalate_tickets`.
    pub actor: String,
    /// opened, responded, resolved, reopened, rated, escalated.
    pub kind: String,
    /// escalated: the level reached.
    pub level: Option<i64>,
    /// escalated: the manager told (null: the admins).
    pub recipient_rep_id: Option<String>,
    pub detail: String,
}

/// A ticket with its history, oldest step first.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: StoredTicket,
    pub history: Vec<TicketEvent>,
}

/// Which tickets a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TicketState {
    /// Neither resolved nor closed; oldest first.
    #[default]
    Open,
    /// Resolved or closed; newest first.
    Done,
    /// Every ticket; newest first.
    All,
}

impl TicketState {
    pub fn parse(raw: &str) -> Option<TicketState> {
        match raw.trim() {
            "open" => Some(TicketState::Open),
            "done" => Some(TicketState::Done),
            "all" => Some(TicketState::All),
            _ => None,
        }
    }
}

/// One page of tickets.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketPage {
    /// Tickets matching the filter, over all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub items: Vec<StoredTicket>,
}

/// A list of tickets: by state, owner or customer, narrowed to a view.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub view: Option<crate::lifecycle::View>,
    pub state: TicketState,
    /// Tickets of customers this rep owns.
    pub owner_id: Option<String>,
    pub customer_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// When one ticket opened and, if it did, closed.
pub type TicketSpan = (DateTime<Utc>, Option<DateTime<Utc>>);

/// A ticket to write, with the customer's tier for a new one (kept from opening on).
struct TicketWrite<'a> {
    ticket: &'a Ticket,
    tier: Option<&'a str>,
}

async fn upsert_tickets(
    source: &mut impl Connected,
    tickets: &[TicketWrite<'_>],
) -> StoreResult<()> {
    let values: Vec<Vec<Value<'_>>> = tickets
        .iter()
        .map(|TicketWrite { ticket, tier }| {
            vec![
                Value::Text(&ticket.id),
                Value::Text(ticket.customer_id.as_str()),
                Value::Timestamp(ticket.opened_at),
                Value::timestamp(ticket.closed_at),
                Value::Text(ticket.severity.as_str()),
                Value::Text(&ticket.subject),
                Value::Text(ticket.kind.as_str()),
                Value::timestamp(ticket.first_response_at),
                Value::timestamp(ticket.resolved_at),
                Value::Integer(i64::from(ticket.reopened)),
                Value::integer(ticket.rating.map(i64::from)),
                Value::text(*tier),
            ]
        })
        .collect();
    let transfer = Transfer::for_rows(tickets.len());
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "tickets",
            columns: &[
                ("id", Kind::Text),
                ("customer_id", Kind::Text),
                ("opened_at", Kind::Timestamp),
                ("closed_at", Kind::Timestamp),
                ("severity", Kind::Text),
                ("subject", Kind::Text),
                ("kind", Kind::Text),
                ("first_response_at", Kind::Timestamp),
                ("resolved_at", Kind::Timestamp),
                ("reopened", Kind::Integer),
                ("rating", Kind::Integer),
                ("tier", Kind::Text),
            ],
            rows: &values,
            // The tier stays the one of the opening; the escalation level is the job's.
            on_conflict: Some("(id) DO UPDATE SET customer_id = excluded.customer_id, opened_at = excluded.opened_at, closed_at = excluded.closed_at, severity = excluded.severity, subject = excluded.subject, kind = excluded.kind, first_response_at = excluded.first_response_at, resolved_at = excluded.resolved_at, reopened = excluded.reopened, rating = excluded.rating"),
            never_clash: false,
        },
        transfer,
    )
    .await?;
    Ok(())
}

/// A step of a ticket's life to record.
pub(crate) struct NewTicketEvent<'a> {
    pub ticket_id: &'a str,
    pub at: DateTime<Utc>,
    pub kind: &'static str,
    pub level: Option<i64>,
    pub recipient_rep_id: Option<&'a str>,
    pub detail: String,
}

pub(crate) async fn record_ticket_events(
    source: &mut impl Connected,
    actor: &str,
    events: &[NewTicketEvent<'_>],
) -> StoreResult<()> {
    let rows: Vec<Vec<Value<'_>>> = events
        .iter()
        .map(|event| {
            vec![
                Value::Text(event.ticket_id),
                Value::Timestamp(event.at),
                Value::Text(actor),
                Value::Text(event.kind),
                Value::integer(event.level),
                Value::text(event.recipient_rep_id),
                Value::Text(&event.detail),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    insert_rows(
        source.connection(),
        &InsertRows {
            table: "ticket_events",
            columns: &[
                ("ticket_id", Kind::Text),
                ("at", Kind::Timestamp),
                ("actor", Kind::Text),
                ("kind", Kind::Text),
                ("level", Kind::Integer),
                ("recipient_rep_id", Kind::Text),
                ("detail", Kind::Text),
            ],
            rows: &rows,
            on_conflict: None,
            never_clash: false,
        },
        Transfer::for_rows(rows.len()),
    )
    .await?;
    Ok(())
}

/// The steps a written ticket took against its stored version (none stored: opened).
fn steps_taken<'a>(
    stored: Option<&Ticket>,
    ticket: &'a Ticket,
    now: DateTime<Utc>,
    events: &mut Vec<NewTicketEvent<'a>>,
) {
    let event = |at, kind, detail: String| NewTicketEvent {
        ticket_id: &ticket.id,
        at,
        kind,
        level: None,
        recipient_rep_id: None,
        detail,
    };
    if stored.is_none() {
        events.push(event(
            ticket.opened_at,
            "opened",
            format!("{} {}", ticket.severity.as_str(), ticket.kind.as_str()),
        ));
    }
    if let Some(first) = ticket.first_response_at {
        if stored.and_then(|stored| stored.first_response_at) != Some(first) {
            events.push(event(first, "responded", String::new()));
        }
    }
    if stored.is_some_and(|stored| stored.reopened < ticket.reopened) {
        events.push(event(
            now,
            "reopened",
            format!("reopened {} times", ticket.reopened),
        ));
    }
    if let Some(resolved) = ticket.resolution_at() {
        if stored.and_then(Ticket::resolution_at) != Some(resolved) {
            events.push(event(resolved, "resolved", String::new()));
        }
    }
    if let Some(rating) = ticket.rating {
        if stored.and_then(|stored| stored.rating) != Some(rating) {
            events.push(event(now, "rated", format!("{rating}/5")));
        }
    }
}

#[derive(sqlx_macros::FromRow)]
struct TicketRow {
    id: String,
    customer_id: String,
    opened_at: StoredTime,
    closed_at: Option<StoredTime>,
    severity: String,
    subject: String,
    kind: String,
    first_response_at: Option<StoredTime>,
    resolved_at: Option<StoredTime>,
    reopened: i64,
    reopened_at: Option<StoredTime>,
    rating: Option<i64>,
    tier: Option<String>,
    escalation_level: i64,
}

impl TicketRow {
    fn times(&self) -> StoreResult<TicketTimes> {
        Ok(TicketTimes {
            opened_at: self.opened_at.0,
            severity: TicketSeverity::parse_field("severity", &self.severity)
                .map_err(|error| StoreError::Corrupt(error.to_string()))?,
            first_response_at: self.first_response_at.map(|time| time.0),
            resolved_at: self.resolved_at.or(self.closed_at).map(|time| time.0),
            reopened_at: self.reopened_at.map(|time| time.0),
        })
    }

    /// As the API shows it, with its clocks as of `now`.
    fn stored(self, service: &ServicePolicy, now: DateTime<Utc>) -> StoreResult<StoredTicket> {
        // The level shown is the one reached; the job raises it, one level at a time.
        let standing =
            ticket_standing(service, self.tier.as_deref(), &self.times()?, now, u32::MAX);
        let text = |time: Option<DateTime<Utc>>| time.map(|time| StoredTime(time).text());
        Ok(StoredTicket {
            id: self.id,
            customer_id: self.customer_id,
            opened_at: self.opened_at.text(),
            closed_at: self.closed_at.map(StoredTime::text),
            severity: self.severity,
            subject: self.subject,
            kind: self.kind,
            first_response_at: self.first_response_at.map(StoredTime::text),
            resolved_at: self.resolved_at.map(StoredTime::text),
            reopened: self.reopened,
            reopened_at: self.reopened_at.map(StoredTime::text),
            rating: self.rating,
            tier: self.tier,
            first_response_due: text(standing.first_response_due),
            resolution_due: text(standing.resolution_due),
            remaining_business_minutes: standing.remaining_business_minutes,
            breached: standing.breached,
            first_response_breached: standing.first_response_breached,
            resolution_breached: standing.resolution_breached,
            escalation_level: self.escalation_level,
            created: None,
        })
    }

    fn ticket(self) -> StoreResult<Ticket> {
        let corrupt = |error: allot_core::FieldError| StoreError::Corrupt(error.to_string());
        Ok(Ticket {
            id: self.id,
            customer_id: CustomerId::parse(&self.customer_id).map_err(corrupt)?,
            opened_at: self.opened_at.0,
            closed_at: self.closed_at.map(|time| time.0),
            severity: TicketSeverity::parse_field("severity", &self.severity).map_err(corrupt)?,
            subject: self.subject,
            kind: TicketKind::parse_field("kind", &self.kind).map_err(corrupt)?,
            first_response_at: self.first_response_at.map(|time| time.0),
            resolved_at: self.resolved_at.map(|time| time.0),
            reopened: u32::try_from(self.reopened).unwrap_or(u32::MAX),
            rating: self.rating.and_then(|rating| u8::try_from(rating).ok()),
        })
    }
}

const TICKET_COLUMNS: &str = "id, customer_id, opened_at, closed_at, severity, subject, kind, first_response_at, resolved_at, reopened, reopened_at, rating, tier, escalation_level";

/// The same columns of `tickets AS t`.
const TICKET_COLUMNS_OF_T: &str = "t.id, t.customer_id, t.opened_at, t.closed_at, t.severity, t.subject, t.kind, t.first_response_at, t.resolved_at, t.reopened, t.reopened_at, t.rating, t.tier, t.escalation_level";

/// Appends the filter's conditions to a statement over `tickets AS t JOIN customers AS c`.
macro_rules! push_ticket_filter {
    ($query:ident, $filter:expr, $view_reps:expr) => {{
        crate::lifecycle::push_in_view!(
            $query,
            $filter.view.as_ref(),
            $view_reps,
            "c.id",
            "c.owner_id"
        );
        match $filter.state {
            TicketState::Open => {
                $query.push(" AND t.closed_at IS NULL AND t.resolved_at IS NULL");
            }
            TicketState::Done => {
                $query.push(" AND (t.closed_at IS NOT NULL OR t.resolved_at IS NOT NULL)");
            }
            TicketState::All => {}
        }
        if let Some(owner) = &$filter.owner_id {
            $query.push(" AND c.owner_id = ").push_bind(owner.as_str());
        }
        if let Some(customer) = &$filter.customer_id {
            $query
                .push(" AND t.customer_id = ")
                .push_bind(customer.as_str());
        }
    }};
}

impl Store {
    /// Upserts tickets by id in one transaction; an existing ticket changes only in the columns
    /// its row carried (so `id,closed_at` closes tickets), a new one needs its customer and
    /// opening time. An id given twice in one file, a ticket of an unknown customer, a ticket
    /// moved to another customer, or a time after the clock is a problem of its row. Each
    /// step a row takes (opened, responded, resolved, reopened, rated) is recorded with `actor`.
    pub async fn import_tickets(
        &self,
        rows: Vec<ImportRow<TicketFields>>,
        bad_rows: BadRows,
        clock: Clock,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let (summary, _) = self
            .import_tickets_in(&mut write, rows, clock, "import", progress)
            .await?;
        finish_import(write, summary, bad_rows).await
    }

    /// The rows laid over the stored tickets, checked and written; returns what was written.
    async fn import_tickets_in(
        &self,
        write: &mut WriteTransaction,
        rows: Vec<ImportRow<TicketFields>>,
        clock: Clock,
        actor: &str,
        progress: Progress<'_>,
    ) -> StoreResult<(ImportSummary, Vec<Ticket>)> {
        let customers = existing_ids(write, "customers").await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|row| row.record.id.trim().to_string())
            .collect();
        let id_texts: Vec<&str> = ids.iter().map(String::as_str).collect();
        let stored = tickets_by_id(write, &id_texts).await?;
        let mut summary = ImportSummary::default();
        let mut first_lines = FirstLines::default();
        let mut pending = Vec::with_capacity(rows.len());
        for ((done, row), id) in rows.into_iter().enumerate().zip(ids) {
            let line = row.line;
            if let Some(duplicate) = first_lines.problem(line, &id).filter(|_| !id.is_empty()) {
                summary.problems.push(duplicate);
                continue;
            }
            let existing = stored.get(&id);
            let fields = match existing {
                Some(existing) => {
                    let mut fields = TicketFields::from_ticket(existing);
                    fields.overlay(row.record, &row.given);
                    fields
                }
                None => row.record,
            };
            let ticket = match fields.into_ticket() {
                Ok(ticket) => ticket,
                Err(errors) => {
                    summary.problems.extend(problems_of(line, errors));
                    continue;
                }
            };
            let mut problems = Vec::new();
            if let Some(existing) =
                existing.filter(|existing| existing.customer_id != ticket.customer_id)
            {
                problems.push(RowProblem::conflict(
                    line,
                    "customer_id",
                    format!(
                        "ticket '{}' belongs to customer '{}'; a ticket does not move to another customer",
                        ticket.id, existing.customer_id
                    ),
                ));
            } else if !customers.contains(ticket.customer_id.as_str()) {
                problems.push(RowProblem::conflict(
                    line,
                    "customer_id",
                    format!("customer '{}' does not exist", ticket.customer_id),
                ));
            }
            for (field, time) in [
                ("opened_at", Some(ticket.opened_at)),
                ("closed_at", ticket.closed_at),
                ("first_response_at", ticket.first_response_at),
                ("resolved_at", ticket.resolved_at),
            ] {
                if let Some(message) =
                    time.and_then(|time| crate::activity::in_the_future(time, clock))
                {
                    problems.push(RowProblem::invalid(line, field, message));
                }
            }
            if !problems.is_empty() {
                summary.problems.append(&mut problems);
                continue;
            }
            if existing.is_some() {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            pending.push(ticket);
            progress(done as u64 + 1);
        }
        let new_customers: Vec<&str> = pending
            .iter()
            .filter(|ticket| !stored.contains_key(&ticket.id))
            .map(|ticket| ticket.customer_id.as_str())
            .collect();
        let tiers = customer_tiers(write, &new_customers).await?;
        let writes: Vec<TicketWrite<'_>> = pending
            .iter()
            .map(|ticket| TicketWrite {
                ticket,
                tier: tiers.get(ticket.customer_id.as_str()).map(String::as_str),
            })
            .collect();
        upsert_tickets(write, &writes).await?;
        let mut events = Vec::new();
        for ticket in &pending {
            steps_taken(stored.get(&ticket.id), ticket, clock.now(), &mut events);
        }
        record_ticket_events(write, actor, &events).await?;
        Ok((summary, pending))
    }

    /// Opens, updates or closes one ticket (API): the body's fields laid over the stored ticket,
    /// read and written in one transaction, so two updates of one ticket cannot undo each other.
    pub async fn put_ticket(
        &self,
        update: TicketFields,
        given: &GivenColumns,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<StoredTicket> {
        let mut write = self.begin_write().await?;
        let (summary, mut written) = self
            .import_tickets_in(
                &mut write,
                vec![ImportRow {
                    line: 1,
                    record: update,
                    given: given.clone(),
                }],
                clock,
                actor,
                &|_| {},
            )
            .await?;
        let created = single_record_outcome(summary)?;
        let ticket = written.pop().ok_or_else(|| {
            StoreError::Corrupt("a ticket without problems was not written".to_string())
        })?;
        let policy = self.policy_in(&mut write).await?.1;
        let mut stored = ticket_row(&mut write, &ticket.id)
            .await?
            .stored(&policy.service, clock.now())?;
        write.commit().await?;
        stored.created = Some(created);
        Ok(stored)
    }

    /// One ticket with its clocks as of the clock and its history; `NotFound` for an unknown id.
    pub async fn ticket(&self, id: &str, clock: Clock) -> StoreResult<TicketDetail> {
        let mut read = self.database.begin_read().await?;
        let row = ticket_row(&mut read, id).await?;
        let history: Vec<TicketEventRow> = on_backend!(&mut read, |connection, Db| {
            sql!(Db; "SELECT id, at, actor, kind, level, recipient_rep_id, detail FROM ticket_events WHERE ticket_id = ",
                bind(id), " ORDER BY id")
            .build_query_as()
            .fetch_all(&mut *connection)
            .await?
        });
        let policy = self.policy_in(&mut read).await?.1;
        Ok(TicketDetail {
            ticket: row.stored(&policy.service, clock.now())?,
            history: history.into_iter().map(TicketEventRow::event).collect(),
        })
    }

    /// The customer a ticket belongs to, for the caller's view check; `NotFound` when unknown.
    pub async fn ticket_customer(&self, id: &str) -> StoreResult<CustomerId> {
        let mut connection = self.database.acquire().await?;
        let customer: Option<String> = on_backend!(&mut connection, |connection, Db| {
            sql!(Db; "SELECT customer_id FROM tickets WHERE id = ", bind(id))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        });
        let customer = customer.ok_or_else(|| StoreError::NotFound {
            entity: "ticket",
            id: id.to_string(),
        })?;
        CustomerId::parse(&customer).map_err(|error| StoreError::Corrupt(error.to_string()))
    }

    /// How many tickets the filter finds (its limit and offset aside).
    pub async fn count_tickets(&self, filter: &TicketFilter) -> StoreResult<i64> {
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut connection = self.database.acquire().await?;
        Ok(on_backend!(&mut connection, |connection, Db| {
            let mut query = sql!(Db; "SELECT COUNT(*) FROM tickets AS t JOIN customers AS c ON c.id = t.customer_id WHERE 1 = 1");
            push_ticket_filter!(query, filter, view_reps.as_deref());
            query
                .build_query_scalar()
                .fetch_one(&mut *connection)
                .await?
        }))
    }

    /// Tickets with their clocks as of the clock: open ones oldest first, others newest first.
    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        clock: Clock,
    ) -> StoreResult<Vec<StoredTicket>> {
        let view_reps = crate::lifecycle::View::rep_list(filter.view.as_ref());
        let mut read = self.database.begin_read().await?;
        let rows: Vec<TicketRow> = on_backend!(&mut read, |connection, Db| {
            let mut query = sql!(Db; format!("SELECT {TICKET_COLUMNS_OF_T} FROM tickets AS t JOIN customers AS c ON c.id = t.customer_id WHERE 1 = 1"));
            push_ticket_filter!(query, filter, view_reps.as_deref());
            let order = match filter.state {
                TicketState::Open => "ASC",
                TicketState::Done | TicketState::All => "DESC",
            };
            query.push(format!(
                " ORDER BY t.opened_at {order}, {} {order} LIMIT ",
                <Db as crate::database::Dialect>::byte_order("t.id")
            ));
            query.push_bind(if filter.limit > 0 { filter.limit } else { 100 });
            query.push(" OFFSET ").push_bind(filter.offset.max(0));
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        let policy = self.policy_in(&mut read).await?.1;
        rows.into_iter()
            .map(|row| row.stored(&policy.service, clock.now()))
            .collect()
    }

    /// One page of tickets with the count over all pages.
    pub async fn ticket_page(
        &self,
        filter: &TicketFilter,
        clock: Clock,
    ) -> StoreResult<TicketPage> {
        Ok(TicketPage {
            total: self.count_tickets(filter).await?,
            limit: if filter.limit > 0 { filter.limit } else { 100 },
            offset: filter.offset.max(0),
            items: self.list_tickets(filter, clock).await?,
        })
    }

    /// A customer's tickets with their clocks as of the clock, newest first.
    pub async fn tickets_of(
        &self,
        customer_id: &CustomerId,
        clock: Clock,
    ) -> StoreResult<Vec<StoredTicket>> {
        let mut read = self.database.begin_read().await?;
        let (exists, rows): (Option<i64>, Vec<TicketRow>) = on_backend!(
            &mut read,
            |connection, Db| {
                let exists = sql!(Db; "SELECT CAST(1 AS BIGINT) FROM customers WHERE id = ", bind(customer_id.as_str()))
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?;
                let rows = sql!(Db; format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE customer_id = "),
                bind(customer_id.as_str()), format!(" ORDER BY opened_at DESC, {}", <Db as crate::database::Dialect>::byte_order("id")))
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?;
                (exists, rows)
            }
        );
        if exists.is_none() {
            return Err(StoreError::NotFound {
                entity: "customer",
                id: customer_id.to_string(),
            });
        }
        let policy = self.policy_in(&mut read).await?.1;
        rows.into_iter()
            .map(|row| row.stored(&policy.service, clock.now()))
            .collect()
    }

    /// Every ticket's span by customer, for grading; `None` when no ticket was ever recorded,
    /// which means the organisation does not track tickets here (health leaves them out).
    pub(crate) async fn load_tickets(
        &self,
        source: &mut impl Connected,
    ) -> StoreResult<Option<BTreeMap<String, Vec<TicketSpan>>>> {
        let rows: Vec<(String, StoredTime, Option<StoredTime>)> = read_all_rows(
            source,
            "SELECT customer_id, opened_at, closed_at FROM tickets",
            |row| {
                let time = |index| stored_time_column(row, index).map(|time| time.map(StoredTime));
                let opened = time(1)?
                    .ok_or_else(|| StoreError::Corrupt("a ticket without its opening".into()))?;
                Ok((row.get(0)?, opened, time(2)?))
            },
            Ok,
        )
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut spans: BTreeMap<String, Vec<TicketSpan>> = BTreeMap::new();
        for (customer_id, opened_at, closed_at) in rows {
            spans
                .entry(customer_id)
                .or_default()
                .push((opened_at.0, closed_at.map(|time| time.0)));
        }
        Ok(Some(spans))
    }
}

#[derive(sqlx_macros::FromRow)]
struct TicketEventRow {
    id: i64,
    at: StoredTime,
    actor: String,
    kind: String,
    level: Option<i64>,
    recipient_rep_id: Option<String>,
    detail: String,
}

impl TicketEventRow {
    fn event(self) -> TicketEvent {
        TicketEvent {
            id: self.id,
            at: self.at.text(),
            actor: self.actor,
            kind: self.kind,
            level: self.level,
            recipient_rep_id: self.recipient_rep_id,
            detail: self.detail,
        }
    }
}

/// One stored ticket; `NotFound` when there is none.
async fn ticket_row(source: &mut impl Connected, id: &str) -> StoreResult<TicketRow> {
    let row: Option<TicketRow> = on_backend!(source, |connection, Db| {
        sql!(Db; format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE id = "), bind(id))
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?
    });
    row.ok_or_else(|| StoreError::NotFound {
        entity: "ticket",
        id: id.to_string(),
    })
}

/// Tickets stored while their customer had no tier (imported before the first grading) take
/// the tier the customer is first graded into: the earliest tier known for it.
pub(crate) async fn give_tickets_their_first_tier(write: &mut WriteTransaction) -> StoreResult<()> {
    on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "UPDATE tickets SET tier = (SELECT c.tier FROM customers AS c WHERE c.id = tickets.customer_id) WHERE tier IS NULL")
            .build()
            .execute(&mut *connection)
            .await?;
    });
    Ok(())
}

/// The tier of each of `customers` that has one.
async fn customer_tiers(
    source: &mut impl Connected,
    customers: &[&str],
) -> StoreResult<HashMap<String, String>> {
    let mut tiers = HashMap::new();
    for chunk in customers.chunks(LIST_CHUNK) {
        let rows: Vec<(String, String)> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; "SELECT id, tier FROM customers WHERE tier IS NOT NULL AND ");
            query.push_in_list("id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        tiers.extend(rows);
    }
    Ok(tiers)
}

/// The stored tickets among `ids`, by id.
async fn tickets_by_id(
    source: &mut impl Connected,
    ids: &[&str],
) -> StoreResult<HashMap<String, Ticket>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(LIST_CHUNK) {
        let rows: Vec<TicketRow> = on_backend!(&mut *source, |connection, Db| {
            let mut query = sql!(Db; format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE "));
            query.push_in_list("id", chunk);
            query.build_query_as().fetch_all(&mut *connection).await?
        });
        for row in rows {
            let ticket = row.ticket()?;
            found.insert(ticket.id.clone(), ticket);
        }
    }
    Ok(found)
}
