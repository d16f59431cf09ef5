//! Tickets (工单/投诉): import from files, one at a time from the API, listing, and loading them for grading.
//!
//! A ticket is upserted by its id, so closing one is sending it again with `closed_at`.
//! Grading counts the tickets open as of the clock (health) and all tickets opened up to it
//! (cost to serve). SLA clocks and escalation build on this table later.

use std::collections::BTreeMap;

use std::collections::HashMap;

use allot_core::activity::{Ticket, TicketFields, TicketSeverity};
use allot_core::update::GivenColumns;
use allot_core::{Clock, CustomerId};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::activity::parse_stored_time;
use crate::batch::{execute_batched, value_lists};
use crate::error::{StoreError, StoreResult};
use crate::organisation::{
    existing_ids, finish_import, problems_of, single_record_outcome, BadRows, FirstLines,
    ImportRow, ImportSummary, Progress, RowProblem,
};
use crate::rows::{optional_text, text};
use crate::{format_timestamp, Backend, Store, WriteTransaction};

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

async fn upsert_tickets(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    tickets: &[Ticket],
) -> StoreResult<()> {
    let rows: Vec<(&Ticket, String, Option<String>)> = tickets
        .iter()
        .map(|ticket| {
            (
                ticket,
                format_timestamp(ticket.opened_at),
                ticket.closed_at.map(format_timestamp),
            )
        })
        .collect();
    execute_batched(
        transaction,
        backend,
        "INSERT INTO tickets (id, customer_id, opened_at, closed_at, severity, subject) VALUES {rows}
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, opened_at = excluded.opened_at,
             closed_at = excluded.closed_at, severity = excluded.severity, subject = excluded.subject",
        &["{}"; 6],
        &rows,
        |query, (ticket, opened_at, closed_at)| {
            query
                .bind(ticket.id.as_str())
                .bind(ticket.customer_id.as_str())
                .bind(opened_at.as_str())
                .bind(closed_at.as_deref())
                .bind(ticket.severity.as_str())
                .bind(ticket.subject.as_str())
        },
    )
    .await?;
    Ok(())
}

fn stored_ticket(row: &sqlx::any::AnyRow) -> StoreResult<StoredTicket> {
    Ok(StoredTicket {
        id: text(row, "id")?,
        customer_id: text(row, "customer_id")?,
        opened_at: text(row, "opened_at")?,
        closed_at: optional_text(row, "closed_at")?,
        severity: text(row, "severity")?,
        subject: text(row, "subject")?,
        created: None,
    })
}

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
        let customers = existing_ids(&mut write.transaction, "customers").await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|row| row.record.id.trim().to_string())
            .collect();
        let id_texts: Vec<&str> = ids.iter().map(String::as_str).collect();
        let stored = self
            .tickets_by_id(&mut write.transaction, &id_texts)
            .await?;
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
        upsert_tickets(&mut write.transaction, self.backend, &pending).await?;
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
            opened_at: format_timestamp(ticket.opened_at),
            closed_at: ticket.closed_at.map(format_timestamp),
            severity: ticket.severity.as_str().to_string(),
            subject: ticket.subject,
            created: Some(created),
        })
    }

    /// The stored tickets among `ids`, by id, read 500 at a time.
    async fn tickets_by_id(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        ids: &[&str],
    ) -> StoreResult<HashMap<String, Ticket>> {
        let mut rows = Vec::new();
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT id, customer_id, opened_at, closed_at, severity, subject FROM tickets
                 WHERE id IN (VALUES {})",
                value_lists(self.backend, chunk.len(), &["{}"], 1)
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            rows.extend(query.fetch_all(&mut **transaction).await?);
        }
        let corrupt = |error: allot_core::FieldError| StoreError::Corrupt(error.to_string());
        rows.iter()
            .map(|row| {
                let ticket = Ticket {
                    id: text(row, "id")?,
                    customer_id: CustomerId::parse(&text(row, "customer_id")?).map_err(corrupt)?,
                    opened_at: parse_stored_time(&text(row, "opened_at")?)?,
                    closed_at: optional_text(row, "closed_at")?
                        .map(|raw| parse_stored_time(&raw))
                        .transpose()?,
                    severity: TicketSeverity::parse_field("severity", &text(row, "severity")?)
                        .map_err(corrupt)?,
                    subject: text(row, "subject")?,
                };
                Ok((ticket.id.clone(), ticket))
            })
            .collect()
    }

    /// A customer's tickets, newest first.
    pub async fn tickets_of(&self, customer_id: &CustomerId) -> StoreResult<Vec<StoredTicket>> {
        let mut read = self.begin_read().await?;
        sqlx::query("SELECT 1 FROM customers WHERE id = $1")
            .bind(customer_id.as_str())
            .fetch_optional(&mut *read)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "customer",
                id: customer_id.to_string(),
            })?;
        sqlx::query(
            "SELECT id, customer_id, opened_at, closed_at, severity, subject FROM tickets
             WHERE customer_id = $1 ORDER BY opened_at DESC, id",
        )
        .bind(customer_id.as_str())
        .fetch_all(&mut *read)
        .await?
        .iter()
        .map(stored_ticket)
        .collect()
    }

    /// Every ticket's span by customer, for grading; `None` when no ticket was ever recorded,
    /// which means the organisation does not track tickets here (health leaves them out).
    pub(crate) async fn load_tickets(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<Option<BTreeMap<String, Vec<TicketSpan>>>> {
        let rows = sqlx::query("SELECT customer_id, opened_at, closed_at FROM tickets")
            .fetch_all(&mut **transaction)
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut spans: BTreeMap<String, Vec<TicketSpan>> = BTreeMap::new();
        for row in &rows {
            let opened_at = parse_stored_time(&text(row, "opened_at")?)?;
            let closed_at = optional_text(row, "closed_at")?
                .map(|raw| parse_stored_time(&raw))
                .transpose()?;
            spans
                .entry(text(row, "customer_id")?)
                .or_default()
                .push((opened_at, closed_at));
        }
        Ok(Some(spans))
    }
}
