//! Tickets (工单/投诉): import from files, one at a time from the API, listing, and loading them for grading.
//!
//! A ticket is upserted by its id, so closing one is sending it again with `closed_at`.
//! Grading counts the tickets open as of the clock (health) and all tickets opened up to it
//! (cost to serve). SLA clocks and escalation build on this table later.

use std::collections::{BTreeMap, HashMap};

use allot_core::activity::{Ticket, TicketFields, TicketSeverity};
use allot_core::update::GivenColumns;
use allot_core::{Clock, CustomerId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::bulk::{insert_rows, InsertRows, Kind, Transfer, Value};
use crate::database::{on_backend, sql, Connected, TextList, LIST_CHUNK};
use crate::error::{StoreError, StoreResult};
use crate::imports::{
    finish_import, problems_of, single_record_outcome, BadRows, FirstLines, ImportRow,
    ImportSummary, Progress, RowProblem,
};
use crate::organisation::existing_ids;
use crate::{Store, StoredTime, WriteTransaction};

/// A ticket as stored.
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
    /// False when a ticket with this id existed and was updated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

/// When one ticket opened and, if it did, closed.
pub type TicketSpan = (DateTime<Utc>, Option<DateTime<Utc>>);

async fn upsert_tickets(source: &mut impl Connected, tickets: &[Ticket]) -> StoreResult<()> {
    let values: Vec<Vec<Value<'_>>> = tickets
        .iter()
        .map(|ticket| {
            vec![
                Value::Text(&ticket.id),
                Value::Text(ticket.customer_id.as_str()),
                Value::Timestamp(ticket.opened_at),
                Value::timestamp(ticket.closed_at),
                Value::Text(ticket.severity.as_str()),
                Value::Text(&ticket.subject),
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
        ],
            rows: &values,
            on_conflict: Some("(id) DO UPDATE SET customer_id = excluded.customer_id, opened_at = excluded.opened_at, closed_at = excluded.closed_at, severity = excluded.severity, subject = excluded.subject"),
            never_clash: false,
        },
        transfer,
    )
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TicketRow {
    id: String,
    customer_id: String,
    opened_at: StoredTime,
    closed_at: Option<StoredTime>,
    severity: String,
    subject: String,
}

impl TicketRow {
    fn stored(self) -> StoredTicket {
        StoredTicket {
            id: self.id,
            customer_id: self.customer_id,
            opened_at: self.opened_at.text(),
            closed_at: self.closed_at.map(StoredTime::text),
            severity: self.severity,
            subject: self.subject,
            created: None,
        }
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
        })
    }
}

const TICKET_COLUMNS: &str = "id, customer_id, opened_at, closed_at, severity, subject";

impl Store {
    /// Upserts tickets by id in one transaction; an existing ticket changes only in the columns
    /// its row carried (so `id,closed_at` closes tickets), a new one needs its customer and
    /// opening time. An id given twice in one file, a ticket of an unknown customer, a ticket
    /// moved to another customer, or a time after the clock is a problem of its row.
    pub async fn import_tickets(
        &self,
        rows: Vec<ImportRow<TicketFields>>,
        bad_rows: BadRows,
        clock: Clock,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let (summary, _) = self
            .import_tickets_in(&mut write, rows, clock, progress)
            .await?;
        finish_import(write, summary, bad_rows).await
    }

    /// The rows laid over the stored tickets, checked and written; returns what was written.
    async fn import_tickets_in(
        &self,
        write: &mut WriteTransaction,
        rows: Vec<ImportRow<TicketFields>>,
        clock: Clock,
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
        upsert_tickets(write, &pending).await?;
        Ok((summary, pending))
    }

    /// Opens, updates or closes one ticket (API): the body's fields laid over the stored ticket,
    /// read and written in one transaction, so two updates of one ticket cannot undo each other.
    pub async fn put_ticket(
        &self,
        update: TicketFields,
        given: &GivenColumns,
        clock: Clock,
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
                &|_| {},
            )
            .await?;
        let created = single_record_outcome(summary)?;
        write.commit().await?;
        let ticket = written.pop().ok_or_else(|| {
            StoreError::Corrupt("a ticket without problems was not written".to_string())
        })?;
        Ok(StoredTicket {
            id: ticket.id,
            customer_id: ticket.customer_id.to_string(),
            opened_at: StoredTime(ticket.opened_at).text(),
            closed_at: ticket.closed_at.map(|time| StoredTime(time).text()),
            severity: ticket.severity.as_str().to_string(),
            subject: ticket.subject,
            created: Some(created),
        })
    }

    /// A customer's tickets, newest first.
    pub async fn tickets_of(&self, customer_id: &CustomerId) -> StoreResult<Vec<StoredTicket>> {
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
        Ok(rows.into_iter().map(TicketRow::stored).collect())
    }

    /// Every ticket's span by customer, for grading; `None` when no ticket was ever recorded,
    /// which means the organisation does not track tickets here (health leaves them out).
    pub(crate) async fn load_tickets(
        &self,
        source: &mut impl Connected,
    ) -> StoreResult<Option<BTreeMap<String, Vec<TicketSpan>>>> {
        let rows: Vec<(String, StoredTime, Option<StoredTime>)> =
            on_backend!(source, |connection, Db| {
                sql!(Db; "SELECT customer_id, opened_at, closed_at FROM tickets")
                    .build_query_as()
                    .fetch_all(&mut *connection)
                    .await?
            });
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
