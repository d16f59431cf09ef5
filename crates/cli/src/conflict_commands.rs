//! `allot conflicts`: 撞单 conflicts at the command line — list and show them, dispute as the
//! rep who brought the duplicate, decide keep or move and merge as the owner's manager (or the
//! operator).

use anyhow::Result;
use clap::Subcommand;

use allot_core::{Clock, CustomerId};
use allot_store::lifecycle::conflicts::{
    ConflictDecision, ConflictDocument, ConflictFilter, ConflictState, Dispute,
};
use allot_store::Store;

use crate::lifecycle_commands::{principal, print_json};
use crate::table::{Align, Table};

#[derive(Subcommand)]
pub enum ConflictAction {
    /// Conflicts in view, newest first.
    List {
        /// open, disputed, kept or moved.
        #[arg(long)]
        state: Option<String>,
        /// Only those over this existing customer.
        #[arg(long)]
        customer: Option<String>,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One conflict with the duplicate record and its steps (JSON).
    Show {
        id: i64,
        #[arg(long = "as")]
        acting_as: Option<String>,
    },
    /// Dispute an open conflict as the rep who brought the duplicate, with evidence.
    Dispute {
        id: i64,
        #[arg(long)]
        text: String,
        /// Interaction ids (comma-separated) of the rep with the existing customer.
        #[arg(long, value_delimiter = ',')]
        interactions: Vec<String>,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Decide `keep` (the owner stays) or `move` (a transfer to the disputing rep).
    Decide {
        id: i64,
        /// keep or move.
        decision: String,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Merge the duplicate into the existing customer (its id and history stay).
    Merge {
        id: i64,
        #[arg(long, default_value = "")]
        comment: String,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn summary_line(conflict: &ConflictDocument) -> String {
    let fields: Vec<&str> = conflict
        .matched
        .iter()
        .map(|key| key.field.as_str())
        .collect();
    format!(
        "conflict {}: {} — {} duplicates {} on {}{}",
        conflict.id,
        conflict.state,
        conflict.duplicate_id,
        conflict
            .customer_id
            .as_deref()
            .unwrap_or("a customer outside your view"),
        fields.join(", "),
        conflict
            .transfer_id
            .map(|transfer| format!("; transfer {transfer}"))
            .unwrap_or_default()
    )
}

fn print_conflict(conflict: &ConflictDocument, json: bool) -> Result<()> {
    if json {
        return print_json(conflict);
    }
    println!("{}", summary_line(conflict));
    Ok(())
}

pub async fn conflicts(store: &Store, action: ConflictAction, clock: Clock) -> Result<()> {
    match action {
        ConflictAction::List {
            state,
            customer,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let filter = ConflictFilter {
                state: state
                    .map(|state| ConflictState::parse_field("state", &state))
                    .transpose()?,
                customer_id: customer
                    .map(|id| CustomerId::parse_field("customer", &id))
                    .transpose()?,
                limit: 1000,
            };
            let conflicts = store.list_conflicts(&principal, &filter).await?;
            if json {
                return print_json(&conflicts);
            }
            let mut table = Table::new(
                &[
                    "id",
                    "state",
                    "duplicate",
                    "of",
                    "owner",
                    "matched",
                    "brought by",
                ],
                &[
                    Align::Right,
                    Align::Left,
                    Align::Left,
                    Align::Left,
                    Align::Left,
                    Align::Left,
                    Align::Left,
                ],
            );
            for conflict in &conflicts {
                table.row(vec![
                    conflict.id.to_string(),
                    conflict.state.clone(),
                    conflict.duplicate_id.clone(),
                    conflict
                        .customer_id
                        .clone()
                        .unwrap_or_else(|| "-".to_string()),
                    conflict.owner_id.clone().unwrap_or_else(|| "-".to_string()),
                    conflict
                        .matched
                        .iter()
                        .map(|key| format!("{} {}", key.field, key.key))
                        .collect::<Vec<_>>()
                        .join("; "),
                    conflict
                        .brought_by_rep_id
                        .clone()
                        .unwrap_or_else(|| "-".to_string()),
                ]);
            }
            table.print();
            println!("{} conflicts", conflicts.len());
        }
        ConflictAction::Show { id, acting_as } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            print_json(&store.get_conflict(&principal, id).await?)?;
        }
        ConflictAction::Dispute {
            id,
            text,
            interactions,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let dispute = Dispute {
                text,
                interaction_ids: interactions,
            };
            let conflict = store
                .dispute_conflict(&principal, id, &dispute, clock)
                .await?;
            print_conflict(&conflict, json)?;
        }
        ConflictAction::Decide {
            id,
            decision,
            comment,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let decision = ConflictDecision::parse_field("decision", &decision)?;
            let conflict = store
                .decide_conflict(&principal, id, decision, &comment, clock)
                .await?;
            print_conflict(&conflict, json)?;
        }
        ConflictAction::Merge {
            id,
            comment,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let conflict = store
                .merge_conflict(&principal, id, &comment, clock)
                .await?;
            print_conflict(&conflict, json)?;
        }
    }
    Ok(())
}
