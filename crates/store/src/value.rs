//! Customer value in the database: policy versions, tier overrides, grading runs (`score`,
//! the monthly job of `tick`), tier-change events, health alerts and value reports.
//!
//! The maths is in `allot_core::value` and `allot_core::clv`; this module gathers the inputs
//! in one transaction, calls it, and writes every result of a run in that same transaction.

use std::collections::{BTreeMap, HashMap};

use allot_core::clock::Clock;
use allot_core::value::{
    customer_health, daily_purchases, grade_customers, CustomerGrade, CustomerValueInput,
    PurchaseDay, TierOverride, ValuePolicy,
};
use allot_core::CustomerId;
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::Row;

use crate::activity::CustomerActivity;
use crate::batch::{execute_batched, AnyQuery};
use crate::error::{StoreError, StoreResult};
use crate::rows::{optional_text, text};
use crate::tickets::TicketSpan;
use crate::{format_timestamp, Store, WriteTransaction};

pub use crate::clv_estimates::{ClvFitReport, ClvSettings};

/// A stored value policy version.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyVersion {
    pub version: i64,
    pub source: String,
    pub actor: String,
    pub created_at: String,
}

/// A manual tier with its reason and last day.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredTierOverride {
    pub customer_id: String,
    pub tier: String,
    pub reason: String,
    pub expires_on: String,
    pub actor: String,
    pub created_at: String,
}

/// One upgrade, downgrade or first grading of a customer.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierEvent {
    pub id: i64,
    pub at: String,
    pub customer_id: String,
    pub from_tier: Option<String>,
    pub to_tier: String,
    /// `up`, `down` or `set` (first tier, or a tier the policy no longer orders).
    pub direction: String,
    pub score: f64,
    pub reason: String,
    pub actor: String,
}

/// A health alert for a customer's owner.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Alert {
    pub id: i64,
    pub at: String,
    pub customer_id: String,
    pub owner_id: Option<String>,
    pub kind: String,
    pub message: String,
    pub health: f64,
    /// `open` until the customer's health recovers above the threshold, then `closed`.
    pub status: String,
    pub closed_at: Option<String>,
}

/// Filters for listing tier events.
#[derive(Debug, Clone, Default)]
pub struct TierEventFilter {
    pub customer_id: Option<String>,
    /// Only events with a larger id (a cursor for paging through the log).
    pub after_id: Option<i64>,
    pub limit: i64,
}

/// Filters for listing alerts.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub owner_id: Option<String>,
    pub customer_id: Option<String>,
    /// Only open alerts unless false.
    pub include_closed: bool,
    pub limit: i64,
}

/// What one grading run did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreSummary {
    pub as_of: String,
    pub policy_version: Option<i64>,
    pub customers: usize,
    pub with_purchases: usize,
    pub upgrades: usize,
    pub downgrades: usize,
    /// First tiers given, and moves to or from a tier the policy does not order.
    pub tiers_set: usize,
    /// Customers per tier after the run, in the policy's order.
    pub by_tier: Vec<(String, usize)>,
    /// Moves as `from → to` with counts.
    pub moves: BTreeMap<String, usize>,
    pub overrides_active: usize,
    /// Unexpired overrides naming a tier the policy no longer has: they do not apply (the
    /// computed tier does) until someone sets a new one or removes them.
    pub overrides_ignored: usize,
    pub alerts_raised: usize,
    pub alerts_closed: usize,
    pub clv: ClvFitReport,
}

/// What `tick` did: each scheduled job that was due.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TickSummary {
    pub at: String,
    /// `(job, period)` of jobs that ran now.
    pub ran: Vec<(String, String)>,
    /// `(job, period)` of jobs already done for their period.
    pub already_done: Vec<(String, String)>,
    /// Overrides ended by the daily job (their computed tier is back).
    pub overrides_expired: usize,
    pub regrade: Option<ScoreSummary>,
    /// The daily health refresh, when it ran without a re-grade.
    pub health: Option<HealthSummary>,
    /// Runs of later times (`job period`) forgotten by a forced tick back in time.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forgotten_runs: Vec<String>,
}

/// The stored value of one customer with its tier history.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerValue {
    pub customer_id: String,
    /// Time of the newest interaction, kept by interaction imports and the API.
    pub last_interaction_at: Option<String>,
    /// None until the first grading run.
    pub value: Option<ValueDetails>,
    pub tier_override: Option<StoredTierOverride>,
    pub tier_history: Vec<TierEvent>,
}

/// What the last grading run found for one customer, with the tier and health as they are
/// now (overrides change the tier between runs, the daily job refreshes health).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueDetails {
    /// When the grading run that computed these values ran.
    pub as_of: String,
    /// `None` without a purchase day up to that run's clock.
    pub rfm: Option<allot_core::value::Rfm>,
    /// Composite score 0..100.
    pub score: f64,
    /// Every dimension's raw value, percentile, weight and contribution to the score.
    pub dimensions: Vec<allot_core::value::DimensionValue>,
    pub abc: allot_core::value::AbcClass,
    /// The tier the policy gives by score.
    pub computed_tier: String,
    /// The tier in force: an unexpired override's, else the computed one.
    pub tier: String,
    pub override_active: bool,
    /// Health 0..100.
    pub health: f64,
    /// Known health parts as `[name, 0..1]`.
    pub health_parts: Vec<(String, f64)>,
    pub at_risk: bool,
    /// The CLV models' outputs; `None` when no model could be fitted.
    pub clv: Option<crate::clv_estimates::ClvEstimate>,
    /// When health was last refreshed by the daily job, if after the grading run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_as_of: Option<String>,
}

/// Value report: tier sizes and value share, the ABC table and RFM segment counts.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueReport {
    pub as_of: Option<String>,
    pub customers: usize,
    pub tiers: Vec<TierRow>,
    pub abc: Vec<AbcRow>,
    pub segments: Vec<(String, usize)>,
    pub at_risk: usize,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierRow {
    pub tier: String,
    pub customers: usize,
    pub monetary: f64,
    pub monetary_share: f64,
    pub clv: f64,
    pub clv_share: f64,
    pub mean_score: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AbcRow {
    pub class: String,
    pub customers: usize,
    pub customer_share: f64,
    pub monetary: f64,
    pub monetary_share: f64,
}

/// The monthly re-grade's job name in `job_runs`.
pub const MONTHLY_REGRADE_JOB: &str = "monthly_regrade";
/// The daily job that ends overrides past their last day.
pub const EXPIRE_OVERRIDES_JOB: &str = "expire_overrides";
/// The daily job that recomputes health and opens or closes alerts between re-grades.
pub const REFRESH_HEALTH_JOB: &str = "refresh_health";

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

impl Store {
    /// Validates a value policy (TOML) and stores it as a new version.
    pub async fn set_value_policy(
        &self,
        source: &str,
        actor: &str,
        clock: Clock,
    ) -> StoreResult<i64> {
        ValuePolicy::parse(source).map_err(StoreError::Policy)?;
        let mut write = self.begin_write().await?;
        let version =
            crate::insert_document_version(&mut write, "value_policies", source, actor, clock)
                .await?;
        write.commit().await?;
        Ok(version)
    }

    /// The newest value policy, if one was set (grading uses the built-in default otherwise).
    pub async fn current_value_policy(&self) -> StoreResult<Option<PolicyVersion>> {
        let row = sqlx::query(
            "SELECT version, source, actor, created_at FROM value_policies ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PolicyVersion {
                version: row.try_get("version")?,
                source: text(&row, "source")?,
                actor: text(&row, "actor")?,
                created_at: text(&row, "created_at")?,
            })
        })
        .transpose()
    }

    async fn policy_in(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<(Option<i64>, ValuePolicy)> {
        let row =
            sqlx::query("SELECT version, source FROM value_policies ORDER BY version DESC LIMIT 1")
                .fetch_optional(&mut **transaction)
                .await?;
        match row {
            None => Ok((None, ValuePolicy::default())),
            Some(row) => {
                let version: i64 = row.try_get("version")?;
                let policy = ValuePolicy::parse(&text(&row, "source")?).map_err(|errors| {
                    corrupt(format!(
                        "stored value policy version {version} no longer parses: {errors:?}"
                    ))
                })?;
                Ok((Some(version), policy))
            }
        }
    }

    /// Sets a manual tier that wins over the computed one through `expires_on` (inclusive).
    /// The customer's tier changes now, with a tier event; the next grading keeps it.
    pub async fn set_tier_override(
        &self,
        customer_id: &CustomerId,
        tier: &str,
        reason: &str,
        expires_on: NaiveDate,
        actor: &str,
        clock: Clock,
    ) -> StoreResult<StoredTierOverride> {
        let tier = tier.trim();
        // Checked here, where every caller passes: SQLite would keep a NUL that PostgreSQL refuses.
        let reason = allot_core::model::parse_free_text("reason", reason)?;
        let reason = reason.as_str();
        if reason.is_empty() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "reason",
                "an override needs a reason",
            )));
        }
        if expires_on < clock.today() {
            return Err(StoreError::Invalid(allot_core::FieldError::new(
                "expires_on",
                format!("{expires_on} is in the past"),
            )));
        }
        let mut write = self.begin_write().await?;
        let (_, policy) = self.policy_in(&mut write.transaction).await?;
        policy.check_override(tier).map_err(StoreError::Invalid)?;
        let current = sqlx::query("SELECT tier FROM customers WHERE id = $1")
            .bind(customer_id.as_str())
            .fetch_optional(&mut *write.transaction)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "customer",
                id: customer_id.to_string(),
            })?;
        let current_tier = text(&current, "tier")?;
        let now = format_timestamp(clock.now());
        sqlx::query(
            "INSERT INTO tier_overrides (customer_id, tier, reason, expires_on, actor, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier, reason = excluded.reason,
                 expires_on = excluded.expires_on, actor = excluded.actor, created_at = excluded.created_at",
        )
        .bind(customer_id.as_str())
        .bind(tier)
        .bind(reason)
        .bind(expires_on.to_string())
        .bind(actor)
        .bind(now.as_str())
        .execute(&mut *write.transaction)
        .await?;
        // Logged even when the tier stays the same: setting an override is a decision about the
        // customer's service level, and the audit trail holds every one.
        let score: f64 = sqlx::query("SELECT score FROM customer_values WHERE customer_id = $1")
            .bind(customer_id.as_str())
            .fetch_optional(&mut *write.transaction)
            .await?
            .map(|row| row.try_get("score"))
            .transpose()?
            .unwrap_or(0.0);
        let from = (!current_tier.is_empty()).then_some(current_tier.as_str());
        record_tier_events(
            &mut write.transaction,
            write.backend,
            &[NewTierEvent {
                at: &now,
                customer_id: customer_id.as_str(),
                from_tier: from,
                to_tier: tier,
                direction: direction(&policy, from, tier),
                score,
                reason: &format!("manual override until {expires_on}: {reason}"),
                actor,
            }],
        )
        .await?;
        if current_tier != tier {
            sqlx::query("UPDATE customers SET tier = $1 WHERE id = $2")
                .bind(tier)
                .bind(customer_id.as_str())
                .execute(&mut *write.transaction)
                .await?;
            sqlx::query("UPDATE customer_values SET tier = $1 WHERE customer_id = $2")
                .bind(tier)
                .bind(customer_id.as_str())
                .execute(&mut *write.transaction)
                .await?;
        }
        write.commit().await?;
        Ok(StoredTierOverride {
            customer_id: customer_id.to_string(),
            tier: tier.to_string(),
            reason: reason.trim().to_string(),
            expires_on: expires_on.to_string(),
            actor: actor.to_string(),
            created_at: now,
        })
    }

    /// Removes a manual tier. The computed tier of the last grading comes back at once, with a
    /// tier event, so the customer's tier never stays at a value nobody stands behind.
    pub async fn clear_tier_override(
        &self,
        customer_id: &CustomerId,
        actor: &str,
        clock: Clock,
    ) -> StoreResult<()> {
        let mut write = self.begin_write().await?;
        let (_, policy) = self.policy_in(&mut write.transaction).await?;
        let ended = end_override(
            &mut write,
            &policy,
            customer_id.as_str(),
            "manual override removed",
            actor,
            &format_timestamp(clock.now()),
        )
        .await?;
        if !ended {
            return Err(StoreError::NotFound {
                entity: "tier override",
                id: customer_id.to_string(),
            });
        }
        write.commit().await
    }

    /// Ends every override whose last day is before the clock's date (the daily job of `tick`).
    async fn expire_overrides(
        &self,
        write: &mut WriteTransaction,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<usize> {
        let (_, policy) = self.policy_in(&mut write.transaction).await?;
        let expired: Vec<(String, String)> = sqlx::query(
            "SELECT customer_id, expires_on FROM tier_overrides WHERE expires_on < $1 ORDER BY customer_id",
        )
        .bind(clock.today().to_string())
        .fetch_all(&mut *write.transaction)
        .await?
        .iter()
        .map(|row| Ok((text(row, "customer_id")?, text(row, "expires_on")?)))
        .collect::<StoreResult<_>>()?;
        let now = format_timestamp(clock.now());
        for (customer_id, expires_on) in &expired {
            end_override(
                write,
                &policy,
                customer_id,
                &format!("manual override expired after {expires_on}"),
                actor,
                &now,
            )
            .await?;
        }
        Ok(expired.len())
    }

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
        let now = format_timestamp(clock.now());
        if let Some(latest) = last_grading_at(&mut write)
            .await?
            .filter(|latest| *latest > now && !force)
        {
            return Err(StoreError::Refused {
                message: format!(
                    "the last grading was as of {latest}; grading as of {now}, earlier, would replace newer grades with older ones (use --force, or force=true in the API, to do it anyway)"
                ),
                field: Some("force".to_string()),
            });
        }
        let summary = self.score_in(&mut write, clock, actor).await?;
        write.commit().await?;
        Ok(summary)
    }

    async fn score_in(
        &self,
        write: &mut WriteTransaction,
        clock: Clock,
        actor: &str,
    ) -> StoreResult<ScoreSummary> {
        let (policy_version, policy) = self.policy_in(&mut write.transaction).await?;
        let now = format_timestamp(clock.now());
        let today = clock.today();
        let mut population = self.population_in(&mut write.transaction).await?;
        let overrides = overrides_in(&mut write.transaction).await?;
        let previous_tiers: HashMap<String, String> =
            sqlx::query("SELECT customer_id, tier FROM customer_values")
                .fetch_all(&mut *write.transaction)
                .await?
                .iter()
                .map(|row| Ok((text(row, "customer_id")?, text(row, "tier")?)))
                .collect::<StoreResult<_>>()?;

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
            as_of: now.clone(),
            policy_version,
            customers: grades.len(),
            clv: clv_report,
            ..Default::default()
        };
        let mut by_tier: BTreeMap<String, usize> = BTreeMap::new();
        let mut value_rows = Vec::with_capacity(grades.len());
        let mut tier_reasons = Vec::new();
        let mut tier_changes: Vec<(&str, Option<&str>, &str, &'static str, f64)> = Vec::new();
        let mut customer_tiers: Vec<(&str, &str)> = Vec::new();
        let mut alerts = AlertChanges::default();
        let customers = &population.customers;
        for ((customer, grade), estimate) in customers.iter().zip(&grades).zip(&estimates) {
            if grade.rfm.is_some() {
                summary.with_purchases += 1;
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
            value_rows.push(CustomerValueRow::new(&now, grade, estimate.as_ref())?);

            let previous = previous_tiers
                .get(customer.id.as_str())
                .map(String::as_str)
                .unwrap_or(customer.tier.as_str());
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
                tier_reasons.push(tier_reason(grade));
                tier_changes.push((
                    customer.id.as_str(),
                    from,
                    grade.tier.as_str(),
                    direction,
                    grade.score,
                ));
            }
            if customer.tier != grade.tier {
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

        let backend = write.backend;
        let transaction = &mut write.transaction;
        execute_batched(
            transaction,
            backend,
            CustomerValueRow::UPSERT,
            CustomerValueRow::CELLS,
            &value_rows,
            CustomerValueRow::bind,
        )
        .await?;
        let tier_events: Vec<NewTierEvent> = tier_changes
            .iter()
            .zip(&tier_reasons)
            .map(
                |(&(customer_id, from_tier, to_tier, direction, score), reason)| NewTierEvent {
                    at: &now,
                    customer_id,
                    from_tier,
                    to_tier,
                    direction,
                    score,
                    reason,
                    actor,
                },
            )
            .collect();
        record_tier_events(transaction, backend, &tier_events).await?;
        execute_batched(
            transaction,
            backend,
            "WITH graded(id, tier) AS (VALUES {rows})
             UPDATE customers SET tier = graded.tier FROM graded WHERE customers.id = graded.id",
            &["{}"; 2],
            &customer_tiers,
            |query, (id, tier)| query.bind(*id).bind(*tier),
        )
        .await?;
        alerts.write(transaction, backend, &now).await?;
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
        sqlx::query("INSERT INTO value_runs (at, actor, summary) VALUES ($1, $2, $3)")
            .bind(now.as_str())
            .bind(actor)
            .bind(serde_json::to_string(&summary).map_err(corrupt)?)
            .execute(&mut *write.transaction)
            .await?;
        Ok(summary)
    }

    /// The daily job between monthly re-grades: health changes every day (recency grows, a
    /// ticket opens), so it is recomputed as of the clock for every graded customer, from the
    /// P(alive) of the last grading, and alerts open and close with it. Scores and tiers stay
    /// as graded: they are relative to the whole population and change monthly.
    async fn refresh_health_in(
        &self,
        write: &mut WriteTransaction,
        clock: Clock,
    ) -> StoreResult<HealthSummary> {
        let (_, policy) = self.policy_in(&mut write.transaction).await?;
        let now = format_timestamp(clock.now());
        let mut population = self.population_in(&mut write.transaction).await?;
        let stored_p_alive: HashMap<String, Option<f64>> =
            sqlx::query("SELECT customer_id, p_alive FROM customer_values")
                .fetch_all(&mut *write.transaction)
                .await?
                .iter()
                .map(|row| Ok((text(row, "customer_id")?, row.try_get("p_alive")?)))
                .collect::<StoreResult<_>>()?;
        let purchase_days = population.purchase_days(clock);
        let measured: Vec<(Option<f64>, Option<f64>)> = population
            .customers
            .iter()
            .map(|customer| {
                (
                    None,
                    stored_p_alive.get(customer.id.as_str()).copied().flatten(),
                )
            })
            .collect();
        let inputs = population.value_inputs(purchase_days, &measured, &HashMap::new(), clock);
        let mut summary = HealthSummary::default();
        let mut rows = Vec::new();
        let mut alerts = AlertChanges::default();
        for (customer, input) in population.customers.iter().zip(&inputs) {
            // Never graded: the monthly re-grade gives it a value first.
            if !stored_p_alive.contains_key(customer.id.as_str()) {
                continue;
            }
            let (health, parts, at_risk) = customer_health(&policy, input, clock);
            summary.customers += 1;
            if at_risk {
                summary.at_risk += 1;
            }
            alerts.note(customer, at_risk, health, &parts, &population.open_alerts);
            rows.push((
                customer.id.as_str(),
                health,
                i64::from(at_risk),
                serde_json::to_string(&parts).map_err(corrupt)?,
                now.as_str(),
            ));
        }
        summary.alerts_raised = alerts.raised.len();
        summary.alerts_closed = alerts.closed.len();
        let backend = write.backend;
        execute_batched(
            &mut write.transaction,
            backend,
            "WITH refreshed(id, health, at_risk, parts, as_of) AS (VALUES {rows})
             UPDATE customer_values SET health = refreshed.health, at_risk = refreshed.at_risk,
                 health_parts = refreshed.parts, health_as_of = refreshed.as_of
             FROM refreshed WHERE customer_values.customer_id = refreshed.id",
            &[
                "{}",
                "CAST({} AS DOUBLE PRECISION)",
                "CAST({} AS BIGINT)",
                "{}",
                "{}",
            ],
            &rows,
            |query, (id, health, at_risk, parts, as_of)| {
                query
                    .bind(*id)
                    .bind(*health)
                    .bind(*at_risk)
                    .bind(parts.as_str())
                    .bind(*as_of)
            },
        )
        .await?;
        alerts.write(&mut write.transaction, backend, &now).await?;
        Ok(summary)
    }

    /// Every customer with its activity, tickets and open health alerts, read in `transaction`.
    async fn population_in(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    ) -> StoreResult<Population> {
        let mut customers = Vec::new();
        for row in sqlx::query("SELECT id, owner_id, tier, attributes FROM customers")
            .fetch_all(&mut **transaction)
            .await?
        {
            customers.push(PopulationCustomer {
                id: CustomerId::parse(&text(&row, "id")?).map_err(corrupt)?,
                owner_id: optional_text(&row, "owner_id")?,
                tier: text(&row, "tier")?,
                attributes: serde_json::from_str(&text(&row, "attributes")?).map_err(corrupt)?,
            });
        }
        // Byte order of ids, the same on both backends, so runs are reproducible.
        customers.sort_by(|left, right| left.id.cmp(&right.id));
        let activity = self.load_activity(transaction).await?;
        let tickets = self.load_tickets(transaction).await?;
        let open_alerts = sqlx::query(
            "SELECT customer_id, id FROM alerts WHERE status = 'open' AND kind = 'health'",
        )
        .fetch_all(&mut **transaction)
        .await?
        .iter()
        .map(|row| Ok((text(row, "customer_id")?, row.try_get("id")?)))
        .collect::<StoreResult<_>>()?;
        Ok(Population {
            customers,
            activity,
            tickets,
            open_alerts,
        })
    }

    /// Runs the scheduled jobs that are due as of the clock, each once per period:
    /// `expire_overrides` and `refresh_health` daily, `monthly_regrade` on the first tick of a
    /// calendar month (at the clock's offset). `job_runs` records them under the routing lock,
    /// so with several processes on PostgreSQL exactly one runs each. A tick into a month
    /// before the last re-grade is refused unless `force`, which also forgets the later runs
    /// (a tick made far in the future by mistake would otherwise block every real one).
    pub async fn tick(&self, clock: Clock, actor: &str, force: bool) -> StoreResult<TickSummary> {
        let mut write = self.begin_write().await?;
        let now = format_timestamp(clock.now());
        let period = clock.today().format("%Y-%m").to_string();
        let day = clock.today().to_string();
        let mut summary = TickSummary {
            at: now.clone(),
            ..Default::default()
        };
        // Jobs and gradings already run as of a later time: ticking before them would undo
        // newer results with older ones (and close alerts before they opened).
        let later: Vec<(String, String)> =
            sqlx::query("SELECT job, period FROM job_runs WHERE at > $1 ORDER BY at, job, period")
                .bind(now.as_str())
                .fetch_all(&mut *write.transaction)
                .await?
                .iter()
                .map(|row| Ok((text(row, "job")?, text(row, "period")?)))
                .collect::<StoreResult<_>>()?;
        let later_grading = last_grading_at(&mut write)
            .await?
            .filter(|at| at.as_str() > now.as_str());
        // A forced tick before a later grading grades again as of its own time, so that
        // grading, not the later one, is what the next ticks compare with.
        let regrade_now = later_grading.is_some();
        if !later.is_empty() || later_grading.is_some() {
            if !force {
                let last = later
                    .last()
                    .map(|(job, period)| format!("{job} for {period}"))
                    .or(later_grading.map(|at| format!("a grading as of {at}")))
                    .unwrap_or_default();
                return Err(StoreError::Refused {
                    message: format!(
                        "{last} already ran after {now}; ticking earlier would overwrite newer results (use --force, or force=true in the API, to tick anyway and forget the later runs)"
                    ),
                    field: Some("at".to_string()),
                });
            }
            sqlx::query("DELETE FROM job_runs WHERE at > $1")
                .bind(now.as_str())
                .execute(&mut *write.transaction)
                .await?;
            summary.forgotten_runs = later
                .into_iter()
                .map(|(job, period)| format!("{job} {period}"))
                .collect();
        }
        if self
            .claim_job(&mut write, EXPIRE_OVERRIDES_JOB, &day, &now, &mut summary)
            .await?
        {
            summary.overrides_expired = self.expire_overrides(&mut write, clock, actor).await?;
        }
        let monthly_due = self
            .claim_job(&mut write, MONTHLY_REGRADE_JOB, &period, &now, &mut summary)
            .await?;
        if monthly_due || regrade_now {
            summary.regrade = Some(self.score_in(&mut write, clock, actor).await?);
        }
        if self
            .claim_job(&mut write, REFRESH_HEALTH_JOB, &day, &now, &mut summary)
            .await?
            && summary.regrade.is_none()
        {
            // A re-grade in the same tick has just computed health itself.
            summary.health = Some(self.refresh_health_in(&mut write, clock).await?);
        }
        write.commit().await?;
        Ok(summary)
    }

    /// Records `job` as done for `period` and says whether it is due; false (and noted as
    /// already done) when it ran for this period before.
    async fn claim_job(
        &self,
        write: &mut WriteTransaction,
        job: &str,
        period: &str,
        now: &str,
        summary: &mut TickSummary,
    ) -> StoreResult<bool> {
        let done = sqlx::query("SELECT 1 FROM job_runs WHERE job = $1 AND period = $2")
            .bind(job)
            .bind(period)
            .fetch_optional(&mut *write.transaction)
            .await?
            .is_some();
        if done {
            summary
                .already_done
                .push((job.to_string(), period.to_string()));
            return Ok(false);
        }
        sqlx::query("INSERT INTO job_runs (job, period, at) VALUES ($1, $2, $3)")
            .bind(job)
            .bind(period)
            .bind(now)
            .execute(&mut *write.transaction)
            .await?;
        summary.ran.push((job.to_string(), period.to_string()));
        Ok(true)
    }

    /// A customer's stored value, override and tier history (newest first).
    pub async fn customer_value(&self, customer_id: &CustomerId) -> StoreResult<CustomerValue> {
        // One snapshot, so a grading run committing meanwhile cannot pair new values with old history.
        let mut read = self.begin_read().await?;
        let last_interaction_at =
            sqlx::query("SELECT last_interaction_at FROM customers WHERE id = $1")
                .bind(customer_id.as_str())
                .fetch_optional(&mut *read)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    entity: "customer",
                    id: customer_id.to_string(),
                })?;
        let last_interaction_at = optional_text(&last_interaction_at, "last_interaction_at")?;
        let stored = sqlx::query(
            "SELECT details, tier, health, at_risk, health_parts, health_as_of
             FROM customer_values WHERE customer_id = $1",
        )
        .bind(customer_id.as_str())
        .fetch_optional(&mut *read)
        .await?;
        let tier_override = sqlx::query(
            "SELECT customer_id, tier, reason, expires_on, actor, created_at FROM tier_overrides WHERE customer_id = $1",
        )
        .bind(customer_id.as_str())
        .fetch_optional(&mut *read)
        .await?
        .map(|row| {
            Ok::<_, StoreError>(StoredTierOverride {
                customer_id: text(&row, "customer_id")?,
                tier: text(&row, "tier")?,
                reason: text(&row, "reason")?,
                expires_on: text(&row, "expires_on")?,
                actor: text(&row, "actor")?,
                created_at: text(&row, "created_at")?,
            })
        })
        .transpose()?;
        let tier_history = sqlx::query(
            "SELECT id, at, customer_id, from_tier, to_tier, direction, score, reason, actor
             FROM tier_events WHERE customer_id = $1 ORDER BY id DESC",
        )
        .bind(customer_id.as_str())
        .fetch_all(&mut *read)
        .await?
        .iter()
        .map(tier_event_from_row)
        .collect::<StoreResult<_>>()?;
        // The details are the grading run's; the tier (overrides change it between runs) and
        // health (the daily job refreshes it) are read from their columns, which are current.
        let value = stored
            .map(|row| -> StoreResult<ValueDetails> {
                let mut details: ValueDetails =
                    serde_json::from_str(&text(&row, "details")?).map_err(corrupt)?;
                let tier = text(&row, "tier")?;
                details.override_active = tier_override
                    .as_ref()
                    .is_some_and(|stored| stored.tier == tier);
                details.tier = tier;
                details.health = row.try_get::<f64, _>("health")?;
                details.at_risk = row.try_get::<i64, _>("at_risk")? != 0;
                if let Some(parts) = optional_text(&row, "health_parts")? {
                    details.health_parts = serde_json::from_str(&parts).map_err(corrupt)?;
                }
                details.health_as_of = optional_text(&row, "health_as_of")?;
                Ok(details)
            })
            .transpose()?;
        Ok(CustomerValue {
            customer_id: customer_id.to_string(),
            last_interaction_at,
            value,
            tier_override,
            tier_history,
        })
    }

    /// Tier events, oldest first, after a cursor: the audit trail of grading runs and overrides.
    pub async fn list_tier_events(&self, filter: &TierEventFilter) -> StoreResult<Vec<TierEvent>> {
        sqlx::query(
            "SELECT id, at, customer_id, from_tier, to_tier, direction, score, reason, actor
             FROM tier_events
             WHERE ($1 IS NULL OR customer_id = $1) AND id > $2
             ORDER BY id LIMIT $3",
        )
        .bind(filter.customer_id.as_deref())
        .bind(filter.after_id.unwrap_or(0))
        .bind(if filter.limit > 0 { filter.limit } else { 1000 })
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(tier_event_from_row)
        .collect()
    }

    /// Alerts, newest first.
    pub async fn list_alerts(&self, filter: &AlertFilter) -> StoreResult<Vec<Alert>> {
        let rows = sqlx::query(
            "SELECT id, at, customer_id, owner_id, kind, message, health, status, closed_at FROM alerts
             WHERE ($1 = 1 OR status = 'open')
               AND ($2 IS NULL OR owner_id = $2)
               AND ($3 IS NULL OR customer_id = $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(i64::from(filter.include_closed))
        .bind(filter.owner_id.as_deref())
        .bind(filter.customer_id.as_deref())
        .bind(if filter.limit > 0 { filter.limit } else { 100 })
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Alert {
                    id: row.try_get("id")?,
                    at: text(row, "at")?,
                    customer_id: text(row, "customer_id")?,
                    owner_id: optional_text(row, "owner_id")?,
                    kind: text(row, "kind")?,
                    message: text(row, "message")?,
                    health: row.try_get("health")?,
                    status: text(row, "status")?,
                    closed_at: optional_text(row, "closed_at")?,
                })
            })
            .collect()
    }

    /// Tier sizes and value shares, the ABC table and RFM segment counts of the last run.
    pub async fn value_report(&self) -> StoreResult<ValueReport> {
        // Policy and values from one snapshot: tiers are named by the policy they were graded with.
        let mut read = self.begin_read().await?;
        let (_, policy) = self.policy_in(&mut read).await?;
        let rows = sqlx::query(
            "SELECT as_of, tier, abc, rfm_segment, monetary, clv, score, at_risk FROM customer_values",
        )
        .fetch_all(&mut *read)
        .await?;
        let mut as_of: Option<String> = None;
        let mut tiers: BTreeMap<String, TierRow> = BTreeMap::new();
        let mut abc: BTreeMap<String, AbcRow> = BTreeMap::new();
        let mut segments: BTreeMap<String, usize> = BTreeMap::new();
        let (mut total_monetary, mut total_clv, mut at_risk) = (0.0, 0.0, 0);
        for row in &rows {
            let row_as_of = text(row, "as_of")?;
            if as_of.as_ref().is_none_or(|seen| *seen < row_as_of) {
                as_of = Some(row_as_of);
            }
            let monetary = row.try_get::<Option<f64>, _>("monetary")?.unwrap_or(0.0);
            let clv = row.try_get::<Option<f64>, _>("clv")?.unwrap_or(0.0);
            let score: f64 = row.try_get("score")?;
            total_monetary += monetary;
            total_clv += clv;
            if row.try_get::<i64, _>("at_risk")? != 0 {
                at_risk += 1;
            }
            let tier = text(row, "tier")?;
            let entry = tiers.entry(tier.clone()).or_insert_with(|| TierRow {
                tier,
                customers: 0,
                monetary: 0.0,
                monetary_share: 0.0,
                clv: 0.0,
                clv_share: 0.0,
                mean_score: 0.0,
            });
            entry.customers += 1;
            entry.monetary += monetary;
            entry.clv += clv;
            entry.mean_score += score;
            let class = text(row, "abc")?;
            let entry = abc.entry(class.clone()).or_insert_with(|| AbcRow {
                class,
                customers: 0,
                customer_share: 0.0,
                monetary: 0.0,
                monetary_share: 0.0,
            });
            entry.customers += 1;
            entry.monetary += monetary;
            // Not a segment name (conditions cannot test for it): customers without purchases.
            let segment =
                optional_text(row, "rfm_segment")?.unwrap_or_else(|| "(no purchases)".to_string());
            *segments.entry(segment).or_insert(0) += 1;
        }
        let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
        let customers = rows.len();
        let mut ordered_tiers = Vec::new();
        for name in policy.tier_names() {
            if let Some(row) = tiers.remove(&name) {
                ordered_tiers.push(row);
            }
        }
        ordered_tiers.extend(tiers.into_values());
        for row in &mut ordered_tiers {
            row.monetary_share = share(row.monetary, total_monetary);
            row.clv_share = share(row.clv, total_clv);
            row.mean_score /= row.customers.max(1) as f64;
        }
        let abc = abc
            .into_values()
            .map(|mut row| {
                row.customer_share = share(row.customers as f64, customers as f64);
                row.monetary_share = share(row.monetary, total_monetary);
                row
            })
            .collect();
        let mut segments: Vec<(String, usize)> = segments.into_iter().collect();
        segments.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
        Ok(ValueReport {
            as_of,
            customers,
            tiers: ordered_tiers,
            abc,
            segments,
            at_risk,
        })
    }
}

/// A customer as grading reads it.
struct PopulationCustomer {
    id: CustomerId,
    owner_id: Option<String>,
    tier: String,
    attributes: BTreeMap<String, String>,
}

/// Everything a grading or health run reads about the customers, from its transaction.
struct Population {
    customers: Vec<PopulationCustomer>,
    activity: BTreeMap<String, CustomerActivity>,
    /// `None` when no ticket was ever recorded (tickets are then unknown, not zero).
    tickets: Option<BTreeMap<String, Vec<TicketSpan>>>,
    /// Open health alert id by customer.
    open_alerts: HashMap<String, i64>,
}

impl Population {
    /// Each customer's purchase days as of the clock. Purchases after the clock are not known
    /// yet as of the clock: a re-run "as of" an earlier date gives the answer that date would.
    fn purchase_days(&self, clock: Clock) -> Vec<Vec<PurchaseDay>> {
        self.customers
            .iter()
            .map(|customer| {
                let known: Vec<_> = self
                    .activity
                    .get(customer.id.as_str())
                    .map(|activity| activity.transactions.as_slice())
                    .unwrap_or_default()
                    .iter()
                    .copied()
                    .filter(|(at, _)| *at <= clock.now())
                    .collect();
                daily_purchases(&known)
            })
            .collect()
    }

    /// Grading inputs in customer order; `measured` is (clv, p_alive) per customer. Activity
    /// is taken out of the population, which is read once per run.
    fn value_inputs(
        &mut self,
        purchase_days: Vec<Vec<PurchaseDay>>,
        measured: &[(Option<f64>, Option<f64>)],
        overrides: &HashMap<String, TierOverride>,
        clock: Clock,
    ) -> Vec<CustomerValueInput> {
        let now = clock.now();
        self.customers
            .iter()
            .zip(purchase_days)
            .zip(measured)
            .map(|((customer, purchase_days), &(clv, p_alive))| {
                let activity = self
                    .activity
                    .remove(customer.id.as_str())
                    .unwrap_or_default();
                // Touches after the clock have not happened yet as of the clock.
                let known: Vec<_> = activity
                    .interactions
                    .iter()
                    .filter(|(at, _)| *at <= now)
                    .collect();
                let spans: &[TicketSpan] = self
                    .tickets
                    .as_ref()
                    .and_then(|tickets| tickets.get(customer.id.as_str()))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let opened: Vec<&TicketSpan> =
                    spans.iter().filter(|(opened, _)| *opened <= now).collect();
                let open = opened
                    .iter()
                    .filter(|(_, closed)| closed.is_none_or(|closed| closed > now))
                    .count();
                CustomerValueInput {
                    customer_id: customer.id.clone(),
                    purchase_days,
                    clv,
                    p_alive,
                    interaction_minutes: known.iter().map(|(_, minutes)| minutes).sum(),
                    interaction_days: known.iter().map(|(at, _)| at.date_naive()).collect(),
                    open_tickets: self.tickets.as_ref().map(|_| open as u32),
                    tickets_opened: opened.len() as u32,
                    attributes: customer.attributes.clone(),
                    tier_override: overrides.get(customer.id.as_str()).cloned(),
                }
            })
            .collect()
    }
}

/// What the daily health refresh did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSummary {
    /// Graded customers whose health was recomputed.
    pub customers: usize,
    pub at_risk: usize,
    pub alerts_raised: usize,
    pub alerts_closed: usize,
}

/// Health alerts to open (customer newly below the threshold) and close (recovered).
#[derive(Default)]
struct AlertChanges<'a> {
    raised: Vec<(&'a str, Option<&'a str>, String, f64)>,
    closed: Vec<i64>,
}

impl<'a> AlertChanges<'a> {
    fn note(
        &mut self,
        customer: &'a PopulationCustomer,
        at_risk: bool,
        health: f64,
        parts: &[(String, f64)],
        open_alerts: &HashMap<String, i64>,
    ) {
        match (at_risk, open_alerts.get(customer.id.as_str())) {
            (true, None) => self.raised.push((
                customer.id.as_str(),
                customer.owner_id.as_deref(),
                health_message(health, parts),
                health,
            )),
            (false, Some(alert_id)) => self.closed.push(*alert_id),
            _ => {}
        }
    }

    async fn write(
        &self,
        transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
        backend: crate::Backend,
        now: &str,
    ) -> StoreResult<()> {
        let raised: Vec<_> = self
            .raised
            .iter()
            .map(|(customer_id, owner_id, message, health)| {
                (now, *customer_id, *owner_id, message, *health)
            })
            .collect();
        execute_batched(
            transaction,
            backend,
            "INSERT INTO alerts (at, customer_id, owner_id, kind, message, health, status) VALUES {rows}",
            &["{}", "{}", "{}", "'health'", "{}", "{}", "'open'"],
            &raised,
            |query, (at, customer_id, owner_id, message, health)| {
                query
                    .bind(*at)
                    .bind(*customer_id)
                    .bind(*owner_id)
                    .bind(message.as_str())
                    .bind(*health)
            },
        )
        .await?;
        let closed: Vec<_> = self
            .closed
            .iter()
            .map(|alert_id| (*alert_id, now))
            .collect();
        execute_batched(
            transaction,
            backend,
            "WITH closed(id, closed_at) AS (VALUES {rows})
             UPDATE alerts SET status = 'closed', closed_at = closed.closed_at
             FROM closed WHERE alerts.id = closed.id",
            &["{}"; 2],
            &closed,
            |query, (id, at)| query.bind(*id).bind(*at),
        )
        .await?;
        Ok(())
    }
}

/// Every stored override by customer.
async fn overrides_in(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
) -> StoreResult<HashMap<String, TierOverride>> {
    sqlx::query("SELECT customer_id, tier, reason, expires_on FROM tier_overrides")
        .fetch_all(&mut **transaction)
        .await?
        .iter()
        .map(|row| {
            let expires_on = NaiveDate::parse_from_str(&text(row, "expires_on")?, "%Y-%m-%d")
                .map_err(corrupt)?;
            Ok((
                text(row, "customer_id")?,
                TierOverride {
                    tier: text(row, "tier")?,
                    reason: text(row, "reason")?,
                    expires_on,
                },
            ))
        })
        .collect()
}

/// The clock time of the most recent grading run, by when it was made: after a forced run back
/// in time, that run is the one to compare with, not a later-dated one it replaced.
async fn last_grading_at(write: &mut WriteTransaction) -> StoreResult<Option<String>> {
    sqlx::query("SELECT at FROM value_runs ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *write.transaction)
        .await?
        .map(|row| text(&row, "at"))
        .transpose()
}

/// Deletes a customer's override and puts the last computed tier back (with a tier event when
/// the tier changes). Returns false when there was no override.
async fn end_override(
    write: &mut WriteTransaction,
    policy: &ValuePolicy,
    customer_id: &str,
    reason: &str,
    actor: &str,
    now: &str,
) -> StoreResult<bool> {
    let removed = sqlx::query("DELETE FROM tier_overrides WHERE customer_id = $1")
        .bind(customer_id)
        .execute(&mut *write.transaction)
        .await?;
    if removed.rows_affected() == 0 {
        return Ok(false);
    }
    let current = sqlx::query(
        "SELECT customers.tier AS tier,
             (SELECT computed_tier FROM customer_values WHERE customer_values.customer_id = customers.id) AS computed_tier,
             (SELECT score FROM customer_values WHERE customer_values.customer_id = customers.id) AS score
         FROM customers WHERE id = $1",
    )
    .bind(customer_id)
    .fetch_one(&mut *write.transaction)
    .await?;
    let tier = text(&current, "tier")?;
    // Never graded: there is no computed tier to return to; the next grading sets one.
    let computed = optional_text(&current, "computed_tier")?;
    let to = computed.clone().unwrap_or_else(|| tier.clone());
    let score: Option<f64> = current.try_get("score")?;
    let from = (!tier.is_empty()).then_some(tier.as_str());
    // Logged whether or not the tier changes, like setting one.
    let reason = match &computed {
        Some(computed) if *computed != tier => {
            format!("{reason}; computed tier {computed} applies again")
        }
        Some(_) => format!("{reason}; the computed tier is the same"),
        None => format!("{reason}; not graded yet, so the tier stays until the first grading"),
    };
    record_tier_events(
        &mut write.transaction,
        write.backend,
        &[NewTierEvent {
            at: now,
            customer_id,
            from_tier: from,
            to_tier: &to,
            direction: direction(policy, from, &to),
            score: score.unwrap_or(0.0),
            reason: &reason,
            actor,
        }],
    )
    .await?;
    if to != tier {
        sqlx::query("UPDATE customers SET tier = $1 WHERE id = $2")
            .bind(to.as_str())
            .bind(customer_id)
            .execute(&mut *write.transaction)
            .await?;
        sqlx::query("UPDATE customer_values SET tier = $1 WHERE customer_id = $2")
            .bind(to.as_str())
            .bind(customer_id)
            .execute(&mut *write.transaction)
            .await?;
    }
    Ok(true)
}

struct NewTierEvent<'a> {
    at: &'a str,
    customer_id: &'a str,
    from_tier: Option<&'a str>,
    to_tier: &'a str,
    direction: &'static str,
    score: f64,
    reason: &'a str,
    actor: &'a str,
}

async fn record_tier_events(
    transaction: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: crate::Backend,
    events: &[NewTierEvent<'_>],
) -> StoreResult<()> {
    execute_batched(
        transaction,
        backend,
        "INSERT INTO tier_events (at, customer_id, from_tier, to_tier, direction, score, reason, actor)
         VALUES {rows}",
        &["{}"; 8],
        events,
        |query, event| {
            query
                .bind(event.at)
                .bind(event.customer_id)
                .bind(event.from_tier)
                .bind(event.to_tier)
                .bind(event.direction)
                .bind(event.score)
                .bind(event.reason)
                .bind(event.actor)
        },
    )
    .await?;
    Ok(())
}

fn tier_event_from_row(row: &sqlx::any::AnyRow) -> StoreResult<TierEvent> {
    Ok(TierEvent {
        id: row.try_get("id")?,
        at: text(row, "at")?,
        customer_id: text(row, "customer_id")?,
        from_tier: optional_text(row, "from_tier")?,
        to_tier: text(row, "to_tier")?,
        direction: text(row, "direction")?,
        score: row.try_get("score")?,
        reason: text(row, "reason")?,
        actor: text(row, "actor")?,
    })
}

/// `up` when the new tier comes earlier in the policy's order (best first), `down` when later,
/// `set` when either side is not a tier of the policy (first grading, renamed tiers).
fn direction(policy: &ValuePolicy, from: Option<&str>, to: &str) -> &'static str {
    let names = policy.tier_names();
    let position = |tier: &str| names.iter().position(|name| name == tier);
    match (from.and_then(position), position(to)) {
        (Some(old), Some(new)) if new < old => "up",
        (Some(old), Some(new)) if new > old => "down",
        _ => "set",
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

fn health_message(health: f64, parts: &[(String, f64)]) -> String {
    let weakest = parts
        .iter()
        .min_by(|left, right| left.1.total_cmp(&right.1))
        .map(|(name, value)| format!("; weakest: {name} {value:.2}"))
        .unwrap_or_default();
    format!("health {health:.0}/100 is below the alert threshold{weakest}")
}

/// A nullable number sent as text and cast in SQL. sqlx's Any driver gives a NULL double the
/// PostgreSQL type float4, and a statement prepared with a NULL first then rejects 8-byte
/// doubles ("incorrect binary data format"); text has one type whether NULL or not.
fn nullable_number(value: Option<f64>) -> Option<String> {
    value
        .filter(|number| number.is_finite())
        .map(|number| number.to_string())
}

/// One customer's grading result as written to `customer_values`.
struct CustomerValueRow {
    customer_id: String,
    as_of: String,
    recency_days: Option<i64>,
    frequency: Option<i64>,
    monetary: Option<String>,
    recency_score: Option<i64>,
    frequency_score: Option<i64>,
    monetary_score: Option<i64>,
    rfm_segment: Option<&'static str>,
    p_alive: Option<String>,
    expected_purchases: Option<String>,
    expected_spend: Option<String>,
    clv: Option<String>,
    score: f64,
    abc: String,
    computed_tier: String,
    tier: String,
    health: f64,
    at_risk: i64,
    details: String,
    health_parts: String,
}

impl CustomerValueRow {
    const UPSERT: &'static str = "INSERT INTO customer_values (customer_id, as_of, recency_days, frequency,
             monetary, recency_score, frequency_score, monetary_score, rfm_segment, p_alive,
             expected_purchases, expected_spend, clv, score, abc, computed_tier, tier, health, at_risk,
             details, health_parts, health_as_of)
         VALUES {rows}
         ON CONFLICT (customer_id) DO UPDATE SET as_of = excluded.as_of, recency_days = excluded.recency_days,
             frequency = excluded.frequency, monetary = excluded.monetary, recency_score = excluded.recency_score,
             frequency_score = excluded.frequency_score, monetary_score = excluded.monetary_score,
             rfm_segment = excluded.rfm_segment, p_alive = excluded.p_alive,
             expected_purchases = excluded.expected_purchases, expected_spend = excluded.expected_spend,
             clv = excluded.clv, score = excluded.score, abc = excluded.abc,
             computed_tier = excluded.computed_tier, tier = excluded.tier, health = excluded.health,
             at_risk = excluded.at_risk, details = excluded.details,
             health_parts = excluded.health_parts, health_as_of = excluded.health_as_of";

    /// Nullable numbers travel as text and are cast in SQL: sqlx's Any driver sends a null
    /// f64 to PostgreSQL as float4, which the double precision columns refuse.
    const CELLS: &'static [&'static str] = &[
        "{}",
        "{}",
        "{}",
        "{}",
        "CAST({} AS DOUBLE PRECISION)",
        "{}",
        "{}",
        "{}",
        "{}",
        "CAST({} AS DOUBLE PRECISION)",
        "CAST({} AS DOUBLE PRECISION)",
        "CAST({} AS DOUBLE PRECISION)",
        "CAST({} AS DOUBLE PRECISION)",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
    ];

    fn new(
        now: &str,
        grade: &CustomerGrade,
        estimate: Option<&crate::clv_estimates::ClvEstimate>,
    ) -> StoreResult<Self> {
        let details = ValueDetails {
            as_of: now.to_string(),
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
            as_of: now.to_string(),
            recency_days: rfm.map(|rfm| rfm.recency_days),
            frequency: rfm.map(|rfm| i64::from(rfm.frequency)),
            monetary: nullable_number(rfm.map(|rfm| rfm.monetary)),
            recency_score: rfm.map(|rfm| i64::from(rfm.recency_score)),
            frequency_score: rfm.map(|rfm| i64::from(rfm.frequency_score)),
            monetary_score: rfm.map(|rfm| i64::from(rfm.monetary_score)),
            rfm_segment: rfm.map(|rfm| rfm.segment.as_str()),
            p_alive: nullable_number(estimate.map(|estimate| estimate.p_alive)),
            expected_purchases: nullable_number(
                estimate.map(|estimate| estimate.expected_purchases),
            ),
            expected_spend: nullable_number(estimate.map(|estimate| estimate.expected_spend)),
            clv: nullable_number(estimate.map(|estimate| estimate.clv)),
            score: grade.score,
            abc: format!("{:?}", grade.abc),
            computed_tier: grade.computed_tier.clone(),
            tier: grade.tier.clone(),
            health: grade.health,
            at_risk: i64::from(grade.at_risk),
            details: serde_json::to_string(&details).map_err(corrupt)?,
            health_parts: serde_json::to_string(&grade.health_parts).map_err(corrupt)?,
        })
    }

    fn bind<'q>(query: AnyQuery<'q>, row: &'q Self) -> AnyQuery<'q> {
        query
            .bind(row.customer_id.as_str())
            .bind(row.as_of.as_str())
            .bind(row.recency_days)
            .bind(row.frequency)
            .bind(row.monetary.as_deref())
            .bind(row.recency_score)
            .bind(row.frequency_score)
            .bind(row.monetary_score)
            .bind(row.rfm_segment)
            .bind(row.p_alive.as_deref())
            .bind(row.expected_purchases.as_deref())
            .bind(row.expected_spend.as_deref())
            .bind(row.clv.as_deref())
            .bind(row.score)
            .bind(row.abc.as_str())
            .bind(row.computed_tier.as_str())
            .bind(row.tier.as_str())
            .bind(row.health)
            .bind(row.at_risk)
            .bind(row.details.as_str())
            .bind(row.health_parts.as_str())
            .bind(row.as_of.as_str())
    }
}
