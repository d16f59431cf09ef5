//! `allot calendar` and `allot tasks`: the care calendar at the command line — a rep's tasks by
//! day (or its iCalendar feed), and completing a task with the interaction that did it.

use anyhow::{bail, Result};
use clap::Subcommand;

use allot_core::activity::InteractionKind;
use allot_core::{Clock, CustomerId, RepId};
use allot_store::care::CareFilter;
use allot_store::Store;

use crate::lifecycle_commands::{principal, print_json};
use crate::table::{Align, Table};

/// `allot calendar`'s options.
#[derive(clap::Args)]
pub struct CalendarArguments {
    /// Tasks for this rep.
    #[arg(long)]
    rep: Option<String>,
    #[arg(long)]
    customer: Option<String>,
    /// First due day, YYYY-MM-DD.
    #[arg(long)]
    from: Option<String>,
    /// Last due day, YYYY-MM-DD.
    #[arg(long)]
    to: Option<String>,
    /// Done and cancelled tasks too.
    #[arg(long)]
    all: bool,
    /// The rep's iCalendar feed (RFC 5545) instead of a table; needs --rep.
    #[arg(long)]
    ics: bool,
    #[arg(long = "as")]
    acting_as: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
pub enum TaskAction {
    /// Complete an open care task with the interaction that did it.
    Complete {
        id: i64,
        /// call, visit, email, meeting or message.
        #[arg(long)]
        kind: String,
        #[arg(long, default_value_t = 0.0)]
        minutes: f64,
        #[arg(long, default_value = "")]
        outcome: String,
        #[arg(long = "as")]
        acting_as: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn day(field: &str, raw: Option<String>) -> Result<Option<chrono::NaiveDate>> {
    raw.map(|raw| {
        chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("--{field}: '{raw}' is not a date YYYY-MM-DD"))
    })
    .transpose()
}

pub async fn calendar(store: &Store, arguments: CalendarArguments, clock: Clock) -> Result<()> {
    let principal = principal(store, arguments.acting_as.as_deref()).await?;
    let rep = arguments
        .rep
        .map(|rep| RepId::parse_field("rep", &rep))
        .transpose()?;
    if arguments.ics {
        let Some(rep) = rep else {
            bail!("--ics needs --rep: the feed is one rep's");
        };
        if !principal.sees_rep(&rep) {
            bail!("rep '{rep}' not found");
        }
        print!("{}", store.care_feed(&rep, clock).await?);
        return Ok(());
    }
    let view = store.view_of(&principal, clock).await?;
    let filter = CareFilter {
        view: (!view.is_everything()).then_some(view),
        rep_id: rep.map(|rep| rep.to_string()),
        customer_id: arguments
            .customer
            .map(|id| CustomerId::parse_field("customer", &id).map(|id| id.to_string()))
            .transpose()?,
        from: day("from", arguments.from)?,
        to: day("to", arguments.to)?,
        all_states: arguments.all,
        limit: 10_000,
    };
    let tasks = store.care_tasks(&filter, clock).await?;
    if arguments.json {
        return print_json(&tasks);
    }
    let mut table = Table::new(
        &["id", "due", "kind", "customer", "rep", "state"],
        &[
            Align::Right,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
        ],
    );
    for task in &tasks {
        table.row(vec![
            task.id.to_string(),
            task.due_on.clone(),
            task.kind.clone(),
            task.customer_id.clone(),
            task.owner_id.clone().unwrap_or_else(|| "-".to_string()),
            if task.overdue {
                "overdue".to_string()
            } else {
                task.state.clone()
            },
        ]);
    }
    table.print();
    println!(
        "{} tasks ({} overdue)",
        tasks.len(),
        tasks.iter().filter(|task| task.overdue).count()
    );
    Ok(())
}

pub async fn tasks(store: &Store, action: TaskAction, clock: Clock) -> Result<()> {
    match action {
        TaskAction::Complete {
            id,
            kind,
            minutes,
            outcome,
            acting_as,
            json,
        } => {
            let principal = principal(store, acting_as.as_deref()).await?;
            let kind = InteractionKind::parse_field("kind", &kind)?;
            let customer = store.care_task_customer(id).await?;
            if !principal.is_admin() {
                let view = store.view_of(&principal, clock).await?;
                if store.customer_in_view(&view, &customer).await.is_err() {
                    bail!("care task '{id}' not found");
                }
            }
            let task = store
                .complete_care_task(&principal, id, kind, minutes, &outcome, clock)
                .await?;
            if json {
                return print_json(&task);
            }
            println!(
                "care task {} ({}) for {} done by interaction {}",
                task.id,
                task.kind,
                task.customer_id,
                task.interaction_id.as_deref().unwrap_or("-")
            );
        }
    }
    Ok(())
}
