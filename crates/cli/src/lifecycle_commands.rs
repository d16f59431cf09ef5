//! `claim`, `release`, `pool`, `transfer`, `reps deactivate` and `notifications`: the ownership
//! lifecycle at the command line, as the operator (an admin, `admin:cli`) or, with `--as REP`,
//! as that rep with its role.

use anyhow::{bail, Result};
use clap::Subcommand;
use serde::Serialize;

use allot_core::access::Principal;
use allot_core::pool::{TransferReason, TransferState};
use allot_core::{Clock, Customer, CustomerId, RepId};
use allot_store::customers::CustomerFilter;
use allot_store::lifecycle::transfers::{
    InboxRole, TransferDocument, TransferFilter, TransferRequest, TransferTarget,
};
use allot_store::Store;

use crate::table::{Align, Table};

#[derive(Subcommand)]
pub enum PoolAction {
    /// The pool: customers without an owner, how long each has waited and why.
    List {
        #[arg(long)]
        tier: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// What the next tick's reclaim would warn about and reclaim (changes nothing).
    Reclaims {
        /// Required: reclaims happen in `allot tick`; this only lists them.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TransferAction {
    /// Ask for customers to move from their owner to another rep (or `rules`).
    Request {
        /// Customer ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        customers: Vec<String>,
        #[arg(long)]
        from: String,
        /// A rep id, or `rules`.
        #[arg(long)]
        to: String,
        /// rep_left, team_change, customer_request, performance, reclaim, rebalance, conflict, other.
        #[arg(long)]
        reason_kind: String,
        #[arg(long, default_value = "")]
        text: String,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Transfers in view, newest first; `--role` makes it an inbox.
    List {
        #[arg(long)]
        state: Option<String>,
        /// approver or new_owner.
        #[arg(long)]
        role: Option<String>,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One transfer with its steps and hand-over checklist (JSON).
    Show {
        id: i64,
        #[arg(long = "as")]
        acting_as: Option<String>,
    },
    Approve(StepArgs),
    Reject(StepArgs),
    Accept(StepArgs),
    Decline(StepArgs),
    Cancel(StepArgs),
}

#[derive(clap::Args)]
pub struct StepArgs {
    id: i64,
    #[arg(long, default_value = "")]
    comment: String,
    #[arg(long = "as")]
    acting_as: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum RepsAction {
    /// A rep leaves: its customers go to the successor (or by the rules), in one transaction.
    Deactivate {
        id: String,
        #[arg(long)]
        successor: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// The operator, or the rep named by `--as` with its role.
pub(crate) async fn principal(store: &Store, acting_as: Option<&str>) -> Result<Principal> {
    Ok(match acting_as {
        None => Principal::Admin {
            token_id: "cli".to_string(),
        },
        Some(rep) => {
            store
                .principal_of_rep(&RepId::parse_field("as", rep)?)
                .await?
        }
    })
}

pub(crate) fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_customer(customer: &Customer, json: bool, verb: &str) -> Result<()> {
    if json {
        return print_json(customer);
    }
    match &customer.owner_id {
        Some(owner) => println!("{} {verb}: owner {owner}", customer.id),
        None => println!("{} {verb}: in the pool", customer.id),
    }
    Ok(())
}

pub async fn claim(store: &Store, id: &str, rep: &str, json: bool, clock: Clock) -> Result<()> {
    let id = CustomerId::parse_field("id", id)?;
    let rep = RepId::parse_field("rep", rep)?;
    let principal = store.principal_of_rep(&rep).await?;
    let customer = store.claim(&principal, &id, Some(&rep), clock).await?;
    print_customer(&customer, json, "claimed")
}

pub async fn release(
    store: &Store,
    id: &str,
    reason: &str,
    acting_as: Option<&str>,
    json: bool,
    clock: Clock,
) -> Result<()> {
    let id = CustomerId::parse_field("id", id)?;
    let principal = principal(store, acting_as).await?;
    let customer = store.release(&principal, &id, reason, clock).await?;
    print_customer(&customer, json, "released")
}

pub async fn pool(store: &Store, action: PoolAction, clock: Clock) -> Result<()> {
    match action {
        PoolAction::List { tier, limit, json } => {
            let filter = CustomerFilter {
                tier: tier.map(allot_core::TierName::from_stored),
                limit,
                ..CustomerFilter::default()
            };
            let page = store.list_pool(&filter, clock).await?;
            if json {
                return print_json(&page);
            }
            let mut table = Table::new(
                &["customer", "name", "tier", "days", "why"],
                &[
                    Align::Left,
                    Align::Left,
                    Align::Left,
                    Align::Right,
                    Align::Left,
                ],
            );
            for entry in &page.items {
                table.row(vec![
                    entry.customer.id.to_string(),
                    entry.customer.name.clone(),
                    entry
                        .customer
                        .tier
                        .as_ref()
                        .map_or("-".to_string(), |tier| tier.as_str().to_string()),
                    entry
                        .days_in_pool
                        .map_or("-".to_string(), |days| days.to_string()),
                    format!("{}: {}", entry.reason_kind, entry.reason),
                ]);
            }
            table.print();
            println!("{} of {} pool customers", page.items.len(), page.total);
        }
        PoolAction::Reclaims { dry_run, json } => {
            if !dry_run {
                bail!("reclaims happen in `allot tick`; `allot pool reclaims --dry-run` lists what it would do");
            }
            let summary = store.reclaim_preview(clock).await?;
            if json {
                return print_json(&summary);
            }
            let mut table = Table::new(
                &[
                    "action",
                    "customer",
                    "owner",
                    "tier",
                    "idle days",
                    "reclaim on",
                ],
                &[
                    Align::Left,
                    Align::Left,
                    Align::Left,
                    Align::Left,
                    Align::Right,
                    Align::Left,
                ],
            );
            for (action, items) in [("warn", &summary.warned), ("reclaim", &summary.reclaimed)] {
                for item in items {
                    let action = if item.already_warned {
                        "warned before".to_string()
                    } else {
                        action.to_string()
                    };
                    table.row(vec![
                        action,
                        item.customer_id.clone(),
                        item.owner_id.clone(),
                        item.tier.clone(),
                        item.idle_days.to_string(),
                        item.reclaim_on.clone(),
                    ]);
                }
            }
            table.print();
            println!(
                "{} to warn, {} to reclaim",
                summary
                    .warned
                    .iter()
                    .filter(|item| !item.already_warned)
                    .count(),
                summary.reclaimed.len()
            );
        }
    }
    Ok(())
}

fn print_transfer(transfer: &TransferDocument, json: bool) -> Result<()> {
    if json {
        return print_json(transfer);
    }
    println!(
        "transfer {}: {} ({} customers, {} → {}, {}){}",
        transfer.id,
        transfer.state,
        transfer.customer_ids.len(),
        transfer.from,
        transfer.to,
        transfer.reason_kind,
        transfer
            .waiting_for
            .as_ref()
            .map(|next| format!("; waits for {next}"))
            .unwrap_or_default()
    );
    Ok(())
}

pub async fn transfer(store: &Store, action: TransferAction, clock: Clock) -> Result<()> {
    match action {
        TransferAction::Request {
            customers,
            from,
            to,
            reason_kind,
            text,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let request = TransferRequest {
                customer_ids: customers
                    .iter()
                    .map(|id| CustomerId::parse_field("customers", id))
                    .collect::<Result<_, _>>()?,
                from: RepId::parse_field("from", &from)?,
                to: match to.trim() {
                    "rules" => TransferTarget::Rules,
                    rep => TransferTarget::Rep(RepId::parse_field("to", rep)?),
                },
                reason_kind: TransferReason::parse_field("reason-kind", &reason_kind)?,
                text,
            };
            let transfer = store.request_transfer(&principal, &request, clock).await?;
            print_transfer(&transfer, json)?;
        }
        TransferAction::List {
            state,
            role,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let filter = TransferFilter {
                state: state
                    .map(|state| TransferState::parse_field("state", &state))
                    .transpose()?,
                role: match role.as_deref().map(str::trim) {
                    None => None,
                    Some("approver") => Some(InboxRole::Approver),
                    Some("new_owner") => Some(InboxRole::NewOwner),
                    Some(other) => bail!("--role: '{other}' is not one of approver|new_owner"),
                },
                customer_id: None,
                limit: 1000,
            };
            let transfers = store.list_transfers(&principal, &filter).await?;
            if json {
                return print_json(&transfers);
            }
            for transfer in &transfers {
                print_transfer(transfer, false)?;
            }
        }
        TransferAction::Show { id, acting_as } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            print_json(&store.get_transfer(&principal, id).await?)?;
        }
        TransferAction::Approve(step) => {
            let principal = principal(store, step.acting_as.as_deref()).await?;
            let transfer = store
                .approve_transfer(&principal, step.id, &step.comment, clock)
                .await?;
            print_transfer(&transfer, step.json)?;
        }
        TransferAction::Reject(step) => {
            let principal = principal(store, step.acting_as.as_deref()).await?;
            let transfer = store
                .reject_transfer(&principal, step.id, &step.comment, clock)
                .await?;
            print_transfer(&transfer, step.json)?;
        }
        TransferAction::Accept(step) => {
            let principal = principal(store, step.acting_as.as_deref()).await?;
            let transfer = store
                .accept_transfer(&principal, step.id, &step.comment, clock)
                .await?;
            print_transfer(&transfer, step.json)?;
        }
        TransferAction::Decline(step) => {
            let principal = principal(store, step.acting_as.as_deref()).await?;
            let transfer = store
                .decline_transfer(&principal, step.id, &step.comment, clock)
                .await?;
            print_transfer(&transfer, step.json)?;
        }
        TransferAction::Cancel(step) => {
            let principal = principal(store, step.acting_as.as_deref()).await?;
            let transfer = store
                .cancel_transfer(&principal, step.id, &step.comment, clock)
                .await?;
            print_transfer(&transfer, step.json)?;
        }
    }
    Ok(())
}

pub async fn reps(store: &Store, action: RepsAction, clock: Clock) -> Result<()> {
    match action {
        RepsAction::Deactivate {
            id,
            successor,
            json,
        } => {
            let rep = RepId::parse_field("id", &id)?;
            let successor = successor
                .map(|successor| RepId::parse_field("successor", &successor))
                .transpose()?;
            let admin = principal(store, None).await?;
            let summary = store
                .deactivate_rep(&admin, &rep, successor.as_ref(), clock)
                .await?;
            if json {
                return print_json(&summary);
            }
            let moved: Vec<String> = summary
                .moved_to
                .iter()
                .map(|(rep, count)| format!("{count} to {rep}"))
                .collect();
            println!(
                "{} is inactive; its {} customers: {}{}; {} transfers cancelled, {} re-pointed; its tokens are revoked",
                summary.rep_id,
                summary.customers,
                if moved.is_empty() { "none moved".to_string() } else { moved.join(", ") },
                if summary.to_pool > 0 { format!(", {} to the pool", summary.to_pool) } else { String::new() },
                summary.transfers_cancelled.len(),
                summary.transfers_repointed.len()
            );
        }
    }
    Ok(())
}

pub async fn notifications(
    store: &Store,
    acting_as: Option<&str>,
    unread: bool,
    json: bool,
) -> Result<()> {
    let principal = principal(store, acting_as).await?;
    let list = store.list_notifications(&principal, unread, 1000).await?;
    if json {
        return print_json(&list);
    }
    for notification in &list {
        println!(
            "{} [{}] {}{}",
            notification.created_at,
            notification.kind,
            notification.text,
            if notification.read_at.is_some() {
                ""
            } else {
                " (unread)"
            }
        );
    }
    Ok(())
}
