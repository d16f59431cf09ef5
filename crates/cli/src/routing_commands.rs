//! Commands of routing: `rules`, `route`, `simulate`, `explain` and `report workload`.

use std::io::{self, BufWriter, Write};

use anyhow::{bail, Context, Result};

use allot_core::fairness::WorkloadReport;
use allot_core::simulate::SimulationScope;
use allot_core::{Clock, CustomerId};
use allot_store::events::Event;
use allot_store::lifecycle::View;
use allot_store::routing::StoredDecision;
use allot_store::Store;

use crate::table::{Align, Table};
use crate::{progress_bar, stored_or_problems, RulesAction};

pub async fn rules(store: &Store, action: RulesAction, clock: Clock) -> Result<()> {
    match action {
        RulesAction::Set { file } => {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let version = stored_or_problems(&file, store.set_rules(&source, "cli", clock).await)?;
            println!("stored rules version {version} from {}", file.display());
        }
        RulesAction::Show { canonical } => match store.current_rules().await? {
            Some(rules) => {
                println!(
                    "# version {} set by {} at {}",
                    rules.version, rules.actor, rules.created_at
                );
                if canonical {
                    let parsed = allot_core::rules::RuleSet::parse_stored(&rules.source).map_err(
                        |problems| {
                            anyhow::anyhow!(
                                "stored rules version {} no longer parse: {problems:?}",
                                rules.version
                            )
                        },
                    )?;
                    print!("{}", parsed.to_toml());
                } else {
                    print!("{}", rules.source);
                }
            }
            None => bail!("no rules are set yet; use `allot rules set FILE.toml`"),
        },
    }
    Ok(())
}

/// Routes the pool and prints what happened (`--json`: every decision, one per line).
pub async fn route(store: &Store, clock: Clock, json: bool) -> Result<()> {
    let pool_size = store.pool_size().await?;
    let bar = progress_bar(pool_size as u64, "routing");
    let tick = |done: u64| bar.set_position(done);
    let run = store.route_pool(clock, "cli", json, &tick).await?;
    bar.finish_and_clear();
    let summary = &run.summary;
    if json {
        let stdout = io::stdout();
        let mut out = BufWriter::new(stdout.lock());
        for decision in &run.decisions {
            serde_json::to_writer(&mut out, decision)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        eprintln!("{}", serde_json::to_string(summary)?);
        return Ok(());
    }
    println!(
        "routed {} of {} customers in the pool with rules version {}; {} left in the pool",
        summary.routed, summary.considered, summary.rules_version, summary.left_in_pool
    );
    for (rule, count) in &summary.routed_by_rule {
        println!("  {count:>7}  by rule '{rule}'");
    }
    if !summary.pool_reasons.is_empty() {
        println!("left in the pool:");
        for (reason, count) in &summary.pool_reasons {
            println!("  {count:>7}  {reason}");
        }
    }
    Ok(())
}

/// Why a customer went where it went: the latest decision in words, and a later change of
/// owner made outside routing.
pub async fn explain(store: &Store, id: &str, json: bool) -> Result<()> {
    let id = CustomerId::parse(id).context("customer id")?;
    let customer = store.get_customer(&id).await?;
    let decisions = store.decisions_for(&id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&decisions)?);
        return Ok(());
    }
    println!(
        "{} {} — owner: {}",
        customer.id,
        customer.name,
        customer
            .owner_id
            .as_ref()
            .map_or("(pool)".to_string(), ToString::to_string)
    );
    let latest_event = store.latest_event(&customer.id).await?;
    let Some(latest) = decisions.first() else {
        println!("no routing decision is stored for this customer");
        if let Some(event) = &latest_event {
            print_ownership_change(event);
        }
        return Ok(());
    };
    print_decision(latest);
    // The decision explains the owner it chose; a later import or manual change of owner is
    // what explains the owner now.
    let current_owner = customer.owner_id.as_ref().map(ToString::to_string);
    if let Some(event) = latest_event
        .as_ref()
        .filter(|_| current_owner != latest.decision.owner_id)
    {
        println!("the owner changed after this decision:");
        print_ownership_change(event);
    }
    if decisions.len() > 1 {
        println!(
            "({} earlier decision(s): allot explain {} --json)",
            decisions.len() - 1,
            customer.id
        );
    }
    Ok(())
}

fn print_ownership_change(event: &Event) {
    println!(
        "  {} {} → {} by {}: {}",
        event.at,
        event.from_rep_id.as_deref().unwrap_or("(pool)"),
        event.to_rep_id.as_deref().unwrap_or("(pool)"),
        event.actor,
        event.reason
    );
}

fn print_decision(stored: &StoredDecision) {
    let decision = &stored.decision;
    println!(
        "decided {} by {} (rules version {})",
        stored.at,
        stored.actor,
        stored
            .rules_version
            .map_or("-".to_string(), |v| v.to_string())
    );
    println!("reason: {}", decision.reason);
    println!("rules tried:");
    for rule in &decision.trace.rules {
        println!(
            "  [{}] {}: {}",
            if rule.matched { "match" } else { "  no " },
            rule.rule,
            rule.detail
        );
    }
    if !decision.trace.candidates.is_empty() {
        println!("candidates:");
        let mut table = Table::new(
            &["", "", "", ""],
            &[Align::Left, Align::Left, Align::Left, Align::Left],
        );
        for candidate in &decision.trace.candidates {
            table.row(vec![
                format!(" {}", candidate.status),
                candidate.rep_id.clone(),
                candidate.reason.clone(),
                format!("({})", candidate.rule),
            ]);
        }
        for line in table.lines().iter().skip(1) {
            println!("{line}");
        }
    }
}

pub async fn workload(store: &Store, clock: Clock, json: bool) -> Result<()> {
    let report = store.workload_report(clock, None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_workload(&report);
    }
    Ok(())
}

pub fn print_workload(report: &WorkloadReport) {
    use Align::{Left, Right};
    println!("workload as of {}", report.as_of);
    let mut reps = Table::new(
        &[
            "rep",
            "name",
            "team",
            "owned",
            "workload",
            "cap",
            "util",
            "available",
        ],
        &[Left, Left, Left, Right, Right, Right, Right, Left],
    );
    for rep in &report.reps {
        reps.row(vec![
            rep.rep_id.clone(),
            rep.name.clone(),
            rep.team_id.clone().unwrap_or_default(),
            rep.owned_count.to_string(),
            format!("{:.1}", rep.total_workload),
            rep.capacity.map_or("-".to_string(), |cap| cap.to_string()),
            rep.utilisation
                .map_or("-".to_string(), |util| format!("{:.0}%", util * 100.0)),
            if rep.available { "yes" } else { "no" }.to_string(),
        ]);
    }
    reps.print();
    println!();
    let measure = |value: Option<f64>, decimals: usize| {
        value.map_or("-".to_string(), |value| format!("{value:.decimals$}"))
    };
    let mut teams = Table::new(
        &["team", "reps", "workload", "gini", "jain", "max/mean"],
        &[Left, Right, Right, Right, Right, Right],
    );
    let rows = report
        .teams
        .iter()
        .map(|team| (team.team_id.as_str(), &team.fairness))
        .chain(std::iter::once(("(overall)", &report.overall)));
    for (label, fairness) in rows {
        teams.row(vec![
            label.to_string(),
            fairness.available_reps.to_string(),
            format!("{:.1}", fairness.total_workload),
            measure(fairness.gini, 3),
            measure(fairness.jain, 3),
            measure(fairness.max_over_mean, 2),
        ]);
    }
    teams.print();
}

/// `allot simulate`: what a rules file would do, nothing written.
pub async fn simulate(
    store: &Store,
    file: &std::path::Path,
    scope: &str,
    limit: usize,
    json: bool,
    clock: Clock,
) -> Result<()> {
    use Align::{Left, Right};
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let Some(scope) = SimulationScope::parse(scope) else {
        bail!("--scope must be pool, owned or all, not {scope:?}");
    };
    let report = crate::stored_or_problems(
        file,
        store
            .simulate_rules(&source, scope, &View::everything(clock), limit, clock)
            .await,
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "simulated {} as of {} (scope {}; nothing was written)",
        file.display(),
        report.as_of,
        report.scope.as_str()
    );
    if scope.includes_owned() {
        println!(
            "owned customers: {} judged, {} keep their owner, {} would change owner",
            report.owned_considered, report.owned_kept, report.owner_changes_total
        );
    }
    if scope.includes_pool() {
        let staying: usize = report.pool_staying.values().sum();
        println!(
            "pool customers: {} considered, {} would be placed, {} would stay",
            report.pool_considered, report.pool_placed_total, staying
        );
    }
    if !report.owner_changes.is_empty() {
        println!();
        let mut moves = Table::new(
            &["customer", "name", "from", "to", "old rule", "new rule"],
            &[Left, Left, Left, Left, Left, Left],
        );
        for change in &report.owner_changes {
            moves.row(vec![
                change.customer_id.clone(),
                change.name.clone(),
                change.from_rep_id.clone(),
                change
                    .to_rep_id
                    .clone()
                    .unwrap_or_else(|| "(pool)".to_string()),
                change.old_rule.clone().unwrap_or_else(|| "-".to_string()),
                change.new_rule.clone().unwrap_or_else(|| "-".to_string()),
            ]);
        }
        moves.print();
        if report.owner_changes_total > report.owner_changes.len() {
            println!(
                "… and {} more (--limit, or --json for all)",
                report.owner_changes_total - report.owner_changes.len()
            );
        }
    }
    if !report.pool_placed.is_empty() {
        println!();
        let mut placed = Table::new(
            &["pool customer", "name", "to", "rule"],
            &[Left, Left, Left, Left],
        );
        for placement in &report.pool_placed {
            placed.row(vec![
                placement.customer_id.clone(),
                placement.name.clone(),
                placement.to_rep_id.clone(),
                placement.new_rule.clone(),
            ]);
        }
        placed.print();
        if report.pool_placed_total > report.pool_placed.len() {
            println!(
                "… and {} more",
                report.pool_placed_total - report.pool_placed.len()
            );
        }
    }
    if !report.pool_staying.is_empty() {
        println!();
        let mut staying = Table::new(&["would stay in the pool", "customers"], &[Left, Right]);
        for (reason, count) in &report.pool_staying {
            staying.row(vec![reason.clone(), count.to_string()]);
        }
        staying.print();
    }
    println!();
    print_fairness_changes(&report.overall, &report.teams);
    if !report.reps_over_cap.is_empty() {
        println!();
        let mut caps = Table::new(
            &["over cap", "name", "cap", "owned before", "after"],
            &[Left, Left, Right, Right, Right],
        );
        for pass in &report.reps_over_cap {
            caps.row(vec![
                pass.rep_id.clone(),
                pass.name.clone(),
                pass.capacity.to_string(),
                pass.owned_before.to_string(),
                pass.owned_after.to_string(),
            ]);
        }
        caps.print();
    }
    Ok(())
}

/// Owned counts, workload, Gini and Jain before and after, per team and overall.
pub(crate) fn print_fairness_changes(
    overall: &allot_core::simulate::FairnessChange,
    teams: &[allot_core::simulate::TeamFairnessChange],
) {
    use Align::{Left, Right};
    let measure = |value: Option<f64>| value.map_or("-".to_string(), |value| format!("{value:.3}"));
    let mut fairness = Table::new(
        &[
            "team",
            "owned before",
            "after",
            "workload before",
            "after",
            "gini before",
            "after",
            "jain before",
            "after",
        ],
        &[Left, Right, Right, Right, Right, Right, Right, Right, Right],
    );
    let rows = teams
        .iter()
        .map(|team| (team.team_id.as_str(), &team.change))
        .chain(std::iter::once(("(overall)", overall)));
    for (label, change) in rows {
        fairness.row(vec![
            label.to_string(),
            change.owned_before.to_string(),
            change.owned_after.to_string(),
            format!("{:.1}", change.before.total_workload),
            format!("{:.1}", change.after.total_workload),
            measure(change.before.gini),
            measure(change.after.gini),
            measure(change.before.jain),
            measure(change.after.jain),
        ]);
    }
    fairness.print();
}
