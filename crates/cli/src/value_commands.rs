//! Commands of customer value: `policy`, `score`, `tick`, `clv fit`, `value`, `tier`, `alerts`, `report value`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use allot_core::clock::Clock;
use allot_core::value::daily_purchases;
use allot_core::CustomerId;
use allot_store::value::{AlertFilter, ScoreSummary, TierEventFilter, ValueReport};

use crate::table::{Align, Table};
use allot_store::Store;
use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};

use allot_files::csv as csv_files;

#[derive(Subcommand)]
pub enum PolicyAction {
    /// Validate a value policy file ([scoring], [abc], [[tier]], [health]) and store it as a new version.
    Set { file: PathBuf },
    /// Print the current value policy (or the built-in default).
    Show {
        /// `{version, source, actor, created_at}`; version and source null for the default.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum TierAction {
    /// Give a customer a manual tier until a date (inclusive), with a reason.
    Override {
        customer_id: String,
        #[arg(long)]
        tier: String,
        #[arg(long)]
        reason: String,
        /// Last day of the override, YYYY-MM-DD.
        #[arg(long)]
        until: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a manual tier; the computed tier of the last grading applies again at once.
    Clear {
        customer_id: String,
        #[arg(long)]
        json: bool,
    },
    /// The tier log: every upgrade, downgrade and override, oldest first.
    Events {
        /// Only this customer's events.
        #[arg(long)]
        customer: Option<String>,
        /// Only events after this id (to page through a long log).
        #[arg(long)]
        after: Option<i64>,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        /// A JSON array.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum ClvAction {
    /// Fit BG/NBD and Gamma-Gamma on a transactions file and print parameters and log-likelihoods.
    Fit {
        /// transactions.csv: customer_id,at,amount[,product_line][,id]
        #[arg(long)]
        transactions: PathBuf,
        /// Last day of the calibration period, YYYY-MM-DD.
        #[arg(long)]
        calibration_end: String,
        #[arg(long, value_enum, default_value_t = PeriodArgument::Week)]
        period: PeriodArgument,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PeriodArgument {
    Week,
    Day,
}

pub async fn policy(store: &Store, action: PolicyAction, clock: Clock) -> Result<()> {
    match action {
        PolicyAction::Set { file } => {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let version = crate::stored_or_problems(
                &file,
                store.set_value_policy(&source, "cli", clock).await,
            )?;
            println!(
                "stored value policy version {version} from {}",
                file.display()
            );
            Ok(())
        }
        PolicyAction::Show { json: true } => {
            let stored = store.current_value_policy().await?;
            let document = serde_json::json!({
                "version": stored.as_ref().map(|stored| stored.version),
                "source": stored.as_ref().map(|stored| stored.source.clone()),
                "actor": stored.as_ref().map(|stored| stored.actor.clone()),
                "created_at": stored.as_ref().map(|stored| stored.created_at.clone()),
                "example": stored.is_none().then_some(allot_core::value::EXAMPLE_POLICY),
            });
            println!("{}", serde_json::to_string_pretty(&document)?);
            Ok(())
        }
        PolicyAction::Show { json: false } => {
            match store.current_value_policy().await? {
                Some(stored) => {
                    println!(
                        "# value policy version {} by {} at {}",
                        stored.version, stored.actor, stored.created_at
                    );
                    print!("{}", stored.source);
                }
                None => {
                    println!("# No value policy is set. Grading uses the built-in default: the weights and");
                    println!("# thresholds in the comments below, with tiers A (top 20%), B (top 50%) and C.");
                    println!("# An example policy to start from (`allot policy set FILE`):");
                    print!("{}", allot_core::value::EXAMPLE_POLICY);
                }
            }
            Ok(())
        }
    }
}

pub fn print_score_summary(summary: &ScoreSummary) {
    println!(
        "graded {} customers as of {} ({} with purchases){}",
        summary.customers,
        summary.as_of,
        summary.with_purchases,
        summary
            .policy_version
            .map(|version| format!(" with value policy version {version}"))
            .unwrap_or_else(|| " with the default value policy".to_string())
    );
    match (&summary.clv.bg_nbd, &summary.clv.gamma_gamma) {
        (Some(bg), gamma_gamma) => {
            println!(
                "CLV: BG/NBD r={:.4} alpha={:.4} a={:.4} b={:.4} (log-likelihood {:.2}, {} customers)",
                bg.r, bg.alpha, bg.a, bg.b, bg.log_likelihood, summary.clv.customers
            );
            if let Some(gg) = gamma_gamma {
                println!(
                    "     Gamma-Gamma p={:.4} q={:.4} gamma={:.4} (log-likelihood {:.2}, {} repeat customers)",
                    gg.p, gg.q, gg.gamma, gg.log_likelihood, summary.clv.repeat_customers
                );
            }
        }
        (None, _) => println!(
            "CLV: not computed ({})",
            summary.clv.note.as_deref().unwrap_or("no model fitted")
        ),
    }
    if let (Some(_), Some(note)) = (&summary.clv.bg_nbd, &summary.clv.note) {
        println!("     note: {note}");
    }
    println!(
        "tiers: {} up, {} down, {} set for the first time; {} manual override(s) in force",
        summary.upgrades, summary.downgrades, summary.tiers_set, summary.overrides_active
    );
    if summary.overrides_ignored > 0 {
        println!(
            "warning: {} override(s) name a tier the policy no longer has and do not apply; set them again or remove them (`allot tier clear`)",
            summary.overrides_ignored
        );
    }
    for (tier, count) in &summary.by_tier {
        println!("  {count:>8}  {tier}");
    }
    for (change, count) in &summary.moves {
        println!("  {count:>8}  moved {change}");
    }
    println!(
        "health: {} below the alert threshold, {} not measurable yet (no purchase, interaction or ticket); alerts: {} raised, {} closed",
        summary.health_below_threshold,
        summary.health_unknown,
        summary.alerts_raised,
        summary.alerts_closed
    );
}

pub async fn score(store: &Store, clock: Clock, json: bool, force: bool) -> Result<()> {
    let summary = store.score_customers(clock, "cli", force).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_score_summary(&summary);
    }
    Ok(())
}

pub async fn tick(store: &Store, clock: Clock, json: bool, force: bool) -> Result<()> {
    let summary = store.tick(clock, "tick", force).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!("tick at {}", summary.at);
    for (job, period) in &summary.already_done {
        println!("  {job} for {period}: already done");
    }
    for (job, period) in &summary.ran {
        println!("  {job} for {period}: ran");
    }
    if summary.overrides_expired > 0 {
        println!(
            "  {} expired override(s) ended; computed tiers apply again",
            summary.overrides_expired
        );
    }
    if !summary.forgotten_runs.is_empty() {
        println!(
            "  forced: forgot the later monthly re-grades of {}",
            summary.forgotten_runs.join(", ")
        );
    }
    if let Some(health) = &summary.health {
        println!(
            "  health of {} customers refreshed: {} below the alert threshold, {} not measurable; alerts: {} raised, {} closed",
            health.customers,
            health.health_below_threshold,
            health.health_unknown,
            health.alerts_raised,
            health.alerts_closed
        );
    }
    if let Some(reclaim) = &summary.reclaim {
        println!(
            "  reclaim: {} owner(s) warned, {} customer(s) back in the pool (`allot pool list`)",
            reclaim.warned.len(),
            reclaim.reclaimed.len()
        );
    }
    if let Some(overload) = summary
        .overload
        .as_ref()
        .filter(|overload| !overload.overloaded_reps.is_empty())
    {
        println!(
            "  overload: {} rep(s) over the threshold, {} of them with earlier relief still open; {} move(s) ({}), {} transfer request(s)",
            overload.overloaded_reps.len(),
            overload.waiting_reps.len(),
            overload.moves,
            overload.action,
            overload.transfer_ids.len()
        );
    }
    if let Some(regrade) = &summary.regrade {
        print_score_summary(regrade);
    }
    Ok(())
}

pub async fn tier(store: &Store, action: TierAction, clock: Clock) -> Result<()> {
    match action {
        TierAction::Override {
            customer_id,
            tier,
            reason,
            until,
            json,
        } => {
            let customer_id = CustomerId::parse(&customer_id)?;
            let until = allot_core::text::parse_date("--until", &until)?;
            let stored = store
                .set_tier_override(&customer_id, &tier, &reason, until, "cli", clock)
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&stored)?);
            } else {
                println!(
                    "customer {} is tier {} until {} ({})",
                    stored.customer_id, stored.tier, stored.expires_on, stored.reason
                );
            }
        }
        TierAction::Clear { customer_id, json } => {
            let customer_id = CustomerId::parse(&customer_id)?;
            store
                .clear_tier_override(&customer_id, "cli", clock)
                .await?;
            let tier = store
                .get_customer(&customer_id)
                .await?
                .tier
                .map(String::from);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"customer_id": customer_id, "override_removed": true, "tier": tier})
                );
            } else {
                println!(
                    "override of {customer_id} removed; its tier is now {}",
                    tier.as_deref().unwrap_or("(none)")
                );
            }
        }
        TierAction::Events {
            customer,
            after,
            limit,
            json,
        } => {
            let customer_id = customer
                .as_deref()
                .map(CustomerId::parse)
                .transpose()
                .context("--customer")?;
            let events = store
                .list_tier_events(&TierEventFilter {
                    customer_id,
                    after_id: after,
                    limit: limit.clamp(1, 10_000),
                    view: None,
                })
                .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
                return Ok(());
            }
            if events.is_empty() {
                println!("no tier events");
            }
            for event in &events {
                println!(
                    "#{} {} {} {} → {} ({}, score {:.1}, by {}): {}",
                    event.id,
                    event.at,
                    event.customer_id,
                    event.from_tier.as_deref().unwrap_or("-"),
                    event.to_tier,
                    event.direction,
                    event.score,
                    event.actor,
                    event.reason
                );
            }
        }
    }
    Ok(())
}

pub async fn customer_value(store: &Store, customer_id: &str, json: bool) -> Result<()> {
    let customer_id = CustomerId::parse(customer_id)?;
    let value = store.customer_value(&customer_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let customer = store.get_customer(&customer_id).await?;
    println!(
        "{} {} — owner {}, last interaction {}",
        customer.id,
        customer.name,
        customer
            .owner_id
            .as_ref()
            .map_or("(pool)".to_string(), ToString::to_string),
        value.last_interaction_at.as_deref().unwrap_or("never")
    );
    match &value.value {
        None => println!("not graded yet (run `allot score`)"),
        Some(details) => {
            println!(
                "graded as of {}: tier {}{} (computed {}), score {:.1}, ABC {:?}",
                details.as_of,
                details.tier,
                if details.override_active {
                    " by manual override"
                } else {
                    ""
                },
                details.computed_tier,
                details.score,
                details.abc
            );
            match &details.rfm {
                None => println!("RFM: no purchases"),
                Some(rfm) => println!(
                    "RFM: {} ({}) — recency {} days, {} purchase days, monetary {} (scores R{} F{} M{})",
                    rfm.segment.as_str(),
                    rfm.segment.label(),
                    rfm.recency_days,
                    rfm.frequency,
                    rfm.monetary,
                    rfm.recency_score,
                    rfm.frequency_score,
                    rfm.monetary_score
                ),
            }
            match (&details.clv, &details.rfm) {
                (None, None) => println!("CLV: none (no purchases)"),
                (None, Some(_)) => println!("CLV: unknown (no model was fitted in that grading)"),
                (Some(clv), _) => println!(
                    "CLV: {:.2} over the policy's horizon; P(alive) {:.3}, {:.2} purchases expected, {:.2} per purchase",
                    clv.clv, clv.p_alive, clv.expected_purchases, clv.expected_spend
                ),
            }
            let parts: Vec<String> = details
                .health_parts
                .iter()
                .map(|(name, value)| format!("{name} {value:.2}"))
                .collect();
            match details.health {
                Some(health) => println!(
                    "health: {health:.0}/100{} ({})",
                    if details.at_risk {
                        ", below the alert threshold"
                    } else {
                        ""
                    },
                    parts.join(", ")
                ),
                None => println!(
                    "health: not measurable yet (no purchase, interaction or ticket recorded)"
                ),
            }
        }
    }
    if let Some(tier_override) = &value.tier_override {
        println!(
            "override: tier {} until {} ({}, by {})",
            tier_override.tier, tier_override.expires_on, tier_override.reason, tier_override.actor
        );
    }
    if !value.tier_history.is_empty() {
        println!("tier history (newest first):");
    }
    for event in &value.tier_history {
        println!(
            "  {}  {} → {} ({}, score {:.1}): {}",
            event.at,
            event.from_tier.as_deref().unwrap_or("-"),
            event.to_tier,
            event.direction,
            event.score,
            event.reason
        );
    }
    Ok(())
}

pub async fn alerts(
    store: &Store,
    owner: Option<String>,
    customer: Option<String>,
    include_closed: bool,
    json: bool,
) -> Result<()> {
    let owner = owner
        .as_deref()
        .map(allot_core::RepId::parse)
        .transpose()
        .context("--owner")?;
    let customer = customer
        .as_deref()
        .map(CustomerId::parse)
        .transpose()
        .context("--customer")?;
    let alerts = store
        .list_alerts(&AlertFilter {
            owner_id: owner,
            customer_id: customer,
            include_closed,
            limit: 1000,
            view: None,
        })
        .await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&alerts)?);
        return Ok(());
    }
    if alerts.is_empty() {
        println!("no alerts");
    }
    for alert in &alerts {
        println!(
            "#{} {} {} customer {} owner {}: {}",
            alert.id,
            alert.at,
            alert.status,
            alert.customer_id,
            alert.owner_id.as_deref().unwrap_or("(pool)"),
            alert.message
        );
    }
    Ok(())
}

pub async fn value_report(store: &Store, json: bool) -> Result<()> {
    let report = store.value_report(None).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_value_report(&report);
    }
    Ok(())
}

pub fn print_value_report(report: &ValueReport) {
    use Align::{Left, Right};
    println!(
        "value as of {} ({} customers; health below the alert threshold: {}, not measurable: {})",
        report.as_of.as_deref().unwrap_or("never graded"),
        report.customers,
        report.health_below_threshold,
        report.health_unknown
    );
    let mut tiers = Table::new(
        &[
            "tier",
            "customers",
            "monetary",
            "share",
            "clv",
            "share",
            "score",
        ],
        &[Left, Right, Right, Right, Right, Right, Right],
    );
    for row in &report.tiers {
        tiers.row(vec![
            row.tier.clone(),
            row.customers.to_string(),
            format!("{:.2}", row.monetary),
            format!("{:.1}%", row.monetary_share * 100.0),
            format!("{:.2}", row.clv),
            format!("{:.1}%", row.clv_share * 100.0),
            format!("{:.1}", row.mean_score),
        ]);
    }
    tiers.print();
    println!();
    let mut abc = Table::new(
        &["ABC", "customers", "share", "monetary", "share"],
        &[Left, Right, Right, Right, Right],
    );
    for row in &report.abc {
        abc.row(vec![
            row.class.clone(),
            row.customers.to_string(),
            format!("{:.1}%", row.customer_share * 100.0),
            format!("{:.2}", row.monetary),
            format!("{:.1}%", row.monetary_share * 100.0),
        ]);
    }
    abc.print();
    println!();
    // Segment names with their Chinese labels: the RFM segment `at_risk` (流失风险客户) is a
    // purchase pattern, not the health alert above.
    let mut segments = Table::new(&["RFM segment", "customers"], &[Left, Right]);
    for (segment, count) in &report.segments {
        let label = allot_core::value::RfmSegment::parse(segment)
            .map(|segment| format!("{segment} ({})", segment.label()))
            .unwrap_or_else(|| segment.clone());
        segments.row(vec![label, count.to_string()]);
    }
    segments.print();
}

/// `allot clv fit`: the models on a file alone, without a database.
pub fn clv_fit(action: ClvAction) -> Result<()> {
    let ClvAction::Fit {
        transactions,
        calibration_end,
        period,
        json,
    } = action;
    let calibration_end = allot_core::text::parse_date("--calibration-end", &calibration_end)?;
    let reader = BufReader::new(
        File::open(&transactions).with_context(|| format!("opening {}", transactions.display()))?,
    );
    let parsed = csv_files::read_transactions(reader)?;
    if !parsed.problems.is_empty() {
        for problem in &parsed.problems {
            eprintln!(
                "{}: line {}, column {}: {}",
                transactions.display(),
                problem.line,
                problem.field,
                problem.message
            );
        }
        bail!(
            "{} bad row(s) in {}; fix them first",
            parsed.problems.len(),
            transactions.display()
        );
    }
    let mut by_customer: BTreeMap<String, Vec<_>> = BTreeMap::new();
    // Only what happened by the end of calibration: a later refund must not reach back and
    // change the calibration data (purchase days are UTC dates, as in grading).
    let calibration_rows = parsed
        .rows
        .into_iter()
        .filter(|(_, transaction)| transaction.at.date_naive() <= calibration_end);
    for (_, transaction) in calibration_rows {
        by_customer
            .entry(transaction.customer_id.to_string())
            .or_default()
            .push((transaction.at, transaction.amount));
    }
    let purchase_days: Vec<_> = by_customer
        .values_mut()
        .map(|transactions| {
            transactions.sort_by_key(|(at, _)| *at);
            daily_purchases(transactions)
        })
        .collect();
    let period = match period {
        PeriodArgument::Week => allot_core::clv::Period::Week,
        PeriodArgument::Day => allot_core::clv::Period::Day,
    };
    let report = allot_store::clv_estimates::fit_report(&purchase_days, calibration_end, period)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} customers, {} with repeat purchases; calibration ends {calibration_end}, period {:?}",
        report.customers, report.repeat_customers, period
    );
    if let Some(bg) = &report.bg_nbd {
        println!(
            "BG/NBD       r = {:.4}  alpha = {:.4}  a = {:.4}  b = {:.4}  log-likelihood = {:.4}  ({} iterations{})",
            bg.r,
            bg.alpha,
            bg.a,
            bg.b,
            bg.log_likelihood,
            bg.iterations,
            if bg.converged { "" } else { ", NOT converged" }
        );
    }
    if let Some(gg) = &report.gamma_gamma {
        println!(
            "Gamma-Gamma  p = {:.4}  q = {:.4}  gamma = {:.4}  log-likelihood = {:.4}  ({} iterations{})",
            gg.p,
            gg.q,
            gg.gamma,
            gg.log_likelihood,
            gg.iterations,
            if gg.converged { "" } else { ", NOT converged" }
        );
    }
    if let Some(note) = &report.note {
        println!("note: {note}");
    }
    Ok(())
}
