//! `allot rebalance`: a plan that evens workload at the least churn, printed (a dry run), or applied as transfers of kind `rebalance` (or directly with `--no-approval`).

use anyhow::{bail, Result};

use allot_core::rebalance::RebalancePlan;
use allot_core::{Clock, TeamId};
use allot_store::lifecycle::rebalance::{RebalanceApproval, RebalanceRequest};
use allot_store::Store;

use crate::routing_commands::print_fairness_changes;
use crate::table::{Align, Table};

/// What `allot rebalance` was asked.
pub struct RebalanceArguments {
    pub team: Option<String>,
    pub max_moves: Option<usize>,
    pub limit: usize,
    pub json: bool,
    pub apply: bool,
    pub no_approval: bool,
}

pub async fn rebalance(store: &Store, arguments: RebalanceArguments, clock: Clock) -> Result<()> {
    if arguments.no_approval && !arguments.apply {
        bail!("--no-approval goes with --apply");
    }
    let request = RebalanceRequest {
        team: arguments
            .team
            .as_deref()
            .map(|team| TeamId::parse_field("team", team))
            .transpose()?,
        max_moves: arguments.max_moves,
        movable: None,
    };
    let principal = crate::lifecycle_commands::principal(store, None).await?;
    if !arguments.apply {
        let plan = store.plan_rebalance(&principal, &request, clock).await?;
        if arguments.json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print_plan(&plan, arguments.limit);
            println!("\na dry run: nothing was written (--apply to open the transfers)");
        }
        return Ok(());
    }
    let approval = if arguments.no_approval {
        RebalanceApproval::Direct
    } else {
        RebalanceApproval::Transfers
    };
    let applied = store
        .apply_rebalance(&principal, &request, approval, clock)
        .await?;
    if arguments.json {
        println!("{}", serde_json::to_string_pretty(&applied)?);
        return Ok(());
    }
    print_plan(&applied.plan, arguments.limit);
    println!();
    match approval {
        RebalanceApproval::Direct => println!(
            "applied: {} customer(s) moved, each with its event",
            applied.moved
        ),
        RebalanceApproval::Transfers => println!(
            "applied: {} transfer(s) of kind rebalance opened ({}), waiting for approval",
            applied.transfer_ids.len(),
            applied
                .transfer_ids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
    Ok(())
}

fn print_plan(plan: &RebalancePlan, limit: usize) {
    use Align::{Left, Right};
    println!(
        "rebalance plan as of {} ({}; {} customers, {} reps{})",
        plan.as_of,
        plan.method,
        plan.customers_considered,
        plan.reps_considered,
        plan.team_id
            .as_ref()
            .map(|team| format!(", team {team}"))
            .unwrap_or_default()
    );
    if plan.customers_with_unavailable_owner > 0 {
        println!(
            "{} customer(s) of inactive or absent reps left alone",
            plan.customers_with_unavailable_owner
        );
    }
    let reasons: Vec<String> = plan
        .moves_by_reason
        .iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    println!(
        "moves: {}{}{}",
        plan.moves_total,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        match plan.max_moves {
            Some(limit) if plan.max_moves_met => format!(
                "; within --max-moves {limit} at a price of {} per move",
                plan.move_price
            ),
            Some(limit) => format!("; the holding caps need more than --max-moves {limit}"),
            None => String::new(),
        }
    );
    let terms = |name: &str, before: f64, after: f64| {
        vec![
            name.to_string(),
            format!("{before:.1}"),
            format!("{after:.1}"),
        ]
    };
    let mut objective = Table::new(&["objective", "now", "plan"], &[Left, Right, Right]);
    let (before, after) = (&plan.objective_before, &plan.objective_after);
    objective.row(terms("moves", before.moves, after.moves));
    objective.row(terms("load above the mean", before.load, after.load));
    objective.row(terms("affinity", before.affinity, after.affinity));
    objective.row(terms("total", before.total, after.total));
    println!();
    objective.print();
    if let (Some(bound), Some(gap)) = (plan.bound, plan.gap) {
        println!(
            "lower bound (flow relaxation): {bound:.1}; the plan is within {:.3}% of it",
            gap * 100.0
        );
    }
    if !plan.moves.is_empty() {
        println!();
        let mut moves = Table::new(
            &["customer", "name", "tier", "workload", "from", "to", "why"],
            &[Left, Left, Left, Right, Left, Left, Left],
        );
        for planned in plan.moves.iter().take(limit) {
            moves.row(vec![
                planned.customer_id.clone(),
                planned.name.clone(),
                planned.tier.clone().unwrap_or_else(|| "-".to_string()),
                format!("{}", planned.workload),
                planned.from_rep_id.clone(),
                planned.to_rep_id.clone(),
                planned.reason.as_str().to_string(),
            ]);
        }
        moves.print();
        if plan.moves.len() > limit {
            println!(
                "… and {} more (--limit, or --json for all)",
                plan.moves.len() - limit
            );
        }
    }
    println!();
    print_fairness_changes(&plan.overall, &plan.teams);
}
