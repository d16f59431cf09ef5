//! Tickets (工单/投诉): import from files, one at a time from the API, listing, and loading them for grading.
//!
//! A ticket is upserted by its id, so closing one is sending it again with `closed_at`.
//! Grading counts the tickets open as of the clock (health) and all tickets opened up to it
//! (cost to serve). SLA clocks and escalation build on this table later.

use std::collections::BTreeMap;

use allot_core::activity::Ticket;
use allot_core::CustomerId;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::activity::parse_stored_time;
use crate::batch::execute_batched;
use crate::error::{StoreError, StoreResult};
use crate::organisation::{
    existing_ids, finish_import, BadRows, FirstLines, ImportSummary, Progress, RowProblem,
};
use crate::rows::{optional_text, text};
use crate::{format_timestamp, Backend, Store};

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
    /// Upserts tickets by id in one transaction; an id given twice in one file, or a ticket of
    /// an unknown customer, is a problem of its row.
    pub async fn import_tickets(
        &self,
        rows: Vec<(usize, Ticket)>,
        bad_rows: BadRows,
        progress: Progress<'_>,
    ) -> StoreResult<ImportSummary> {
        let mut write = self.begin_write().await?;
        let customers = existing_ids(&mut write.transaction, "customers").await?;
        let existing = existing_ids(&mut write.transaction, "tickets").await?;
        let mut summary = ImportSummary::default();
        let mut first_lines = FirstLines::default();
        let mut pending = Vec::with_capacity(rows.len());
        for (done, (line, ticket)) in rows.into_iter().enumerate() {
            if let Some(problem) = first_lines.problem(line, &ticket.id) {
                summary.problems.push(problem);
                continue;
            }
            if !customers.contains(ticket.customer_id.as_str()) {
                summary.problems.push(RowProblem {
                    line,
                    field: "customer_id".to_string(),
                    message: format!("customer '{}' does not exist", ticket.customer_id),
                });
                continue;
            }
            if existing.contains(&ticket.id) {
                summary.updated += 1;
            } else {
                summary.inserted += 1;
            }
            pending.push(ticket);
            progress(done as u64 + 1);
        }
        upsert_tickets(&mut write.transaction, self.backend, &pending).await?;
        finish_import(write, summary, bad_rows).await
    }

    /// Opens, updates or closes one ticket (API).
    pub async fn put_ticket(&self, ticket: Ticket) -> StoreResult<StoredTicket> {
        let summary = self
            .import_tickets(vec![(1, ticket.clone())], BadRows::new(true), &|_| {})
            .await?;
        if let Some(problem) = summary.problems.into_iter().next() {
            return Err(StoreError::Conflict {
                message: problem.message,
                field: Some(problem.field),
            });
        }
        Ok(StoredTicket {
            id: ticket.id,
            customer_id: ticket.customer_id.to_string(),
            opened_at: format_timestamp(ticket.opened_at),
            closed_at: ticket.closed_at.map(format_timestamp),
            severity: ticket.severity.as_str().to_string(),
            subject: ticket.subject,
            created: Some(summary.inserted == 1),
        })
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
