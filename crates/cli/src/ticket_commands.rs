//! `allot tickets`: tickets and their service clocks at the command line — list them with due
//! times and breaches, show one with its history, and take a step (respond, resolve, reopen,
//! rate) as the operator or `--as` a rep.

use anyhow::{bail, Result};
use clap::Subcommand;

use allot_core::access::Principal;
use allot_core::{Clock, CustomerId, RepId};
use allot_store::tickets::{StoredTicket, TicketFilter, TicketState, TicketStep};
use allot_store::Store;

use crate::lifecycle_commands::{principal, print_json};
use crate::table::{Align, Table};

#[derive(Subcommand)]
pub enum TicketAction {
    /// Tickets in view with their due times: open ones oldest first.
    List {
        /// open (default), done or all.
        #[arg(long, default_value = "open")]
        state: String,
        /// Tickets of this rep's customers.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        customer: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One ticket with its clocks and history (JSON).
    Show {
        id: String,
        #[arg(long = "as")]
        acting_as: Option<String>,
    },
    /// Record the first response (stops the first-response clock).
    Respond(StepArguments),
    /// Resolve and close the ticket (stops the resolution clock).
    Resolve(StepArguments),
    /// Reopen a resolved ticket: resolution is due again from now.
    Reopen(StepArguments),
    /// The customer's rating of a resolved ticket, 1–5.
    Rate {
        id: String,
        rating: u8,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct StepArguments {
    id: String,
    /// When it happened (RFC 3339 or a date; default: now).
    #[arg(long)]
    at: Option<String>,
    #[arg(long = "as")]
    acting_as: Option<String>,
    #[arg(long)]
    json: bool,
}

/// A ticket the caller cannot see is "not found", as in the API.
async fn ticket_in_view(
    store: &Store,
    principal: &Principal,
    id: &str,
    clock: Clock,
) -> Result<()> {
    let customer = store.ticket_customer(id).await?;
    if !principal.is_admin() {
        let view = store.view_of(principal, clock).await?;
        if store.customer_in_view(&view, &customer).await.is_err() {
            bail!("ticket '{id}' not found");
        }
    }
    Ok(())
}

fn clock_words(ticket: &StoredTicket) -> String {
    let remaining = match ticket.remaining_business_minutes {
        None => "-".to_string(),
        Some(minutes) if minutes < 0 => format!("{} min overdue", -minutes),
        Some(minutes) => format!("{minutes} min left"),
    };
    let state = if ticket.resolved_at.is_some() || ticket.closed_at.is_some() {
        "resolved"
    } else if ticket.first_response_at.is_some() {
        "answered"
    } else {
        "open"
    };
    format!(
        "{state}{}, {remaining}{}",
        if ticket.breached { ", BREACHED" } else { "" },
        if ticket.escalation_level > 0 {
            format!(", escalated to level {}", ticket.escalation_level)
        } else {
            String::new()
        }
    )
}

async fn step(
    store: &Store,
    arguments: StepArguments,
    step: TicketStep,
    clock: Clock,
) -> Result<()> {
    let principal = principal(store, arguments.acting_as.as_deref()).await?;
    ticket_in_view(store, &principal, &arguments.id, clock).await?;
    let at = match arguments.at {
        Some(raw) => allot_core::text::parse_optional_timestamp("at", &raw)?,
        None => None,
    };
    let ticket = store
        .ticket_step(&arguments.id, step, at, clock, &principal.actor())
        .await?;
    print_ticket(&ticket, arguments.json, step.name())
}

fn print_ticket(ticket: &StoredTicket, json: bool, verb: &str) -> Result<()> {
    if json {
        return print_json(ticket);
    }
    println!("ticket {} ({verb}): {}", ticket.id, clock_words(ticket));
    Ok(())
}

pub async fn tickets(store: &Store, action: TicketAction, clock: Clock) -> Result<()> {
    match action {
        TicketAction::List {
            state,
            owner,
            customer,
            limit,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let Some(state) = TicketState::parse(&state) else {
                bail!("--state: '{state}' is not one of open, done, all");
            };
            if !(1..=100_000).contains(&limit) {
                bail!("--limit: must be 1 to 100000");
            }
            let view = store.view_of(&principal, clock).await?;
            let filter = TicketFilter {
                view: (!view.is_everything()).then_some(view),
                state,
                owner_id: owner
                    .map(|rep| RepId::parse_field("owner", &rep).map(|rep| rep.to_string()))
                    .transpose()?,
                customer_id: customer
                    .map(|id| CustomerId::parse_field("customer", &id).map(|id| id.to_string()))
                    .transpose()?,
                limit,
                offset: 0,
            };
            let page = store.ticket_page(&filter, clock).await?;
            if json {
                return print_json(&page);
            }
            let mut table = Table::new(
                &[
                    "id",
                    "customer",
                    "tier",
                    "severity",
                    "kind",
                    "opened",
                    "first response due",
                    "resolution due",
                    "clock",
                ],
                &[Align::Left; 9],
            );
            for ticket in &page.items {
                table.row(vec![
                    ticket.id.clone(),
                    ticket.customer_id.clone(),
                    ticket.tier.clone().unwrap_or_else(|| "-".to_string()),
                    ticket.severity.clone(),
                    ticket.kind.clone(),
                    ticket.opened_at.clone(),
                    ticket
                        .first_response_due
                        .clone()
                        .unwrap_or_else(|| "-".to_string()),
                    ticket
                        .resolution_due
                        .clone()
                        .unwrap_or_else(|| "-".to_string()),
                    clock_words(ticket),
                ]);
            }
            table.print();
            println!(
                "{} of {} tickets ({} breached on this page)",
                page.items.len(),
                page.total,
                page.items.iter().filter(|ticket| ticket.breached).count()
            );
        }
        TicketAction::Show { id, acting_as } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            ticket_in_view(store, &principal, &id, clock).await?;
            print_json(&store.ticket(&id, clock).await?)?;
        }
        TicketAction::Respond(arguments) => {
            step(store, arguments, TicketStep::Respond, clock).await?
        }
        TicketAction::Resolve(arguments) => {
            step(store, arguments, TicketStep::Resolve, clock).await?
        }
        TicketAction::Reopen(arguments) => {
            step(store, arguments, TicketStep::Reopen, clock).await?
        }
        TicketAction::Rate {
            id,
            rating,
            acting_as,
            json,
        } => {
            step(
                store,
                StepArguments {
                    id,
                    at: None,
                    acting_as,
                    json,
                },
                TicketStep::Rate(rating),
                clock,
            )
            .await?
        }
    }
    Ok(())
}
