//! Customer value in the database: policy versions (`policy`), tier overrides (`overrides`),
//! grading runs (`grading`), the daily health refresh (`health`), the scheduled jobs of `tick`
//! (`jobs`), tier events (`tier_events`), health alerts (`alerts`), reports (`report`) and the
//! flat table of every customer's value (`export`).
//!
//! The maths is in `allot_core::value` and `allot_core::clv`; this module gathers the inputs
//! in one transaction, calls it, and writes every result of a run in that same transaction.

mod alerts;
mod export;
mod grading;
mod health;
mod jobs;
mod overrides;
mod policy;
mod population;
mod report;
mod tier_events;

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::clv_estimates::{ClvFitReport, ClvSettings};
pub use alerts::{Alert, AlertFilter};
pub use export::ValueRow;
pub use health::HealthSummary;
pub use jobs::{TickSummary, EXPIRE_OVERRIDES_JOB, MONTHLY_REGRADE_JOB, REFRESH_HEALTH_JOB};
pub use overrides::StoredTierOverride;
pub(crate) use overrides::OVERRIDE_REASON_PREFIX;
pub use policy::PolicyVersion;
pub use report::{AbcRow, CustomerValue, TierRow, ValueReport};
pub use tier_events::{TierEvent, TierEventFilter};

/// What one grading run did.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScoreSummary {
    /// The clock time graded as of, RFC 3339 in UTC.
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
    /// Customers whose health is known and below the policy's `alert_below`.
    pub health_below_threshold: usize,
    /// Customers with no measurable health yet (no purchase, interaction or ticket).
    pub health_unknown: usize,
    pub alerts_raised: usize,
    pub alerts_closed: usize,
    pub clv: ClvFitReport,
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
    /// Health 0..100; `None` while nothing about the customer can be measured.
    pub health: Option<f64>,
    /// Known health parts as `[name, 0..1]`.
    pub health_parts: Vec<(String, f64)>,
    /// Health is known and below the policy's `alert_below`.
    pub at_risk: bool,
    /// The CLV models' outputs; `None` when no model could be fitted.
    pub clv: Option<crate::clv_estimates::ClvEstimate>,
    /// When health was last refreshed by the daily job, if after the grading run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_as_of: Option<String>,
}

fn corrupt(error: impl std::fmt::Display) -> crate::StoreError {
    crate::StoreError::Corrupt(error.to_string())
}
