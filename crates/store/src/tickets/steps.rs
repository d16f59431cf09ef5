//! A ticket's steps by hand: first response, resolution, reopening, rating — each checked
//! against the ticket's state, written with its event in one transaction.

use chrono::{DateTime, Utc};

use allot_core::Clock;

use super::{record_ticket_events, ticket_row, NewTicketEvent, StoredTicket};
use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

/// One step of a ticket's life taken by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStep {
    /// The first answer to the customer; stops the first-response clock.
    Respond,
    /// Resolved (and closed); stops the resolution clock.
    Resolve,
    /// Back open after a resolution: the resolution clock restarts now, escalation from level 0.
    Reopen,
    /// The customer's rating of the resolution, 1–5.
    Rate(u8),
}

impl TicketStep {
    pub fn name(self) -> &'static str {
        match self {
            TicketStep::Respond => "respond",
            TicketStep::Resolve => "resolve",
            TicketStep::Reopen => "reopen",
            TicketStep::Rate(_) => "rating",
        }
    }
}

fn denied(code: &'static str, message: String) -> StoreError {
    StoreError::Denied { code, message }
}

impl Store {
    /// Takes `step` on ticket `id` at `at` (default: the clock; never after it, nor before the
    /// ticket opened or was last reopened). A step the ticket's state does not allow — a second
    /// first response, resolving a resolved ticket, reopening or rating an open one — is
    /// refused with its reason, and nothing changes.
    pub async fn ticket_step(
        &self,
        id: &str,
        step: TicketStep,
        at: Option<DateTime<Utc>>,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<StoredTicket> {
        let now = clock.now();
        let at = at.unwrap_or(now);
        let mut write = self.begin_write().await?;
        let row = ticket_row(&mut write, id).await?;
        let opened = row.reopened_at.unwrap_or(row.opened_at).0;
        if at > now {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "at",
                format!(
                    "{} is after the clock ({})",
                    StoredTime(at).text(),
                    StoredTime(now).text()
                ),
            )));
        }
        if at < opened {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "at",
                format!(
                    "{} is before the ticket {} ({})",
                    StoredTime(at).text(),
                    if row.reopened_at.is_some() {
                        "was reopened"
                    } else {
                        "opened"
                    },
                    StoredTime(opened).text()
                ),
            )));
        }
        let resolved = row.resolved_at.or(row.closed_at);
        let event = |kind, detail: String| NewTicketEvent {
            ticket_id: id,
            at,
            kind,
            level: None,
            recipient_rep_id: None,
            detail,
        };
        let recorded = match step {
            TicketStep::Respond => {
                if let Some(first) = row.first_response_at {
                    return Err(denied(
                        "ticket_already_responded",
                        format!("ticket {id} was first answered at {}", first.text()),
                    ));
                }
                if let Some(resolved) = resolved {
                    return Err(denied(
                        "ticket_resolved",
                        format!(
                            "ticket {id} was resolved at {}; reopen it first",
                            resolved.text()
                        ),
                    ));
                }
                on_backend!(&mut write, |connection, Db| {
                    sql!(Db; "UPDATE tickets SET first_response_at = ", bind(StoredTime(at)), " WHERE id = ", bind(id))
                        .build().execute(&mut *connection).await?;
                });
                event("responded", String::new())
            }
            TicketStep::Resolve => {
                if let Some(resolved) = resolved {
                    return Err(denied(
                        "ticket_resolved",
                        format!("ticket {id} was resolved at {}", resolved.text()),
                    ));
                }
                on_backend!(&mut write, |connection, Db| {
                    sql!(Db; "UPDATE tickets SET resolved_at = ", bind(StoredTime(at)), ", closed_at = ", bind(StoredTime(at)),
                        " WHERE id = ", bind(id))
                        .build().execute(&mut *connection).await?;
                });
                event("resolved", String::new())
            }
            TicketStep::Reopen => {
                if resolved.is_none() {
                    return Err(denied(
                        "ticket_open",
                        format!("ticket {id} is open; only a resolved ticket is reopened"),
                    ));
                }
                on_backend!(&mut write, |connection, Db| {
                    sql!(Db; "UPDATE tickets SET resolved_at = NULL, closed_at = NULL, rating = NULL, escalation_level = 0, reopened = reopened + 1, reopened_at = ",
                        bind(StoredTime(at)), " WHERE id = ", bind(id))
                        .build().execute(&mut *connection).await?;
                });
                event("reopened", format!("reopened {} times", row.reopened + 1))
            }
            TicketStep::Rate(rating) => {
                if !(1..=5).contains(&rating) {
                    return Err(StoreError::Invalid(allot_core::FieldError::new(
                        "rating",
                        format!("{rating} is not a rating; give a whole number from 1 to 5"),
                    )));
                }
                if resolved.is_none() {
                    return Err(denied(
                        "ticket_open",
                        format!("ticket {id} is open; a resolution is rated once it is resolved"),
                    ));
                }
                on_backend!(&mut write, |connection, Db| {
                    sql!(Db; "UPDATE tickets SET rating = ", bind(i64::from(rating)), " WHERE id = ", bind(id))
                        .build().execute(&mut *connection).await?;
                });
                event("rated", format!("{rating}/5"))
            }
        };
        record_ticket_events(&mut write, actor, &[recorded]).await?;
        let policy = self.policy_in(&mut write).await?.1;
        let stored = ticket_row(&mut write, id)
            .await?
            .stored(&policy.service, now)?;
        write.commit().await?;
        Ok(stored)
    }
}
