//! Grading runs (`allot score`, the monthly job): every customer's RFM, CLV, score, ABC class,
//! tier and health as of the clock, written with its tier events and alerts in one transaction.

use std::collections::{BTreeMap, HashMap};

use allot_core::clock::Clock;
use allot_core::value::{grade_customers, CustomerGrade, TierOverride, ValuePolicy};
use chrono::{DateTime, NaiveDate, Utc};

use super::alerts::AlertChanges;
use super::population::{overrides_in, Attributes, Population, PopulationCustomer};
use super::tier_events::{direction, record_tier_events, NewTierEvent};
use super::{corrupt, ScoreSummary, ValueDetails};
use crate::clv_estimates::{ClvEstimate, ClvFitReport, ClvSettings};
use crate::database::bulk::{
    insert_rows, update_rows, InsertRows, Kind, Transfer, UpdateRows, Value,
};
use crate::database::{on_backend, sql, Connected};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime, WriteTransaction};

/// The clock time of the most recent grading run, by when it was made: after a forced run back
/// in time, that run is the one to compare with, not a later-dated one it replaced.
pub(crate) async fn last_grading_at(
    source: &mut impl Connected,
) -> StoreResult<Option<DateTime<Utc>>> {
    let at: Option<StoredTime> = on_backend!(source, |connection, Db| {
        sql!(Db; "SELECT at FROM value_runs ORDER BY id DESC LIMIT 1")
            .build_query_scalar()
            .fetch_optional(&mut *connection)
            .await?
    });
    Ok(at.map(|at| at.0))
}

impl Store {
    /// Recomputes RFM, CLV, score, ABC, tier and health for every customer as of the clock,
    /// in one transaction: values, tiers, tier events and alerts land together or not at all.
    /// Grading as of a time before the last grading is refused unless `force`: it would
    /// replace newer grades with older ones.
    pub async fn score_customers(
        &self,
        clock: Clock,
        actor: &str,
        force: bool,
    ) -> StoreResult<ScoreSummary> {
        let mut write = self.begin_write().await?;
        let now = clock.now();
        if let Some(latest) = last_grading_at(&mut write)
            .await?
            .filter(|latest| *latest > now && !force)
        {
            return Err(StoreError::Refused {
                message: format!(
                    "the last grading was as of {}; grading as of {}, earlier, would replace newer grades with older ones (use --force, or force=true in the API, to do it anyway)",
                    StoredTime(latest).text(),
                    StoredTime(now).text()
                ),
                field: Some("force".to_string()),
            });
        }
        let summary = self.score_in(&mut write, clock, actor).await?;
        write.commit().await?;
        Ok(summary)
    }

    pub(crate) async fn score_in(
        &self,
        write: &mut WriteTransaction,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<ScoreSummary> {
        let (policy_version, policy) = self.policy_in(write).await?;
        let now = clock.now();
        let mut population = self.population_in(write, Attributes::Read).await?;
        let overrides = overrides_in(write).await?;
        let previous_tiers = stored_tiers_in(write).await?;
        let (clv_report, estimates, grades) =
            estimate_and_grade(&mut population, &policy, &overrides, clock);

        let mut summary = ScoreSummary {
            as_of: StoredTime(now).text(),
            policy_version,
            customers: grades.len(),
            clv: clv_report,
            ..Default::default()
        };
        let run = GradingRun {
            policy: &policy,
            overrides: &overrides,
            previous_tiers: &previous_tiers,
            now,
            today: clock.today(),
            actor,
        };
        let changes = tally_grades(&run, &population, &grades, &estimates, &mut summary)?;
        summary.alerts_raised = changes.alerts.raised.len();
        summary.alerts_closed = changes.alerts.closed.len();

        changes.write(write, now).await?;
        crate::tickets::give_tickets_their_first_tier(write).await?;
        summary.by_tier = tiers_in_policy_order(&policy, changes.by_tier);
        record_value_run(write, now, actor, &summary).await?;
        Ok(summary)
    }
}

/// Each customer's tier as the last run left it, the tier a move is measured from.
async fn stored_tiers_in(write: &mut WriteTransaction) -> StoreResult<HashMap<String, String>> {
    let tiers: HashMap<String, String> = on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "SELECT customer_id, tier FROM customer_values")
            .build_query_as::<(String, String)>()
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .collect()
    });
    Ok(tiers)
}

/// The CLV models are fitted on the whole population first: their estimates (CLV, p_alive)
/// are inputs of each customer's score and health.
fn estimate_and_grade(
    population: &mut Population,
    policy: &ValuePolicy,
    overrides: &HashMap<String, TierOverride>,
    clock: Clock,
) -> (ClvFitReport, Vec<Option<ClvEstimate>>, Vec<CustomerGrade>) {
    let purchase_days = population.purchase_days(clock);
    let settings = ClvSettings {
        horizon_months: policy.clv.horizon_months,
        monthly_discount_rate: policy.clv.monthly_discount_rate,
        purchases_horizon_weeks: policy.clv.purchases_horizon_weeks,
        ..ClvSettings::default()
    };
    let (clv_report, estimates) =
        crate::clv_estimates::estimate(&purchase_days, clock.utc_date(), &settings);
    let measured: Vec<(Option<f64>, Option<f64>)> = estimates
        .iter()
        .map(|estimate| {
            (
                estimate.map(|estimate| estimate.clv),
                estimate.map(|estimate| estimate.p_alive),
            )
        })
        .collect();
    let inputs = population.value_inputs(purchase_days, &measured, overrides, clock);
    let grades = grade_customers(policy, &inputs, clock);
    (clv_report, estimates, grades)
}

/// What every customer of one run is graded and compared against.
struct GradingRun<'a> {
    policy: &'a ValuePolicy,
    overrides: &'a HashMap<String, TierOverride>,
    previous_tiers: &'a HashMap<String, String>,
    now: DateTime<Utc>,
    today: NaiveDate,
    actor: &'a str,
}

/// What a run writes, gathered customer by customer before any of it is written, so each
/// table takes its rows in one bulk statement.
struct GradingChanges<'a> {
    value_rows: Vec<CustomerValueRow>,
    tier_events: Vec<NewTierEvent<'a>>,
    /// Customers whose `customers.tier` differs from their new tier.
    customer_tiers: Vec<(&'a str, &'a str)>,
    alerts: AlertChanges<'a>,
    by_tier: BTreeMap<String, usize>,
}

/// Goes through the grades in customer order, counting them into the summary and gathering
/// what the run writes.
fn tally_grades<'a>(
    run: &GradingRun<'a>,
    population: &'a Population,
    grades: &'a [CustomerGrade],
    estimates: &[Option<ClvEstimate>],
    summary: &mut ScoreSummary,
) -> StoreResult<GradingChanges<'a>> {
    let mut changes = GradingChanges {
        value_rows: Vec::with_capacity(grades.len()),
        tier_events: Vec::new(),
        customer_tiers: Vec::new(),
        alerts: AlertChanges::default(),
        by_tier: BTreeMap::new(),
    };
    for ((customer, grade), estimate) in population.customers.iter().zip(grades).zip(estimates) {
        count_health_and_overrides(run, customer, grade, summary);
        *changes.by_tier.entry(grade.tier.clone()).or_insert(0) += 1;
        changes
            .value_rows
            .push(CustomerValueRow::new(run.now, grade, estimate.as_ref())?);
        if let Some(event) = tier_move(run, customer, grade, summary) {
            changes.tier_events.push(event);
        }
        if customer.tier.as_deref() != Some(grade.tier.as_str()) {
            changes
                .customer_tiers
                .push((customer.id.as_str(), grade.tier.as_str()));
        }
        changes.alerts.note(
            customer,
            grade.at_risk,
            grade.health,
            &grade.health_parts,
            &population.open_alerts,
        );
    }
    Ok(changes)
}

fn count_health_and_overrides(
    run: &GradingRun<'_>,
    customer: &PopulationCustomer,
    grade: &CustomerGrade,
    summary: &mut ScoreSummary,
) {
    if grade.rfm.is_some() {
        summary.with_purchases += 1;
    }
    match grade.health {
        None => summary.health_unknown += 1,
        Some(_) if grade.at_risk => summary.health_below_threshold += 1,
        Some(_) => {}
    }
    if grade.override_active {
        summary.overrides_active += 1;
    } else if run
        .overrides
        .get(customer.id.as_str())
        .is_some_and(|tier_override| {
            tier_override.is_active(run.today)
                && run.policy.check_override(&tier_override.tier).is_err()
        })
    {
        summary.overrides_ignored += 1;
    }
}

/// The tier event of a customer whose tier changed since the last run, counted into the
/// summary. A customer never graded before moves from the tier it was imported with.
fn tier_move<'a>(
    run: &GradingRun<'a>,
    customer: &'a PopulationCustomer,
    grade: &'a CustomerGrade,
    summary: &mut ScoreSummary,
) -> Option<NewTierEvent<'a>> {
    let previous = run
        .previous_tiers
        .get(customer.id.as_str())
        .map(String::as_str)
        .or(customer.tier.as_deref())
        .unwrap_or("");
    if previous == grade.tier {
        return None;
    }
    let from = (!previous.is_empty()).then_some(previous);
    let direction = direction(run.policy, from, &grade.tier);
    match direction {
        "up" => summary.upgrades += 1,
        "down" => summary.downgrades += 1,
        _ => summary.tiers_set += 1,
    }
    *summary
        .moves
        .entry(format!("{} → {}", from.unwrap_or("-"), grade.tier))
        .or_insert(0) += 1;
    Some(NewTierEvent {
        at: run.now,
        customer_id: customer.id.as_str(),
        from_tier: from,
        to_tier: grade.tier.as_str(),
        direction,
        score: grade.score,
        reason: tier_reason(grade),
        actor: run.actor,
    })
}

impl GradingChanges<'_> {
    async fn write(&self, write: &mut WriteTransaction, now: DateTime<Utc>) -> StoreResult<()> {
        write_customer_values(write, &self.value_rows).await?;
        record_tier_events(write, &self.tier_events).await?;
        let rows: Vec<Vec<Value<'_>>> = self
            .customer_tiers
            .iter()
            .map(|(id, tier)| vec![Value::Text(id), Value::Text(tier)])
            .collect();
        update_rows(
            write.connection(),
            &UpdateRows {
                table: "customers",
                key: &[("id", Kind::Text)],
                still: None,
                set: &[("tier", Kind::Text)],
                rows: &rows,
                only_if: None,
                caller_fails_unless_every_row_changes: false,
            },
        )
        .await?;
        self.alerts.write(write, now).await?;
        Ok(())
    }
}

/// Tier sizes in the policy's order, then any tier the policy does not list, so no customer
/// goes uncounted.
fn tiers_in_policy_order(
    policy: &ValuePolicy,
    mut by_tier: BTreeMap<String, usize>,
) -> Vec<(String, usize)> {
    let mut ordered: Vec<(String, usize)> = policy
        .tier_names()
        .into_iter()
        .map(|name| {
            let count = by_tier.remove(&name).unwrap_or(0);
            (name, count)
        })
        .collect();
    ordered.extend(by_tier);
    ordered
}

async fn record_value_run(
    write: &mut WriteTransaction,
    now: DateTime<Utc>,
    actor: &str,
    summary: &ScoreSummary,
) -> StoreResult<()> {
    on_backend!(&mut *write, |connection, Db| {
        sql!(Db; "INSERT INTO value_runs (at, actor, summary) VALUES (",
            bind(StoredTime(now)), ", ", bind(actor), ", ", bind(sqlx::types::Json(summary)), ")")
        .build()
        .execute(&mut *connection)
        .await?;
    });
    Ok(())
}

fn tier_reason(grade: &CustomerGrade) -> String {
    if grade.override_active {
        format!(
            "manual override (computed tier would be {})",
            grade.computed_tier
        )
    } else {
        format!(
            "score {:.1} (ABC class {:?}) gives tier {}",
            grade.score, grade.abc, grade.computed_tier
        )
    }
}

/// One customer's grading result as written to `customer_values` and `customer_health`.
struct CustomerValueRow {
    customer_id: String,
    as_of: DateTime<Utc>,
    recency_days: Option<i64>,
    frequency: Option<i64>,
    monetary_minor: Option<i64>,
    recency_score: Option<i64>,
    frequency_score: Option<i64>,
    monetary_score: Option<i64>,
    rfm_segment: Option<&'static str>,
    estimate: Option<ClvEstimate>,
    score: f64,
    abc: String,
    computed_tier: String,
    tier: String,
    health: Option<f64>,
    at_risk: bool,
    details: String,
    health_parts: String,
}

const VALUE_COLUMNS: &[(&str, Kind)] = &[
    ("customer_id", Kind::Text),
    ("as_of", Kind::Timestamp),
    ("recency_days", Kind::Integer),
    ("frequency", Kind::Integer),
    ("monetary_minor", Kind::Integer),
    ("recency_score", Kind::Integer),
    ("frequency_score", Kind::Integer),
    ("monetary_score", Kind::Integer),
    ("rfm_segment", Kind::Text),
    ("p_alive", Kind::Real),
    ("expected_purchases", Kind::Real),
    ("expected_spend", Kind::Real),
    ("clv", Kind::Real),
    ("score", Kind::Real),
    ("abc", Kind::Text),
    ("computed_tier", Kind::Text),
    ("tier", Kind::Text),
    ("details", Kind::Json),
];

/// The columns of `customer_health` (migration 0021), which the daily refresh rewrites.
pub(super) const HEALTH_COLUMNS: &[(&str, Kind)] = &[
    ("customer_id", Kind::Text),
    ("health", Kind::Real),
    ("at_risk", Kind::Boolean),
    ("health_parts", Kind::Json),
    ("health_as_of", Kind::Timestamp),
];

impl CustomerValueRow {
    fn new(
        now: DateTime<Utc>,
        grade: &CustomerGrade,
        estimate: Option<&ClvEstimate>,
    ) -> StoreResult<Self> {
        let details = ValueDetails {
            as_of: StoredTime(now).text(),
            rfm: grade.rfm.clone(),
            score: grade.score,
            dimensions: grade.dimensions.clone(),
            abc: grade.abc,
            computed_tier: grade.computed_tier.clone(),
            tier: grade.tier.clone(),
            override_active: grade.override_active,
            health: grade.health,
            health_parts: grade.health_parts.clone(),
            at_risk: grade.at_risk,
            clv: estimate.copied(),
            health_as_of: None,
        };
        let rfm = grade.rfm.as_ref();
        Ok(CustomerValueRow {
            customer_id: grade.customer_id.to_string(),
            as_of: now,
            recency_days: rfm.map(|rfm| rfm.recency_days),
            frequency: rfm.map(|rfm| i64::from(rfm.frequency)),
            monetary_minor: rfm.map(|rfm| rfm.monetary.minor_units()),
            recency_score: rfm.map(|rfm| i64::from(rfm.recency_score)),
            frequency_score: rfm.map(|rfm| i64::from(rfm.frequency_score)),
            monetary_score: rfm.map(|rfm| i64::from(rfm.monetary_score)),
            rfm_segment: rfm.map(|rfm| rfm.segment.as_str()),
            estimate: estimate.copied(),
            score: grade.score,
            abc: format!("{:?}", grade.abc),
            computed_tier: grade.computed_tier.clone(),
            tier: grade.tier.clone(),
            health: grade.health,
            at_risk: grade.at_risk,
            details: serde_json::to_string(&details).map_err(corrupt)?,
            health_parts: serde_json::to_string(&grade.health_parts).map_err(corrupt)?,
        })
    }

    fn values(&self) -> Vec<Value<'_>> {
        let estimate = self.estimate.as_ref();
        vec![
            Value::Text(&self.customer_id),
            Value::Timestamp(self.as_of),
            Value::integer(self.recency_days),
            Value::integer(self.frequency),
            Value::integer(self.monetary_minor),
            Value::integer(self.recency_score),
            Value::integer(self.frequency_score),
            Value::integer(self.monetary_score),
            Value::text(self.rfm_segment),
            Value::real(estimate.map(|estimate| estimate.p_alive)),
            Value::real(estimate.map(|estimate| estimate.expected_purchases)),
            Value::real(estimate.map(|estimate| estimate.expected_spend)),
            Value::real(estimate.map(|estimate| estimate.clv)),
            Value::Real(self.score),
            Value::Text(&self.abc),
            Value::Text(&self.computed_tier),
            Value::Text(&self.tier),
            Value::Json(&self.details),
        ]
    }

    fn health_values(&self) -> Vec<Value<'_>> {
        vec![
            Value::Text(&self.customer_id),
            Value::real(self.health),
            Value::Boolean(self.at_risk),
            Value::Json(&self.health_parts),
            Value::Timestamp(self.as_of),
        ]
    }
}

/// Inserts `rows` (of `columns`, the key `customer_id` first) into `table`, replacing a
/// customer's row where it has one.
async fn upsert_by_customer(
    write: &mut WriteTransaction,
    table: &'static str,
    columns: &'static [(&'static str, Kind)],
    rows: &[Vec<Value<'_>>],
) -> StoreResult<()> {
    let updates: Vec<String> = columns[1..]
        .iter()
        .map(|(name, _)| format!("{name} = excluded.{name}"))
        .collect();
    let on_conflict = format!("(customer_id) DO UPDATE SET {}", updates.join(", "));
    insert_rows(
        write.connection(),
        &InsertRows {
            table,
            columns,
            rows,
            on_conflict: Some(&on_conflict),
            never_clash: false,
        },
        Transfer::for_rows(rows.len()),
    )
    .await?;
    Ok(())
}

async fn write_customer_values(
    write: &mut WriteTransaction,
    rows: &[CustomerValueRow],
) -> StoreResult<()> {
    let values: Vec<Vec<Value<'_>>> = rows.iter().map(CustomerValueRow::values).collect();
    upsert_by_customer(write, "customer_values", VALUE_COLUMNS, &values).await?;
    drop(values);
    let health: Vec<Vec<Value<'_>>> = rows.iter().map(CustomerValueRow::health_values).collect();
    upsert_by_customer(write, "customer_health", HEALTH_COLUMNS, &health).await
}
