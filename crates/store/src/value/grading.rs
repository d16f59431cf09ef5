//! Grading runs (`allot score`, the monthly job): every customer's RFM, CLV, score, ABC class,
//! tier and health as of the clock, written with its tier events and alerts in one transaction.

use std::collections::{BTreeMap, HashMap};

use allot_core::clock::Clock;
use allot_core::value::{grade_customers, CustomerGrade};
use chrono::{DateTime, Utc};

use super::alerts::AlertChanges;
use super::population::overrides_in;
use super::tier_events::{direction, record_tier_events, NewTierEvent};
use super::{corrupt, ScoreSummary, ValueDetails};
use crate::clv_estimates::{ClvEstimate, ClvSettings};
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
        let today = clock.today();
        let mut population = self.population_in(write).await?;
        let overrides = overrides_in(write).await?;
        let previous_tiers: HashMap<String, String> = on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "SELECT customer_id, tier FROM customer_values")
                .build_query_as::<(String, String)>()
                .fetch_all(&mut *connection)
                .await?
                .into_iter()
                .collect()
        });

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
        let inputs = population.value_inputs(purchase_days, &measured, &overrides, clock);
        let grades = grade_customers(&policy, &inputs, clock);

        let mut summary = ScoreSummary {
            as_of: StoredTime(now).text(),
            policy_version,
            customers: grades.len(),
            clv: clv_report,
            ..Default::default()
        };
        let mut by_tier: BTreeMap<String, usize> = BTreeMap::new();
        let mut value_rows = Vec::with_capacity(grades.len());
        let mut tier_changes: Vec<NewTierEvent> = Vec::new();
        let mut customer_tiers: Vec<(&str, &str)> = Vec::new();
        let mut alerts = AlertChanges::default();
        let customers = &population.customers;
        for ((customer, grade), estimate) in customers.iter().zip(&grades).zip(&estimates) {
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
            } else if overrides
                .get(customer.id.as_str())
                .is_some_and(|tier_override| {
                    tier_override.is_active(today)
                        && policy.check_override(&tier_override.tier).is_err()
                })
            {
                summary.overrides_ignored += 1;
            }
            *by_tier.entry(grade.tier.clone()).or_insert(0) += 1;
            value_rows.push(CustomerValueRow::new(now, grade, estimate.as_ref())?);

            let previous = previous_tiers
                .get(customer.id.as_str())
                .map(String::as_str)
                .or(customer.tier.as_deref())
                .unwrap_or("");
            if previous != grade.tier {
                let from = (!previous.is_empty()).then_some(previous);
                let direction = direction(&policy, from, &grade.tier);
                match direction {
                    "up" => summary.upgrades += 1,
                    "down" => summary.downgrades += 1,
                    _ => summary.tiers_set += 1,
                }
                *summary
                    .moves
                    .entry(format!("{} → {}", from.unwrap_or("-"), grade.tier))
                    .or_insert(0) += 1;
                tier_changes.push(NewTierEvent {
                    at: now,
                    customer_id: customer.id.as_str(),
                    from_tier: from,
                    to_tier: grade.tier.as_str(),
                    direction,
                    score: grade.score,
                    reason: tier_reason(grade),
                    actor,
                });
            }
            if customer.tier.as_deref() != Some(grade.tier.as_str()) {
                customer_tiers.push((customer.id.as_str(), grade.tier.as_str()));
            }
            alerts.note(
                customer,
                grade.at_risk,
                grade.health,
                &grade.health_parts,
                &population.open_alerts,
            );
        }
        summary.alerts_raised = alerts.raised.len();
        summary.alerts_closed = alerts.closed.len();

        write_customer_values(write, &value_rows).await?;
        record_tier_events(write, &tier_changes).await?;
        let rows: Vec<Vec<Value<'_>>> = customer_tiers
            .iter()
            .map(|(id, tier)| vec![Value::Text(id), Value::Text(tier)])
            .collect();
        update_rows(
            write.connection(),
            &UpdateRows {
                table: "customers",
                key: &[("id", Kind::Text)],
                set: &[("tier", Kind::Text)],
                rows: &rows,
                only_if: None,
            },
        )
        .await?;
        alerts.write(write, now).await?;
        let mut ordered: Vec<(String, usize)> = policy
            .tier_names()
            .into_iter()
            .map(|name| {
                let count = by_tier.remove(&name).unwrap_or(0);
                (name, count)
            })
            .collect();
        ordered.extend(by_tier);
        summary.by_tier = ordered;
        on_backend!(&mut *write, |connection, Db| {
            sql!(Db; "INSERT INTO value_runs (at, actor, summary) VALUES (",
                bind(StoredTime(now)), ", ", bind(actor), ", ", bind(sqlx::types::Json(&summary)), ")")
            .build()
            .execute(&mut *connection)
            .await?;
        });
        Ok(summary)
    }
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

/// One customer's grading result as written to `customer_values`.
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
    ("health", Kind::Real),
    ("at_risk", Kind::Boolean),
    ("details", Kind::Json),
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
            Value::real(self.health),
            Value::Boolean(self.at_risk),
            Value::Json(&self.details),
            Value::Json(&self.health_parts),
            Value::Timestamp(self.as_of),
        ]
    }
}

async fn write_customer_values(
    write: &mut WriteTransaction,
    rows: &[CustomerValueRow],
) -> StoreResult<()> {
    let values: Vec<Vec<Value<'_>>> = rows.iter().map(CustomerValueRow::values).collect();
    let names: Vec<&str> = VALUE_COLUMNS.iter().map(|(name, _)| *name).collect();
    let updates: Vec<String> = names[1..]
        .iter()
        .map(|name| format!("{name} = excluded.{name}"))
        .collect();
    let on_conflict = format!("(customer_id) DO UPDATE SET {}", updates.join(", "));
    insert_rows(
        write.connection(),
        &InsertRows {
            table: "customer_values",
            columns: VALUE_COLUMNS,
            rows: &values,
            on_conflict: Some(&on_conflict),
        },
        Transfer::for_rows(values.len()),
    )
    .await?;
    Ok(())
}
