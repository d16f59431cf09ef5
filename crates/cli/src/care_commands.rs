//! `allot calendar`, `allot tasks` and the service reports at the command line: a rep's care
//! tasks by day (or its iCalendar feed), completing a task with the interaction that did it,
//! and `allot report service|baseline|quadrant` as tables, JSON or CSV.

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

/// Which service report.
#[derive(Debug, Clone, Copy)]
pub enum ServiceReportKind {
    Service,
    Baseline,
    Quadrant,
    Performance,
}

/// The service reports' options.
#[derive(clap::Args)]
pub struct ReportArguments {
    /// CSV instead of a table.
    #[arg(long)]
    csv: bool,
    #[arg(long)]
    json: bool,
    /// As a manager: its subtree and the pool.
    #[arg(long = "as")]
    acting_as: Option<String>,
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{:.1}%", value * 100.0))
}

pub async fn report(
    store: &Store,
    kind: ServiceReportKind,
    arguments: ReportArguments,
    clock: Clock,
) -> Result<()> {
    let principal = principal(store, arguments.acting_as.as_deref()).await?;
    if principal.role() == allot_core::Role::Rep {
        bail!("the service reports are for managers and admins");
    }
    let view = store.view_of(&principal, clock).await?;
    let view = (!view.is_everything()).then_some(view);
    match kind {
        ServiceReportKind::Service => {
            let report = store.service_report(view.as_ref(), clock).await?;
            if arguments.json {
                return print_json(&report);
            }
            if arguments.csv {
                print!("{}", allot_files::reports::service_report_csv(&report)?);
                return Ok(());
            }
            println!("service over the last {} days", report.window_days);
            let mut table = Table::new(
                &[
                    "group",
                    "key",
                    "customers",
                    "value share",
                    "effort share",
                    "first response",
                    "resolution",
                    "baseline",
                    "days since follow-up",
                ],
                &[
                    Align::Left,
                    Align::Left,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                ],
            );
            let groups = [
                ("overall", std::slice::from_ref(&report.overall)),
                ("tier", report.by_tier.as_slice()),
                ("team", report.by_team.as_slice()),
            ];
            for (group, rows) in groups {
                for row in rows {
                    table.row(vec![
                        group.to_string(),
                        row.key.clone(),
                        row.customers.to_string(),
                        percent(Some(row.value_share)),
                        percent(Some(row.effort_share)),
                        percent(row.first_response_attainment),
                        percent(row.resolution_attainment),
                        percent(row.baseline_coverage),
                        row.median_days_since_follow_up
                            .map_or_else(|| "-".to_string(), |days| format!("{days:.0}")),
                    ]);
                }
            }
            table.print();
        }
        ServiceReportKind::Baseline => {
            let report = store.baseline_report(view.as_ref(), clock).await?;
            if arguments.json {
                return print_json(&report);
            }
            if arguments.csv {
                print!("{}", allot_files::reports::baseline_csv(&report.checks)?);
                return Ok(());
            }
            let mut table = Table::new(
                &[
                    "check",
                    "applies",
                    "passing",
                    "coverage",
                    "failing (first 10)",
                ],
                &[
                    Align::Left,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Left,
                ],
            );
            for check in &report.checks {
                table.row(vec![
                    check.name.clone(),
                    check.overall.applies.to_string(),
                    check.overall.passing.to_string(),
                    percent(Some(check.overall.coverage)),
                    check
                        .failing
                        .iter()
                        .take(10)
                        .map(|failing| failing.customer_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                ]);
            }
            table.print();
        }
        ServiceReportKind::Performance => {
            let report = store.performance_report(view.as_ref(), clock).await?;
            if arguments.json {
                return print_json(&report);
            }
            if arguments.csv {
                print!("{}", allot_files::reports::performance_csv(&report)?);
                return Ok(());
            }
            println!("performance over the last {} days", report.window_days);
            let mut table = Table::new(
                &[
                    "rep",
                    "customers",
                    "revenue",
                    "new won",
                    "first response",
                    "rating",
                    "follow-up",
                    "score",
                ],
                &[
                    Align::Left,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                ],
            );
            for rep in &report.reps {
                table.row(vec![
                    rep.rep_id.clone(),
                    rep.customers.to_string(),
                    format!("{:.2}", rep.revenue),
                    rep.new_customers_won.to_string(),
                    percent(rep.first_response_attainment),
                    rep.mean_rating
                        .map_or_else(|| "-".to_string(), |rating| format!("{rating:.2}")),
                    percent(Some(rep.follow_up_rate)),
                    format!("{:.2}", rep.score),
                ]);
            }
            table.print();
        }
        ServiceReportKind::Quadrant => {
            let report = store.quadrant_report(view.as_ref(), clock).await?;
            if arguments.json {
                return print_json(&report);
            }
            if arguments.csv {
                print!("{}", allot_files::reports::quadrant_csv(&report)?);
                return Ok(());
            }
            println!(
                "value threshold {:.1}, service threshold {:.0} minutes over {} days",
                report.value_threshold, report.minutes_threshold, report.window_days
            );
            let mut table = Table::new(
                &["quadrant", "customers", "value", "minutes"],
                &[Align::Left, Align::Right, Align::Right, Align::Right],
            );
            for quadrant in &report.quadrants {
                table.row(vec![
                    quadrant.name.clone(),
                    quadrant.customers.to_string(),
                    format!("{:.1}", quadrant.value),
                    format!("{:.0}", quadrant.minutes),
                ]);
            }
            table.print();
            let listed = |points: &[allot_core::service::report::QuadrantPoint]| {
                points
                    .iter()
                    .take(10)
                    .map(|point| point.customer_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "under-served (high value, low service): {}",
                listed(&report.under_served)
            );
            println!(
                "over-served (low value, high service): {}",
                listed(&report.over_served)
            );
        }
    }
    Ok(())
}

/// The skew alerts, newest first (as the operator).
pub async fn skew(store: &Store, all: bool, json: bool) -> Result<()> {
    let principal = principal(store, None).await?;
    let alerts = store.service_alerts(&principal, all).await?;
    if json {
        return print_json(&alerts);
    }
    let mut table = Table::new(
        &["id", "kind", "subject", "status", "raised", "message"],
        &[
            Align::Right,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
        ],
    );
    for alert in &alerts {
        table.row(vec![
            alert.id.to_string(),
            alert.kind.clone(),
            alert.subject.clone(),
            alert.status.clone(),
            alert.raised_at.clone(),
            alert.message.clone(),
        ]);
    }
    table.print();
    println!("{} alerts", alerts.len());
    Ok(())
}
