//! Reading value back: one customer's value with its override and tier history, and the value
//! report (tier sizes and value shares, ABC table, RFM segments).

use std::collections::BTreeMap;

use allot_core::{CustomerId, Money};
use serde::Serialize;
use sqlx::types::Json;

use super::overrides::{OverrideRow, StoredTierOverride, OVERRIDE_COLUMNS};
use super::tier_events::{tier_history, TierEvent};
use super::ValueDetails;
use crate::database::{on_backend, sql};
use crate::error::{StoreError, StoreResult};
use crate::{Store, StoredTime};

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

/// Value report: tier sizes and value share, the ABC table and RFM segment counts.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueReport {
    pub as_of: Option<String>,
    pub customers: usize,
    pub tiers: Vec<TierRow>,
    pub abc: Vec<AbcRow>,
    /// Customers per RFM segment (`(no purchases)` for those without any), largest first.
    pub segments: Vec<(String, usize)>,
    /// Customers whose health is known and below the policy's `alert_below`.
    pub health_below_threshold: usize,
    /// Customers with no measurable health yet.
    pub health_unknown: usize,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierRow {
    pub tier: String,
    pub customers: usize,
    /// Net amount bought, in major units.
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
    /// Net amount bought, in major units.
    pub monetary: f64,
    pub monetary_share: f64,
}

#[derive(sqlx_macros::FromRow)]
struct StoredValueRow {
    details: Json<ValueDetails>,
    tier: String,
    health: Option<f64>,
    at_risk: bool,
    health_parts: Option<Json<Vec<(String, f64)>>>,
    health_as_of: Option<StoredTime>,
}

/// The value rows of one (tier, ABC class, segment), added up by the database: a report over
/// 100,000 customers reads a few dozen of these instead of every row.
#[derive(sqlx_macros::FromRow)]
struct ReportGroup {
    as_of: Option<StoredTime>,
    tier: String,
    abc: String,
    rfm_segment: Option<String>,
    customers: i64,
    monetary_minor: Option<i64>,
    clv: Option<f64>,
    score: Option<f64>,
}

impl Store {
    /// A customer's stored value, override and tier history (newest first).
    pub async fn customer_value(&self, customer_id: &CustomerId) -> StoreResult<CustomerValue> {
        // One snapshot, so a grading run committing meanwhile cannot pair new values with old history.
        let mut read = self.database.begin_read().await?;
        let (last_interaction_at, stored, tier_override) = on_backend!(
            &mut read,
            |connection, Db| {
                let last: Option<Option<StoredTime>> =
                    sql!(Db; "SELECT last_interaction_at FROM customers WHERE id = ",
                bind(customer_id.as_str()))
                    .build_query_scalar()
                    .fetch_optional(&mut *connection)
                    .await?;
                let stored: Option<StoredValueRow> = sql!(Db;
                "SELECT v.details, v.tier, h.health, h.at_risk, h.health_parts, h.health_as_of \
                 FROM customer_values AS v JOIN customer_health AS h ON h.customer_id = v.customer_id \
                 WHERE v.customer_id = ",
                bind(customer_id.as_str()))
            .build_query_as()
            .fetch_optional(&mut *connection)
            .await?;
                let tier_override: Option<OverrideRow> = sql!(Db;
                format!("SELECT {OVERRIDE_COLUMNS} FROM tier_overrides WHERE customer_id = "),
                bind(customer_id.as_str()))
                .build_query_as()
                .fetch_optional(&mut *connection)
                .await?;
                (last, stored, tier_override)
            }
        );
        let last_interaction_at = last_interaction_at.ok_or_else(|| StoreError::NotFound {
            entity: "customer",
            id: customer_id.to_string(),
        })?;
        let tier_override = tier_override.map(StoredTierOverride::from);
        let tier_history = tier_history(&mut read, customer_id).await?;
        // The details are the grading run's; the tier (overrides change it between runs) and
        // health (the daily job refreshes it) are read from their columns, which are current.
        let value = stored.map(|row| {
            let mut details = row.details.0;
            details.override_active = tier_override
                .as_ref()
                .is_some_and(|stored| stored.tier == row.tier);
            details.tier = row.tier;
            details.health = row.health;
            details.at_risk = row.at_risk;
            if let Some(Json(parts)) = row.health_parts {
                details.health_parts = parts;
            }
            details.health_as_of = row.health_as_of.map(StoredTime::text);
            details
        });
        Ok(CustomerValue {
            customer_id: customer_id.to_string(),
            last_interaction_at: last_interaction_at.map(StoredTime::text),
            value,
            tier_override,
            tier_history,
        })
    }

    /// Tier sizes and value shares, the ABC table and RFM segment counts of the last run, over
    /// the customers in `view` when given (a manager's or rep's), over everyone otherwise.
    pub async fn value_report(
        &self,
        view: Option<&crate::lifecycle::View>,
    ) -> StoreResult<ValueReport> {
        let view_reps = crate::lifecycle::View::rep_list(view);
        // Policy and values from one snapshot: tiers are named by the policy they were graded with.
        let mut read = self.database.begin_read().await?;
        let (_, policy) = self.policy_in(&mut read).await?;
        let groups: Vec<ReportGroup> = on_backend!(&mut read, |connection, Db| {
            let mut query = sql!(Db; "SELECT MAX(as_of) AS as_of, tier, abc, rfm_segment, COUNT(*) AS customers,",
                " CAST(SUM(COALESCE(monetary_minor, 0)) AS BIGINT) AS monetary_minor, SUM(COALESCE(clv, 0.0)) AS clv,",
                " SUM(score) AS score FROM customer_values WHERE 1 = 1");
            crate::lifecycle::push_customer_in_view!(
                query,
                view,
                view_reps.as_deref(),
                "customer_id"
            );
            query
                .push(" GROUP BY tier, abc, rfm_segment")
                .build_query_as()
                .fetch_all(&mut *connection)
                .await?
        });
        // Apart from the groups: each count reads a partial index of the customers it counts
        // (migrations 0019 and 0021), where grouping would read every customer's health.
        let (unknown, below): (i64, i64) = on_backend!(&mut read, |connection, Db| {
            let mut query = sql!(Db; "SELECT ");
            for (index, counted) in ["health IS NULL", "at_risk AND health IS NOT NULL"]
                .into_iter()
                .enumerate()
            {
                query
                    .push(if index == 0 { "(" } else { ", (" })
                    .push("SELECT COUNT(*) FROM customer_health WHERE ")
                    .push(counted);
                crate::lifecycle::push_customer_in_view!(
                    query,
                    view,
                    view_reps.as_deref(),
                    "customer_id"
                );
                query.push(")");
            }
            query.build_query_as().fetch_one(&mut *connection).await?
        });
        let mut as_of: Option<StoredTime> = None;
        let mut tiers: BTreeMap<String, (TierRow, i64)> = BTreeMap::new();
        let mut abc: BTreeMap<String, (AbcRow, i64)> = BTreeMap::new();
        let mut segments: BTreeMap<String, usize> = BTreeMap::new();
        let (mut total_monetary, mut total_clv) = (0_i64, 0.0);
        let mut customers = 0;
        for group in &groups {
            if group
                .as_of
                .is_some_and(|at| as_of.is_none_or(|seen| seen < at))
            {
                as_of = group.as_of;
            }
            let count = usize::try_from(group.customers).unwrap_or(0);
            customers += count;
            let monetary = group.monetary_minor.unwrap_or(0);
            let clv = group.clv.unwrap_or(0.0);
            total_monetary = total_monetary.saturating_add(monetary);
            total_clv += clv;
            let (entry, entry_monetary) = tiers.entry(group.tier.clone()).or_insert_with(|| {
                (
                    TierRow {
                        tier: group.tier.clone(),
                        customers: 0,
                        monetary: 0.0,
                        monetary_share: 0.0,
                        clv: 0.0,
                        clv_share: 0.0,
                        mean_score: 0.0,
                    },
                    0,
                )
            });
            entry.customers += count;
            *entry_monetary = entry_monetary.saturating_add(monetary);
            entry.clv += clv;
            entry.mean_score += group.score.unwrap_or(0.0);
            let (entry, entry_monetary) = abc.entry(group.abc.clone()).or_insert_with(|| {
                (
                    AbcRow {
                        class: group.abc.clone(),
                        customers: 0,
                        customer_share: 0.0,
                        monetary: 0.0,
                        monetary_share: 0.0,
                    },
                    0,
                )
            });
            entry.customers += count;
            *entry_monetary = entry_monetary.saturating_add(monetary);
            // Not a segment name (conditions cannot test for it): customers without purchases.
            let segment = group
                .rfm_segment
                .clone()
                .unwrap_or_else(|| "(no purchases)".to_string());
            *segments.entry(segment).or_insert(0) += count;
        }
        let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
        let major = |minor: i64| Money::from_minor_units(minor).to_major();
        let mut ordered: Vec<(TierRow, i64)> = Vec::new();
        for name in policy.tier_names() {
            if let Some(row) = tiers.remove(&name) {
                ordered.push(row);
            }
        }
        ordered.extend(tiers.into_values());
        let tiers = ordered
            .into_iter()
            .map(|(mut row, monetary)| {
                row.monetary = major(monetary);
                row.monetary_share = share(monetary as f64, total_monetary as f64);
                row.clv_share = share(row.clv, total_clv);
                row.mean_score /= row.customers.max(1) as f64;
                row
            })
            .collect();
        let abc = abc
            .into_values()
            .map(|(mut row, monetary)| {
                row.customer_share = share(row.customers as f64, customers as f64);
                row.monetary = major(monetary);
                row.monetary_share = share(monetary as f64, total_monetary as f64);
                row
            })
            .collect();
        let mut segments: Vec<(String, usize)> = segments.into_iter().collect();
        segments.sort_by(|left, right| right.1.cmp(&left.1).then(left.0.cmp(&right.0)));
        Ok(ValueReport {
            as_of: as_of.map(StoredTime::text),
            customers,
            tiers,
            abc,
            segments,
            health_below_threshold: usize::try_from(below).unwrap_or(0),
            health_unknown: usize::try_from(unknown).unwrap_or(0),
        })
    }
}
