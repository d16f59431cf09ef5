//! Is our customer management fair? (S2, F2): the baseline services every customer is owed
//! whatever its tier, and their coverage; the service report (shares of customers, value and
//! effort per tier, team and rep, SLA attainment, days since the last real follow-up); and the
//! value × service quadrant with its under- and over-served lists. Pure functions over facts
//! the store gathers, as of a time.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::activity::{InteractionKind, TicketKind};

/// One baseline check (`[[service.baseline]]`): a measurable promise to every customer.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineCheck {
    pub name: String,
    pub rule: BaselineRule,
}

/// What a baseline check measures.
#[derive(Debug, Clone, PartialEq)]
pub enum BaselineRule {
    /// Every ticket opened in the window answered within `hours` (wall clock).
    FirstResponseWithin { hours: u32 },
    /// A real follow-up at least every `days` days (customers owned longer than that).
    RealFollowUpEvery { days: u32 },
    /// Every complaint answered (first response or resolution) by its due time.
    ComplaintsAnswered,
    /// An interaction of `kind` at least every `days` days.
    InteractionKindEvery { kind: InteractionKind, days: u32 },
}

impl BaselineRule {
    pub fn name(&self) -> &'static str {
        match self {
            BaselineRule::FirstResponseWithin { .. } => "first_response_within",
            BaselineRule::RealFollowUpEvery { .. } => "real_follow_up_every",
            BaselineRule::ComplaintsAnswered => "complaints_answered",
            BaselineRule::InteractionKindEvery { .. } => "interaction_kind_every",
        }
    }
}

/// One ticket as the reports see it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketFacts {
    pub opened_at: DateTime<Utc>,
    pub kind: TicketKind,
    /// First response, or the resolution for a ticket resolved unanswered.
    pub answered_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub first_response_due: Option<DateTime<Utc>>,
    pub resolution_due: Option<DateTime<Utc>>,
    pub rating: Option<u8>,
}

/// The newest interaction of each kind, a slot per kind: a map per customer was an allocation
/// for each of a million customers in every service report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LastOfKind([Option<DateTime<Utc>>; InteractionKind::ALL.len()]);

impl LastOfKind {
    pub fn get(&self, kind: InteractionKind) -> Option<DateTime<Utc>> {
        self.0[kind as usize]
    }

    pub fn set(&mut self, kind: InteractionKind, at: DateTime<Utc>) {
        self.0[kind as usize] = Some(at);
    }
}

/// What the reports know of one customer, as of the clock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFacts {
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
    pub tier: Option<String>,
    /// The value the quadrant and value shares use (the grading score, 0–100).
    pub value: f64,
    /// Since when the customer is owned by its owner (or created).
    pub owned_since: Option<DateTime<Utc>>,
    /// Interactions and their minutes within the report window.
    pub interactions: u32,
    pub minutes: f64,
    pub last_real_follow_up: Option<DateTime<Utc>>,
    /// The newest interaction of each kind.
    pub last_of_kind: LastOfKind,
    /// Tickets opened within the report window.
    pub tickets: Vec<TicketFacts>,
    /// A new customer (F3): its service is development effort.
    pub is_new: bool,
    /// Net purchases within the window, in minor units (分).
    pub revenue_minor: i64,
    /// The customer's first purchase ever.
    pub first_purchase: Option<DateTime<Utc>>,
}

/// Passing and applicable counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub applies: u64,
    pub passing: u64,
    /// passing / applies; 1 when it applies to no one.
    pub coverage: f64,
}

impl Coverage {
    fn add(&mut self, passes: bool) {
        self.applies += 1;
        if passes {
            self.passing += 1;
        }
        self.coverage = self.passing as f64 / self.applies as f64;
    }

    fn empty() -> Coverage {
        Coverage {
            applies: 0,
            passing: 0,
            coverage: 1.0,
        }
    }
}

/// One check's coverage overall, per tier and per team, with the customers that fail it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckCoverage {
    pub name: String,
    /// first_response_within, real_follow_up_every, complaints_answered, interaction_kind_every.
    pub check: String,
    pub overall: Coverage,
    pub by_tier: BTreeMap<String, Coverage>,
    pub by_team: BTreeMap<String, Coverage>,
    /// Customer ids, with their owners, that fail (at most `MOST_LISTED`).
    pub failing: Vec<FailingCustomer>,
    pub failing_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailingCustomer {
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub team_id: Option<String>,
}

/// The most failing customers a check lists.
pub const MOST_LISTED: usize = 1000;

/// Whether the check applies to the customer and, if so, whether it passes.
pub fn check_customer(
    rule: &BaselineRule,
    facts: &ServiceFacts,
    now: DateTime<Utc>,
) -> Option<bool> {
    let owned_for = |days: u32| {
        facts
            .owned_since
            .is_some_and(|since| since <= now - Duration::days(i64::from(days)))
    };
    match rule {
        BaselineRule::FirstResponseWithin { hours } => {
            let limit = Duration::hours(i64::from(*hours));
            let due: Vec<&TicketFacts> = facts
                .tickets
                .iter()
                .filter(|ticket| ticket.answered_at.is_some() || ticket.opened_at + limit < now)
                .collect();
            (!due.is_empty()).then(|| {
                due.iter().all(|ticket| {
                    ticket
                        .answered_at
                        .is_some_and(|answered| answered <= ticket.opened_at + limit)
                })
            })
        }
        BaselineRule::RealFollowUpEvery { days } => (facts.owner_id.is_some() && owned_for(*days))
            .then(|| {
                facts
                    .last_real_follow_up
                    .is_some_and(|last| last > now - Duration::days(i64::from(*days)))
            }),
        BaselineRule::ComplaintsAnswered => {
            let complaints: Vec<&TicketFacts> = facts
                .tickets
                .iter()
                .filter(|ticket| ticket.kind == TicketKind::Complaint)
                .collect();
            (!complaints.is_empty()).then(|| {
                complaints.iter().all(|complaint| {
                    // Without a promise, a day to answer.
                    let due = complaint
                        .first_response_due
                        .unwrap_or(complaint.opened_at + Duration::hours(24));
                    match complaint.answered_at {
                        Some(answered) => answered <= due,
                        None => now <= due,
                    }
                })
            })
        }
        BaselineRule::InteractionKindEvery { kind, days } => {
            (facts.owner_id.is_some() && owned_for(*days)).then(|| {
                facts
                    .last_of_kind
                    .get(*kind)
                    .is_some_and(|last| last > now - Duration::days(i64::from(*days)))
            })
        }
    }
}

/// Coverage of every check over the customers.
pub fn baseline_coverage(
    checks: &[BaselineCheck],
    customers: &[ServiceFacts],
    now: DateTime<Utc>,
) -> Vec<CheckCoverage> {
    checks
        .iter()
        .map(|check| {
            let mut coverage = CheckCoverage {
                name: check.name.clone(),
                check: check.rule.name().to_string(),
                overall: Coverage::empty(),
                by_tier: BTreeMap::new(),
                by_team: BTreeMap::new(),
                failing: Vec::new(),
                failing_total: 0,
            };
            for facts in customers {
                let Some(passes) = check_customer(&check.rule, facts, now) else {
                    continue;
                };
                coverage.overall.add(passes);
                coverage
                    .by_tier
                    .entry(facts.tier.clone().unwrap_or_else(|| "-".to_string()))
                    .or_insert_with(Coverage::empty)
                    .add(passes);
                coverage
                    .by_team
                    .entry(facts.team_id.clone().unwrap_or_else(|| "-".to_string()))
                    .or_insert_with(Coverage::empty)
                    .add(passes);
                if !passes {
                    coverage.failing_total += 1;
                    if coverage.failing.len() < MOST_LISTED {
                        coverage.failing.push(FailingCustomer {
                            customer_id: facts.customer_id.clone(),
                            owner_id: facts.owner_id.clone(),
                            team_id: facts.team_id.clone(),
                        });
                    }
                }
            }
            coverage
        })
        .collect()
}

/// One row of the service report: a tier, a team or a rep.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceRow {
    pub key: String,
    pub customers: u64,
    pub customer_share: f64,
    pub value: f64,
    pub value_share: f64,
    pub interactions: u64,
    pub minutes: f64,
    /// Share of the window's interaction minutes (count when no minutes are recorded).
    pub effort_share: f64,
    /// Tickets whose first response was due by now, and the share answered in time.
    pub first_response_due: u64,
    pub first_response_attainment: Option<f64>,
    pub resolution_due: u64,
    pub resolution_attainment: Option<f64>,
    /// Mean coverage over the baseline checks that apply to its customers.
    pub baseline_coverage: Option<f64>,
    /// Median days since the last real follow-up (customers with one).
    pub median_days_since_follow_up: Option<f64>,
    /// The share of its effort that went to new customers (F3); null without effort.
    pub new_customer_effort_share: Option<f64>,
}

#[derive(Default)]
struct RowTotals {
    customers: u64,
    value: f64,
    interactions: u64,
    minutes: f64,
    first_due: u64,
    first_met: u64,
    resolution_due: u64,
    resolution_met: u64,
    baseline_applies: u64,
    baseline_passing: u64,
    days_since: Vec<f64>,
    new_minutes: f64,
    new_interactions: u64,
}

/// The service report: per tier, team and rep, and overall.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceReport {
    pub window_days: u32,
    pub overall: ServiceRow,
    pub by_tier: Vec<ServiceRow>,
    pub by_team: Vec<ServiceRow>,
    pub by_rep: Vec<ServiceRow>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

/// Shares, attainment and follow-up recency per tier, team and rep.
pub fn service_report(
    customers: &[ServiceFacts],
    checks: &[BaselineCheck],
    now: DateTime<Utc>,
    window_days: u32,
) -> ServiceReport {
    let mut overall = RowTotals::default();
    let mut tiers: BTreeMap<String, RowTotals> = BTreeMap::new();
    let mut teams: BTreeMap<String, RowTotals> = BTreeMap::new();
    let mut reps: BTreeMap<String, RowTotals> = BTreeMap::new();
    for facts in customers {
        let mut totals = RowTotals {
            customers: 1,
            value: facts.value.max(0.0),
            interactions: u64::from(facts.interactions),
            minutes: facts.minutes,
            new_minutes: if facts.is_new { facts.minutes } else { 0.0 },
            new_interactions: if facts.is_new {
                u64::from(facts.interactions)
            } else {
                0
            },
            ..Default::default()
        };
        for ticket in &facts.tickets {
            if let Some(due) = ticket
                .first_response_due
                .filter(|due| *due <= now || ticket.answered_at.is_some())
            {
                totals.first_due += 1;
                if ticket.answered_at.is_some_and(|answered| answered <= due) {
                    totals.first_met += 1;
                }
            }
            if let Some(due) = ticket
                .resolution_due
                .filter(|due| *due <= now || ticket.resolved_at.is_some())
            {
                totals.resolution_due += 1;
                if ticket.resolved_at.is_some_and(|resolved| resolved <= due) {
                    totals.resolution_met += 1;
                }
            }
        }
        for check in checks {
            if let Some(passes) = check_customer(&check.rule, facts, now) {
                totals.baseline_applies += 1;
                totals.baseline_passing += u64::from(passes);
            }
        }
        if let Some(last) = facts.last_real_follow_up {
            totals
                .days_since
                .push((now - last).num_seconds() as f64 / 86_400.0);
        }
        let groups = [
            Some(&mut overall),
            Some(
                tiers
                    .entry(facts.tier.clone().unwrap_or_else(|| "-".to_string()))
                    .or_default(),
            ),
            Some(
                teams
                    .entry(facts.team_id.clone().unwrap_or_else(|| "-".to_string()))
                    .or_default(),
            ),
            facts
                .owner_id
                .clone()
                .map(|owner| reps.entry(owner).or_default()),
        ];
        for group in groups.into_iter().flatten() {
            group.customers += totals.customers;
            group.value += totals.value;
            group.interactions += totals.interactions;
            group.minutes += totals.minutes;
            group.first_due += totals.first_due;
            group.first_met += totals.first_met;
            group.resolution_due += totals.resolution_due;
            group.resolution_met += totals.resolution_met;
            group.baseline_applies += totals.baseline_applies;
            group.baseline_passing += totals.baseline_passing;
            group.days_since.extend(totals.days_since.iter().copied());
            group.new_minutes += totals.new_minutes;
            group.new_interactions += totals.new_interactions;
        }
    }
    let all_customers = overall.customers.max(1) as f64;
    let all_value = overall.value;
    let use_minutes = overall.minutes > 0.0;
    let all_effort = if use_minutes {
        overall.minutes
    } else {
        overall.interactions as f64
    };
    let row = |key: String, mut totals: RowTotals| {
        let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
        let ratio = |met: u64, due: u64| (due > 0).then(|| met as f64 / due as f64);
        ServiceRow {
            key,
            customers: totals.customers,
            customer_share: totals.customers as f64 / all_customers,
            value: totals.value,
            value_share: share(totals.value, all_value),
            interactions: totals.interactions,
            minutes: totals.minutes,
            effort_share: share(
                if use_minutes {
                    totals.minutes
                } else {
                    totals.interactions as f64
                },
                all_effort,
            ),
            first_response_due: totals.first_due,
            first_response_attainment: ratio(totals.first_met, totals.first_due),
            resolution_due: totals.resolution_due,
            resolution_attainment: ratio(totals.resolution_met, totals.resolution_due),
            baseline_coverage: ratio(totals.baseline_passing, totals.baseline_applies),
            median_days_since_follow_up: median(&mut totals.days_since),
            new_customer_effort_share: if use_minutes {
                (totals.minutes > 0.0).then(|| totals.new_minutes / totals.minutes)
            } else {
                (totals.interactions > 0)
                    .then(|| totals.new_interactions as f64 / totals.interactions as f64)
            },
        }
    };
    ServiceReport {
        window_days,
        by_tier: tiers
            .into_iter()
            .map(|(key, totals)| row(key, totals))
            .collect(),
        by_team: teams
            .into_iter()
            .map(|(key, totals)| row(key, totals))
            .collect(),
        by_rep: reps
            .into_iter()
            .map(|(key, totals)| row(key, totals))
            .collect(),
        overall: row("overall".to_string(), overall),
    }
}

/// A quadrant of the value × service matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Quadrant {
    /// high_value_low_service (under-served), high_value_high_service, low_value_high_service
    /// (over-served), low_value_low_service.
    pub name: String,
    pub customers: u64,
    pub value: f64,
    pub minutes: f64,
}

/// One customer of the matrix.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuadrantPoint {
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub value: f64,
    pub minutes: f64,
}

/// The value × service matrix (seed 000): thresholds, the four quadrants, the under- and
/// over-served lists (highest value first, and most minutes first), and every point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuadrantReport {
    pub window_days: u32,
    pub value_threshold: f64,
    pub minutes_threshold: f64,
    pub quadrants: Vec<Quadrant>,
    /// High value, low service: the first red list.
    pub under_served: Vec<QuadrantPoint>,
    /// Low value, high service.
    pub over_served: Vec<QuadrantPoint>,
    pub points: Vec<QuadrantPoint>,
}

/// Places each customer by value (x) and service minutes (y); a threshold not given is the
/// median. "High" is above the threshold; at it, low.
pub fn quadrant_report(
    customers: &[ServiceFacts],
    value_threshold: Option<f64>,
    minutes_threshold: Option<f64>,
    window_days: u32,
) -> QuadrantReport {
    let mut values: Vec<f64> = customers.iter().map(|facts| facts.value).collect();
    let mut minutes: Vec<f64> = customers.iter().map(|facts| facts.minutes).collect();
    let value_threshold = value_threshold
        .or_else(|| median(&mut values))
        .unwrap_or(0.0);
    let minutes_threshold = minutes_threshold
        .or_else(|| median(&mut minutes))
        .unwrap_or(0.0);
    let names = [
        "high_value_low_service",
        "high_value_high_service",
        "low_value_high_service",
        "low_value_low_service",
    ];
    let mut quadrants: Vec<Quadrant> = names
        .iter()
        .map(|name| Quadrant {
            name: name.to_string(),
            ..Default::default()
        })
        .collect();
    let mut under_served = Vec::new();
    let mut over_served = Vec::new();
    let mut points = Vec::with_capacity(customers.len());
    for facts in customers {
        let high_value = facts.value > value_threshold;
        let high_service = facts.minutes > minutes_threshold;
        let index = match (high_value, high_service) {
            (true, false) => 0,
            (true, true) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        let quadrant = &mut quadrants[index];
        quadrant.customers += 1;
        quadrant.value += facts.value;
        quadrant.minutes += facts.minutes;
        let point = QuadrantPoint {
            customer_id: facts.customer_id.clone(),
            owner_id: facts.owner_id.clone(),
            value: facts.value,
            minutes: facts.minutes,
        };
        match index {
            0 => under_served.push(point.clone()),
            2 => over_served.push(point.clone()),
            _ => {}
        }
        points.push(point);
    }
    under_served.sort_by(|left, right| {
        right
            .value
            .total_cmp(&left.value)
            .then_with(|| left.customer_id.cmp(&right.customer_id))
    });
    over_served.sort_by(|left, right| {
        right
            .minutes
            .total_cmp(&left.minutes)
            .then_with(|| left.customer_id.cmp(&right.customer_id))
    });
    QuadrantReport {
        window_days,
        value_threshold,
        minutes_threshold,
        quadrants,
        under_served,
        over_served,
        points,
    }
}

/// A skew the policy does not allow (F2, F3): a tier's share of effort outside its band, a
/// team spending more than its budget on new customers, a rep loaded past the threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkewFinding {
    /// tier_effort, new_customer_budget or rep_overload.
    pub kind: String,
    /// The tier, team or rep.
    pub subject: String,
    pub value: f64,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub message: String,
}

/// One rep's workload and team, for the overload check.
#[derive(Debug, Clone, PartialEq)]
pub struct RepLoad {
    pub rep_id: String,
    pub team_id: String,
    pub workload: f64,
}

/// The skews of a service report under the policy, and of reps' workloads against their
/// teams' means.
pub fn skew_findings(
    report: &ServiceReport,
    policy: &super::ServicePolicy,
    loads: &[RepLoad],
) -> Vec<SkewFinding> {
    let mut findings = Vec::new();
    for row in &report.by_tier {
        if let Some((low, high)) = policy.effort_bands.get(&row.key) {
            if row.effort_share < *low || row.effort_share > *high {
                findings.push(SkewFinding {
                    kind: "tier_effort".to_string(),
                    subject: row.key.clone(),
                    value: row.effort_share,
                    low: Some(*low),
                    high: Some(*high),
                    message: format!(
                        "tier {} got {:.1}% of the service effort over {} days; its band is {:.0}%–{:.0}%",
                        row.key,
                        row.effort_share * 100.0,
                        report.window_days,
                        low * 100.0,
                        high * 100.0
                    ),
                });
            }
        }
    }
    if let Some(budget) = policy.new_customer_budget {
        for row in &report.by_team {
            if let Some(share) = row
                .new_customer_effort_share
                .filter(|share| *share > budget)
            {
                findings.push(SkewFinding {
                    kind: "new_customer_budget".to_string(),
                    subject: row.key.clone(),
                    value: share,
                    low: None,
                    high: Some(budget),
                    message: format!(
                        "team {} spent {:.1}% of its effort over {} days on new customers; its budget is {:.0}%",
                        row.key,
                        share * 100.0,
                        report.window_days,
                        budget * 100.0
                    ),
                });
            }
        }
    }
    if let Some(threshold) = policy.overload_threshold {
        let mut teams: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for load in loads {
            let team = teams.entry(load.team_id.as_str()).or_default();
            team.0 += load.workload;
            team.1 += 1;
        }
        for load in loads {
            let (total, count) = teams[load.team_id.as_str()];
            let mean = total / count as f64;
            if mean > 0.0 && load.workload > threshold * mean {
                findings.push(SkewFinding {
                    kind: "rep_overload".to_string(),
                    subject: load.rep_id.clone(),
                    value: load.workload,
                    low: None,
                    high: Some(threshold * mean),
                    message: format!(
                        "rep {} carries a workload of {:.1}, more than {threshold} × the mean of team {} ({mean:.1})",
                        load.rep_id, load.workload, load.team_id
                    ),
                });
            }
        }
    }
    findings
}

/// One rep's performance over the window (F4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RepPerformance {
    pub rep_id: String,
    pub customers: u64,
    /// Net purchases of the customers it owns, within the window, in yuan.
    pub revenue: f64,
    /// Owned customers whose first purchase ever fell within the window.
    pub new_customers_won: u64,
    /// Tickets of its customers whose first response was due, answered in time.
    pub first_response_attainment: Option<f64>,
    /// Mean rating (1–5) of its customers' tickets rated within the window.
    pub mean_rating: Option<f64>,
    /// Share of its customers with a real follow-up within the window.
    pub follow_up_rate: f64,
    /// 0–1: the mean of its percentile ranks among the reps on revenue, new customers, first
    /// response attainment, rating and follow-up rate (a measure a rep has no data for counts
    /// as the middle, 0.5).
    pub score: f64,
}

/// The performance report: every rep that owns customers, best score first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerformanceReport {
    pub window_days: u32,
    pub reps: Vec<RepPerformance>,
}

/// Each value's percentile rank among `values` (ties share the mean rank), 0–1; a lone value
/// is 0.5. `None`s are 0.5 and do not count.
fn percentile_ranks(values: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<f64> = values.iter().flatten().copied().collect();
    values
        .iter()
        .map(|value| match value {
            None => 0.5,
            Some(_) if known.len() < 2 => 0.5,
            Some(value) => {
                let below = known.iter().filter(|other| *other < value).count() as f64;
                let equal = known.iter().filter(|other| *other == value).count() as f64;
                (below + (equal - 1.0) / 2.0) / (known.len() - 1) as f64
            }
        })
        .collect()
}

/// Per rep: revenue, new customers won, SLA attainment, mean rating, follow-up rate and a score.
pub fn performance_report(
    customers: &[ServiceFacts],
    now: DateTime<Utc>,
    window_days: u32,
) -> PerformanceReport {
    #[derive(Default)]
    struct Totals {
        customers: u64,
        revenue_minor: i64,
        won: u64,
        first_due: u64,
        first_met: u64,
        ratings: Vec<u8>,
        followed: u64,
    }
    let window_start = now - Duration::days(i64::from(window_days));
    let mut reps: BTreeMap<&str, Totals> = BTreeMap::new();
    for facts in customers {
        let Some(owner) = facts.owner_id.as_deref() else {
            continue;
        };
        let totals = reps.entry(owner).or_default();
        totals.customers += 1;
        totals.revenue_minor += facts.revenue_minor;
        if facts
            .first_purchase
            .is_some_and(|first| first >= window_start && first <= now)
        {
            totals.won += 1;
        }
        for ticket in &facts.tickets {
            if let Some(due) = ticket
                .first_response_due
                .filter(|due| *due <= now || ticket.answered_at.is_some())
            {
                totals.first_due += 1;
                totals.first_met +=
                    u64::from(ticket.answered_at.is_some_and(|answered| answered <= due));
            }
            totals.ratings.extend(ticket.rating);
        }
        if facts
            .last_real_follow_up
            .is_some_and(|last| last >= window_start)
        {
            totals.followed += 1;
        }
    }
    let mut rows: Vec<RepPerformance> = reps
        .into_iter()
        .map(|(rep, totals)| RepPerformance {
            rep_id: rep.to_string(),
            customers: totals.customers,
            revenue: totals.revenue_minor as f64 / 100.0,
            new_customers_won: totals.won,
            first_response_attainment: (totals.first_due > 0)
                .then(|| totals.first_met as f64 / totals.first_due as f64),
            mean_rating: (!totals.ratings.is_empty()).then(|| {
                totals
                    .ratings
                    .iter()
                    .map(|rating| f64::from(*rating))
                    .sum::<f64>()
                    / totals.ratings.len() as f64
            }),
            follow_up_rate: totals.followed as f64 / totals.customers as f64,
            score: 0.0,
        })
        .collect();
    let measures: [Vec<Option<f64>>; 5] = [
        rows.iter().map(|row| Some(row.revenue)).collect(),
        rows.iter()
            .map(|row| Some(row.new_customers_won as f64))
            .collect(),
        rows.iter()
            .map(|row| row.first_response_attainment)
            .collect(),
        rows.iter().map(|row| row.mean_rating).collect(),
        rows.iter().map(|row| Some(row.follow_up_rate)).collect(),
    ];
    let ranks: Vec<Vec<f64>> = measures
        .iter()
        .map(|values| percentile_ranks(values))
        .collect();
    for (index, row) in rows.iter_mut().enumerate() {
        row.score = ranks.iter().map(|ranks| ranks[index]).sum::<f64>() / ranks.len() as f64;
    }
    rows.sort_by(|left, right| {
        right
            .score
            .total_cmp(&left.score)
            .then_with(|| left.rep_id.cmp(&right.rep_id))
    });
    PerformanceReport {
        window_days,
        reps: rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instant(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn customer(id: &str, tier: &str, value: f64, minutes: f64) -> ServiceFacts {
        ServiceFacts {
            customer_id: id.to_string(),
            owner_id: Some("r1".to_string()),
            team_id: Some("east".to_string()),
            tier: Some(tier.to_string()),
            value,
            owned_since: Some(instant("2026-01-01T00:00:00Z")),
            interactions: u32::from(minutes > 0.0),
            minutes,
            ..Default::default()
        }
    }

    fn check(rule: BaselineRule, facts: &ServiceFacts, expected: Option<bool>) {
        let now = instant("2027-01-04T00:00:00Z");
        assert_eq!(
            check_customer(&rule, facts, now),
            expected,
            "{rule:?} {facts:?}"
        );
    }

    #[test]
    fn baseline_checks_apply_and_pass_as_written() {
        let mut facts = customer("c1", "A", 50.0, 0.0);
        let every_90 = BaselineRule::RealFollowUpEvery { days: 90 };
        check(every_90.clone(), &facts, Some(false));
        facts.last_real_follow_up = Some(instant("2026-12-01T00:00:00Z"));
        check(every_90.clone(), &facts, Some(true));
        facts.last_real_follow_up = Some(instant("2026-09-01T00:00:00Z"));
        check(every_90.clone(), &facts, Some(false));
        // Owned for less than the period: not yet owed.
        facts.owned_since = Some(instant("2026-12-20T00:00:00Z"));
        check(every_90, &facts, None);
        // Tickets answered within 24 hours or not.
        let ticket = |opened: &str, answered: Option<&str>, kind| TicketFacts {
            opened_at: instant(opened),
            kind,
            answered_at: answered.map(instant),
            resolved_at: None,
            first_response_due: None,
            resolution_due: None,
            rating: None,
        };
        let within = BaselineRule::FirstResponseWithin { hours: 24 };
        check(within.clone(), &facts, None);
        facts.tickets = vec![ticket(
            "2027-01-02T00:00:00Z",
            Some("2027-01-02T20:00:00Z"),
            TicketKind::Request,
        )];
        check(within.clone(), &facts, Some(true));
        facts
            .tickets
            .push(ticket("2027-01-01T00:00:00Z", None, TicketKind::Complaint));
        check(within.clone(), &facts, Some(false));
        // A ticket not yet 24 hours old and unanswered is not counted yet.
        facts.tickets = vec![ticket("2027-01-03T12:00:00Z", None, TicketKind::Request)];
        check(within, &facts, None);
        // Complaints answered by their due time (24 hours without a promise).
        check(BaselineRule::ComplaintsAnswered, &facts, None);
        facts.tickets = vec![ticket("2027-01-01T00:00:00Z", None, TicketKind::Complaint)];
        check(BaselineRule::ComplaintsAnswered, &facts, Some(false));
        facts.tickets = vec![ticket("2027-01-03T12:00:00Z", None, TicketKind::Complaint)];
        check(BaselineRule::ComplaintsAnswered, &facts, Some(true));
        // A yearly meeting.
        let meeting = BaselineRule::InteractionKindEvery {
            kind: InteractionKind::Meeting,
            days: 365,
        };
        facts.owned_since = Some(instant("2025-01-01T00:00:00Z"));
        check(meeting.clone(), &facts, Some(false));
        facts
            .last_of_kind
            .set(InteractionKind::Meeting, instant("2026-06-01T00:00:00Z"));
        check(meeting, &facts, Some(true));
        // A pool customer is owed no follow-up by anyone.
        facts.owner_id = None;
        check(BaselineRule::RealFollowUpEvery { days: 90 }, &facts, None);
    }

    #[test]
    fn coverage_is_counted_per_tier_and_team_with_the_failing_named() {
        let now = instant("2027-01-04T00:00:00Z");
        let mut served = customer("c1", "A", 90.0, 60.0);
        served.last_real_follow_up = Some(instant("2026-12-20T00:00:00Z"));
        let neglected = customer("c2", "A", 80.0, 0.0);
        let mut other_team = customer("c3", "C", 10.0, 300.0);
        other_team.team_id = Some("west".to_string());
        other_team.last_real_follow_up = Some(instant("2026-12-30T00:00:00Z"));
        let checks = [BaselineCheck {
            name: "每季度一次真实跟进".to_string(),
            rule: BaselineRule::RealFollowUpEvery { days: 90 },
        }];
        let coverage = baseline_coverage(
            &checks,
            &[served.clone(), neglected.clone(), other_team.clone()],
            now,
        );
        let check = &coverage[0];
        assert_eq!((check.overall.applies, check.overall.passing), (3, 2));
        assert_eq!(check.by_tier["A"].coverage, 0.5);
        assert_eq!(check.by_team["west"].coverage, 1.0);
        assert_eq!(check.failing[0].customer_id, "c2");
        // The quadrant: medians 80 (value) and 60 (minutes); c1 is high value but at the
        // minutes median (low service), c3 low value and high service.
        let quadrant = quadrant_report(&[served, neglected, other_team], None, None, 90);
        assert_eq!(
            (quadrant.value_threshold, quadrant.minutes_threshold),
            (80.0, 60.0)
        );
        let names: Vec<&str> = quadrant
            .under_served
            .iter()
            .map(|point| point.customer_id.as_str())
            .collect();
        assert_eq!(names, ["c1"]);
        let names: Vec<&str> = quadrant
            .over_served
            .iter()
            .map(|point| point.customer_id.as_str())
            .collect();
        assert_eq!(names, ["c3"]);
        assert_eq!(quadrant.points.len(), 3);
    }

    #[test]
    fn the_service_report_gives_shares_and_attainment() {
        let now = instant("2027-01-04T00:00:00Z");
        let mut a = customer("c1", "A", 75.0, 30.0);
        a.tickets = vec![TicketFacts {
            opened_at: instant("2027-01-01T00:00:00Z"),
            kind: TicketKind::Request,
            answered_at: Some(instant("2027-01-01T01:00:00Z")),
            resolved_at: Some(instant("2027-01-03T00:00:00Z")),
            first_response_due: Some(instant("2027-01-01T02:00:00Z")),
            resolution_due: Some(instant("2027-01-02T00:00:00Z")),
            rating: Some(4),
        }];
        a.last_real_follow_up = Some(instant("2026-12-31T00:00:00Z"));
        let c = customer("c2", "C", 25.0, 90.0);
        let report = service_report(&[a, c], &[], now, 90);
        let tier_a = &report.by_tier[0];
        assert_eq!(
            (
                tier_a.key.as_str(),
                tier_a.customer_share,
                tier_a.value_share
            ),
            ("A", 0.5, 0.75)
        );
        assert_eq!(tier_a.effort_share, 0.25);
        assert_eq!(tier_a.first_response_attainment, Some(1.0));
        assert_eq!(tier_a.resolution_attainment, Some(0.0));
        assert_eq!(tier_a.median_days_since_follow_up, Some(4.0));
        assert_eq!(report.overall.customers, 2);
        assert_eq!(report.by_rep[0].key, "r1");
    }

    #[test]
    fn performance_ranks_reps_on_every_measure() {
        let now = instant("2027-01-04T00:00:00Z");
        let mut strong = customer("c1", "A", 90.0, 60.0);
        strong.owner_id = Some("r1".to_string());
        strong.revenue_minor = 1_000_000;
        strong.first_purchase = Some(instant("2026-12-01T00:00:00Z"));
        strong.last_real_follow_up = Some(instant("2026-12-20T00:00:00Z"));
        let mut weak = customer("c2", "C", 10.0, 0.0);
        weak.owner_id = Some("r2".to_string());
        weak.revenue_minor = 10_000;
        weak.first_purchase = Some(instant("2025-01-01T00:00:00Z"));
        let report = performance_report(&[weak, strong], now, 90);
        assert_eq!(report.reps[0].rep_id, "r1");
        assert_eq!(report.reps[0].revenue, 10_000.0);
        assert_eq!(report.reps[0].new_customers_won, 1);
        assert_eq!(report.reps[0].follow_up_rate, 1.0);
        // r1 is better on revenue, new customers and follow-ups; both lack tickets and ratings.
        assert_eq!(report.reps[0].score, (1.0 + 1.0 + 0.5 + 0.5 + 1.0) / 5.0);
        assert_eq!(report.reps[1].score, (0.0 + 0.0 + 0.5 + 0.5 + 0.0) / 5.0);
        assert_eq!(
            percentile_ranks(&[Some(1.0), Some(1.0), Some(3.0)]),
            [0.25, 0.25, 1.0]
        );
    }

    #[test]
    fn skews_are_found_against_the_policy() {
        let now = instant("2027-01-04T00:00:00Z");
        let mut new_one = customer("n1", "C", 10.0, 60.0);
        new_one.is_new = true;
        let old_one = customer("c1", "A", 90.0, 40.0);
        let report = service_report(&[new_one, old_one], &[], now, 90);
        assert_eq!(report.by_team[0].new_customer_effort_share, Some(0.6));
        let mut policy = crate::service::ServicePolicy::default();
        policy.effort_bands.insert("A".to_string(), (0.5, 0.8));
        policy.new_customer_budget = Some(0.4);
        policy.overload_threshold = Some(1.5);
        let loads = [
            RepLoad {
                rep_id: "r1".to_string(),
                team_id: "east".to_string(),
                workload: 10.0,
            },
            RepLoad {
                rep_id: "r2".to_string(),
                team_id: "east".to_string(),
                workload: 2.0,
            },
            RepLoad {
                rep_id: "r3".to_string(),
                team_id: "east".to_string(),
                workload: 3.0,
            },
        ];
        let found: Vec<(String, String)> = skew_findings(&report, &policy, &loads)
            .into_iter()
            .map(|finding| (finding.kind, finding.subject))
            .collect();
        assert_eq!(
            found,
            [
                ("tier_effort".to_string(), "A".to_string()),
                ("new_customer_budget".to_string(), "east".to_string()),
                ("rep_overload".to_string(), "r1".to_string()),
            ]
        );
        policy.new_customer_budget = Some(0.7);
        policy.effort_bands.insert("A".to_string(), (0.3, 0.6));
        policy.overload_threshold = Some(2.5);
        assert!(skew_findings(&report, &policy, &loads).is_empty());
    }
}
