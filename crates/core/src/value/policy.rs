//! The value policy file: scoring weights, ABC cut-offs, tiers and health weights, parsed from TOML and checked up front.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use toml::Spanned;

use crate::activity::InteractionKind;
use crate::error::{FieldError, RuleError};
use crate::pool::{PoolPolicy, RealFollowUp, TransferApproval};
use crate::service::ServicePolicy;
use crate::vocabulary::{StageName, TierName, Vocabulary, DEFAULT_STAGES};

mod rebalance_section;
mod service_section;

/// A commented example policy; it equals the built-in defaults except for its tier cuts and
/// the strategic weight, and keeps the default tier names, so examples hold with or without it.
pub const EXAMPLE_POLICY: &str = concat!(
    r#"# 客户价值策略 (customer value policy). Every section and key is optional;
# what is left out takes the default shown in the comment.

[scoring]
# Weights of the composite score (0..100). Each dimension is turned into a percentile rank
# among all graded customers first, so the weights compare like with like.
frequency = 0.25      # purchase days
monetary = 0.35       # net amount bought
clv = 0.25            # customer lifetime value from the CLV models
strategic = 0.1       # a number from a custom attribute, see strategic_attribute (default weight 0)
strategic_attribute = "strategic_value"   # read from attr.strategic_value
# These two count against the score: a high percentile lowers it.
cost_to_serve = 0.1   # interaction minutes + ticket_minutes per ticket opened
risk = 0.05           # 1 - probability the customer is still active
ticket_minutes = 60

[abc]
by = "monetary"       # or "clv" or "score"
a = 80                # A: the customers making the first 80% of the value
b = 15                # B: the next 15%; C: the rest and everyone with no value

# Tiers, best first. Each has min_score or top_percent (cumulative from the best customer);
# the last one has neither and takes everyone left. Names are free ("战略", "重点", "普通"…);
# customers, rules and overrides then use those names.
[[tier]]
name = "A"            # 战略客户
top_percent = 10

[[tier]]
name = "B"            # 重点客户
min_score = 60

[[tier]]
name = "C"            # 普通客户

[health]
# Weights of the health score (0..100); unknown parts are left out and the rest reweighted.
recency = 0.35        # days since the last purchase against the customer's usual gap
interaction = 0.25    # days since the last interaction against the usual gap
tickets = 0.15        # 1 / (1 + open tickets)
p_alive = 0.25        # probability the customer is still active
alert_below = 40      # health under this raises an alert for the owner (at_risk)
# A customer with one purchase day (or one interaction day) has no gap of their own: they are
# held to the median gap of the customers who have one, at most these (and to these alone
# while fewer than 30 customers have a rhythm).
default_purchase_gap_days = 180
default_interaction_gap_days = 30

[clv]
horizon_months = 12              # CLV sums expected spend over this many months
monthly_discount_rate = 0.01     # future spend is discounted by this rate per month
purchases_horizon_weeks = 13     # expected purchases are reported over this many weeks

[customer]
# The lifecycle stages a customer's `stage` may take (imports and the API refuse others).
stages = ["线索", "商机", "成交", "流失"]

[pool]
# The public pool (公海). Per-tier tables are keyed by the tier names above; a tier left out
# has no extra cap, is never reclaimed, and needs its team manager to approve a transfer.
claim_limit_per_day = 20            # claims per rep per calendar day
holding_cap = { A = 30, B = 80 }    # per tier, on top of the rep's own capacity
cooldown_days = 30                  # a rep cannot re-claim a customer it released or lost within this
reclaim_after_days = { A = 60, B = 30, C = 15 }   # no real follow-up for this long → back to the pool
warn_before_days = 5                # warn the owner this many days before reclaim
real_follow_up = [ { kind = "visit" }, { kind = "call", outcome = "reached" }, { kind = "meeting" } ]
protect_days_after_claim = 7        # a fresh claim is not reclaimed before this
transfer_approval = { A = "two_levels" }   # default "team_manager"
handover_read_days = 14             # the old owner keeps read access this long

[service]
# The service reports look back this many days (effort, tickets).
window_days = 90
# The share of the window's service effort each tier should get; a tier outside its band
# raises an alert (F2).
effort_share = { A = [0.3, 0.6] }
# The most of a team's effort that should go to new customers (stage 线索, or created within
# new_customer_days); past it, an alert for the team's manager (F3).
new_customer_budget = 0.40
new_customer_days = 90
# A rep whose workload passes this many times its team's mean raises an alert.
overload_threshold = 1.5

[service.calendar]
# Business time for the promises below (default: Asia/Shanghai, Monday to Friday,
# 09:00-12:00 and 13:30-18:00, no holidays).
time_zone = "Asia/Shanghai"
working_hours = ["09:00-12:00", "13:30-18:00"]
working_days = ["mon", "tue", "wed", "thu", "fri"]
holidays = ["2027-01-01", "2027-02-10", "2027-02-11"]   # whole days off
extra_working_days = ["2027-02-07"]                       # 调休: a weekend day worked

# What each tier is promised (服务标准). Durations are Nm, Nh or Nd; on business time a day is
# one day's working hours. A tier left out is promised nothing: its tickets have no due times.
[service.tier.A]
first_response = "2h"
resolution = { major = "8h", general = "3d" }
care_every_days = 14
business_hours = true       # count working hours only (false: the wall clock)
# escalate_every = "2h"     # after a breach, one level up per this much more (default: the promise again)

[service.tier.B]
first_response = "4h"
resolution = { major = "1d", general = "5d" }
care_every_days = 30

[service.tier.C]
first_response = "24h"
resolution = { major = "2d", general = "5d" }
care_every_days = 90
business_hours = false
"#,
    crate::service::baseline_example!(),
    r#"
[rebalance]
# Rebalancing (allot rebalance) weighs, in points: churn, the load above each team's mean, and
# affinity. A customer moves only when what it saves in load cost beats its move penalty.
move_penalty = { A = 60, B = 30 }   # per customer moved, by tier
move_penalty_default = 15           # tiers not named above
load_band_width = 0.1               # each load band is this share of the team mean wide
load_band_costs = [5, 10, 20, 40, 80, 160]   # per unit of workload in each band above the mean; rising
affinity_skill = 5                  # points saved when the rep lists the customer's industry as a skill
affinity_region = 5                 # points saved when the customer's province is the rep's home province
overload_threshold = 1.3            # tick: a rep above this x its team's mean workload is overloaded
overload_action = "propose"         # or "move": tick makes the moves instead of asking the manager
overload_candidates = 200           # of an overloaded book, the newest and lowest-tier customers tick may move
candidates_per_customer = 8         # most reps besides its owner a customer is offered (below-mean reps first)

[notify]
# Every notification is also POSTed as JSON here, from an outbox with retries (leave out: none).
# webhook_url = "http://127.0.0.1:9000/allot"
"#
);

/// How the composite score weighs each dimension; weights are magnitudes (>= 0), and
/// `cost_to_serve` and `risk` count against the score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoringPolicy {
    pub frequency: f64,
    pub monetary: f64,
    pub clv: f64,
    pub strategic: f64,
    pub cost_to_serve: f64,
    pub risk: f64,
    /// Custom attribute key (without `attr.`) holding the strategic value as a number.
    pub strategic_attribute: Option<String>,
    /// Minutes of cost to serve each ticket opened (up to the clock) adds.
    pub ticket_minutes: f64,
}

impl Default for ScoringPolicy {
    fn default() -> Self {
        ScoringPolicy {
            frequency: 0.25,
            monetary: 0.35,
            clv: 0.25,
            strategic: 0.0,
            cost_to_serve: 0.1,
            risk: 0.05,
            strategic_attribute: None,
            ticket_minutes: 60.0,
        }
    }
}

/// Which value ABC classes are cut on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbcBasis {
    Monetary,
    Clv,
    Score,
}

impl AbcBasis {
    pub const ALL: [AbcBasis; 3] = [AbcBasis::Monetary, AbcBasis::Clv, AbcBasis::Score];

    pub fn as_str(self) -> &'static str {
        match self {
            AbcBasis::Monetary => "monetary",
            AbcBasis::Clv => "clv",
            AbcBasis::Score => "score",
        }
    }

    pub fn parse(raw: &str) -> Option<AbcBasis> {
        AbcBasis::ALL
            .into_iter()
            .find(|basis| basis.as_str() == raw.trim())
    }
}

/// ABC cut-offs as percentages of the total value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AbcPolicy {
    pub by: AbcBasis,
    pub a_percent: f64,
    pub b_percent: f64,
}

impl Default for AbcPolicy {
    fn default() -> Self {
        AbcPolicy {
            by: AbcBasis::Monetary,
            a_percent: 80.0,
            b_percent: 15.0,
        }
    }
}

/// What puts a customer into a tier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierCriterion {
    /// Composite score at least this.
    MinScore(f64),
    /// Among the best this many percent of customers by score, counted from the very best.
    TopPercent(f64),
    /// Everyone the tiers above did not take; only the last tier.
    Rest,
}

/// One `[[tier]]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierRule {
    pub name: String,
    pub criterion: TierCriterion,
}

/// Horizon and discounting of the CLV that grading writes (`[clv]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ClvPolicy {
    /// CLV sums the expected spend of this many months.
    pub horizon_months: u32,
    /// Discount rate per month applied to future spend.
    pub monthly_discount_rate: f64,
    /// Expected purchases are reported over this many weeks.
    pub purchases_horizon_weeks: f64,
}

impl Default for ClvPolicy {
    fn default() -> Self {
        ClvPolicy {
            horizon_months: 12,
            monthly_discount_rate: 0.01,
            purchases_horizon_weeks: 13.0,
        }
    }
}

/// Weights and thresholds of the health score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthPolicy {
    pub recency: f64,
    pub interaction: f64,
    pub tickets: f64,
    pub p_alive: f64,
    /// Health under this marks a customer at risk.
    pub alert_below: f64,
    /// Usual purchase gap assumed when a customer has fewer than two purchase days.
    pub default_purchase_gap_days: f64,
    /// Usual interaction gap assumed when a customer has fewer than two interaction days.
    pub default_interaction_gap_days: f64,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            recency: 0.35,
            interaction: 0.25,
            tickets: 0.15,
            p_alive: 0.25,
            alert_below: 40.0,
            default_purchase_gap_days: 180.0,
            default_interaction_gap_days: 30.0,
        }
    }
}

/// A checked value policy (客户价值策略).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValuePolicy {
    pub scoring: ScoringPolicy,
    pub abc: AbcPolicy,
    /// Best first; the last one is always [`TierCriterion::Rest`].
    pub tiers: Vec<TierRule>,
    pub health: HealthPolicy,
    pub clv: ClvPolicy,
    /// The lifecycle stages a customer may be in (`[customer] stages`).
    pub stages: Vec<String>,
    /// The public pool: claim limits, caps, reclaim, transfer approval (`[pool]`).
    pub pool: PoolPolicy,
    /// Where notifications go besides Allot's own list (`[notify]`).
    pub notify: NotifyPolicy,
    /// The business calendar and what each tier is promised (`[service]`).
    #[serde(skip)]
    pub service: ServicePolicy,
    /// The weights of rebalancing and what `tick` does for overloaded reps (`[rebalance]`).
    pub rebalance: crate::rebalance::RebalancePolicy,
    /// The TOML text the policy came from, kept so a stored version shows exactly what was
    /// written; empty for the built-in default.
    pub source: String,
}

impl Default for ValuePolicy {
    /// Default weights, ABC 80/15/5 by monetary value, tiers A (top 20%), B (top 50%), C (rest).
    fn default() -> Self {
        let tier = |name: &str, criterion| TierRule {
            name: name.to_string(),
            criterion,
        };
        ValuePolicy {
            scoring: ScoringPolicy::default(),
            abc: AbcPolicy::default(),
            tiers: vec![
                tier("A", TierCriterion::TopPercent(20.0)),
                tier("B", TierCriterion::TopPercent(50.0)),
                tier("C", TierCriterion::Rest),
            ],
            health: HealthPolicy::default(),
            clv: ClvPolicy::default(),
            stages: DEFAULT_STAGES.map(str::to_string).to_vec(),
            pool: PoolPolicy::default(),
            notify: NotifyPolicy::default(),
            // The first lifecycle stage (a lead) is a new customer's.
            service: ServicePolicy {
                new_customer_stages: DEFAULT_STAGES[..1]
                    .iter()
                    .map(|stage| stage.to_string())
                    .collect(),
                ..ServicePolicy::default()
            },
            rebalance: crate::rebalance::RebalancePolicy::default(),
            source: String::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    scoring: Option<RawScoring>,
    abc: Option<RawAbc>,
    tier: Option<Spanned<Vec<Spanned<RawTier>>>>,
    health: Option<RawHealth>,
    clv: Option<RawClv>,
    customer: Option<RawCustomer>,
    pool: Option<RawPool>,
    notify: Option<RawNotify>,
    service: Option<service_section::RawService>,
    rebalance: Option<rebalance_section::RawRebalance>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    webhook_url: Option<Spanned<String>>,
}

/// The `[notify]` section: a webhook that receives every notification as JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NotifyPolicy {
    /// `http://…`; notifications are POSTed from an outbox with retries.
    pub webhook_url: Option<String>,
}

/// A whole number of days or items as written, with where it was written.
type RawCount = Option<Spanned<i64>>;
/// A per-tier table as written: `{ A = 30, B = 80 }`.
type RawPerTier<T> = Option<Spanned<BTreeMap<String, Spanned<T>>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    claim_limit_per_day: RawCount,
    holding_cap: RawPerTier<i64>,
    cooldown_days: RawCount,
    reclaim_after_days: RawPerTier<i64>,
    warn_before_days: RawCount,
    real_follow_up: Option<Spanned<Vec<Spanned<RawFollowUp>>>>,
    protect_days_after_claim: RawCount,
    transfer_approval: RawPerTier<String>,
    handover_read_days: RawCount,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFollowUp {
    kind: String,
    outcome: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCustomer {
    stages: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClv {
    horizon_months: Option<Spanned<f64>>,
    monthly_discount_rate: Option<Spanned<f64>>,
    purchases_horizon_weeks: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScoring {
    frequency: Option<Spanned<f64>>,
    monetary: Option<Spanned<f64>>,
    clv: Option<Spanned<f64>>,
    strategic: Option<Spanned<f64>>,
    cost_to_serve: Option<Spanned<f64>>,
    risk: Option<Spanned<f64>>,
    strategic_attribute: Option<Spanned<String>>,
    ticket_minutes: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbc {
    by: Option<Spanned<String>>,
    a: Option<Spanned<f64>>,
    b: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    name: Option<Spanned<String>>,
    min_score: Option<Spanned<f64>>,
    top_percent: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    recency: Option<Spanned<f64>>,
    interaction: Option<Spanned<f64>>,
    tickets: Option<Spanned<f64>>,
    p_alive: Option<Spanned<f64>>,
    alert_below: Option<Spanned<f64>>,
    default_purchase_gap_days: Option<Spanned<f64>>,
    default_interaction_gap_days: Option<Spanned<f64>>,
}

/// Turns a byte offset into a 1-based (line, column), counting characters, not bytes.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |position| position + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The threshold of each kind set by the tiers above, with the tier that set it, so a tier that
/// could never get anyone is caught.
#[derive(Default)]
struct ThresholdsAbove {
    min_score: Option<(f64, String)>,
    top_percent: Option<(f64, String)>,
}

/// Collects problems while the file is checked, so every one of them is reported at once.
struct Checker<'source> {
    source: &'source str,
    errors: Vec<RuleError>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        tier: Option<&str>,
        field: &str,
        span: Option<Range<usize>>,
        message: String,
    ) {
        let (line, column) = span
            .map(|span| line_and_column(self.source, span.start))
            .map_or((None, None), |(line, column)| (Some(line), Some(column)));
        self.errors.push(RuleError {
            section: "tier",
            rule: tier.map(str::to_string),
            line,
            column,
            field: Some(field.to_string()),
            message,
        });
    }

    /// A number that must be finite and inside `minimum..=maximum`; `default` when absent.
    fn number(
        &mut self,
        field: &str,
        raw: Option<&Spanned<f64>>,
        default: f64,
        minimum: f64,
        maximum: f64,
    ) -> f64 {
        let Some(raw) = raw else {
            return default;
        };
        let value = *raw.get_ref();
        if !value.is_finite() || value < minimum || value > maximum {
            let range = if maximum.is_infinite() {
                format!("at least {minimum}")
            } else {
                format!("between {minimum} and {maximum}")
            };
            self.push(
                None,
                field,
                Some(raw.span()),
                format!("must be a number {range}, not {value}"),
            );
            return default;
        }
        value
    }

    /// Weights are relative, so a bound costs nothing; it keeps sums of weights finite
    /// (a weight of 1e308 would make every score NaN).
    fn weight(&mut self, field: &str, raw: Option<&Spanned<f64>>, default: f64) -> f64 {
        self.number(field, raw, default, 0.0, 1_000_000.0)
    }

    /// A whole number inside `0..=maximum`; `default` when absent.
    fn count(&mut self, field: &str, raw: &RawCount, default: u32, maximum: u32) -> u32 {
        let Some(raw) = raw else {
            return default;
        };
        let value = *raw.get_ref();
        match u32::try_from(value) {
            Ok(value) if value <= maximum => value,
            _ => {
                self.push(
                    None,
                    field,
                    Some(raw.span()),
                    format!("must be a whole number between 0 and {maximum}, not {value}"),
                );
                default
            }
        }
    }

    /// A per-tier table whose keys must be tiers of this policy.
    fn per_tier<T, U>(
        &mut self,
        field: &str,
        raw: RawPerTier<T>,
        tier_names: &[String],
        mut convert: impl FnMut(&mut Self, &str, Spanned<T>) -> Option<U>,
    ) -> BTreeMap<String, U> {
        let mut map = BTreeMap::new();
        let Some(raw) = raw else {
            return map;
        };
        let table_span = raw.span();
        for (tier, value) in raw.into_inner() {
            let key = format!("{field}.{tier}");
            if !tier_names.contains(&tier) {
                self.push(
                    None,
                    &key,
                    Some(table_span.clone()),
                    format!(
                        "'{tier}' is not a tier; use one of {}",
                        tier_names.join(", ")
                    ),
                );
                continue;
            }
            if let Some(value) = convert(self, &key, value) {
                map.insert(tier, value);
            }
        }
        map
    }

    /// The `[notify]` section: the webhook must be an http or https URL.
    fn notify(&mut self, raw: Option<RawNotify>) -> NotifyPolicy {
        let Some(url) = raw.and_then(|raw| raw.webhook_url) else {
            return NotifyPolicy::default();
        };
        let text = url.get_ref().trim();
        // The binary carries no TLS stack (a lean build); an https endpoint sits behind a
        // local forwarding proxy.
        let well_formed = text.starts_with("http://")
            && text.len() > "http://".len()
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if !well_formed {
            self.push(
                None,
                "notify.webhook_url",
                Some(url.span()),
                format!(
                    "'{text}' is not an http:// URL (https: put a local forwarding proxy in front)"
                ),
            );
            return NotifyPolicy::default();
        }
        NotifyPolicy {
            webhook_url: Some(text.to_string()),
        }
    }

    /// The `[pool]` section; per-tier keys are checked against the tiers above.
    fn pool(&mut self, raw: Option<RawPool>, tier_names: &[String]) -> PoolPolicy {
        let defaults = PoolPolicy::default();
        let Some(raw) = raw else {
            return defaults;
        };
        const MOST_DAYS: u32 = 3650;
        let day_count = |checker: &mut Self, key: &str, value: Spanned<i64>| {
            let count = checker.count(key, &Some(value), u32::MAX, MOST_DAYS);
            (count != u32::MAX).then_some(count)
        };
        let claim_limit_per_day = self.count(
            "pool.claim_limit_per_day",
            &raw.claim_limit_per_day,
            defaults.claim_limit_per_day,
            100_000,
        );
        let holding_cap = self.per_tier(
            "pool.holding_cap",
            raw.holding_cap,
            tier_names,
            |checker, key, value| {
                let count = checker.count(key, &Some(value), u32::MAX, 10_000_000);
                (count != u32::MAX).then_some(count)
            },
        );
        let cooldown_days = self.count(
            "pool.cooldown_days",
            &raw.cooldown_days,
            defaults.cooldown_days,
            MOST_DAYS,
        );
        let reclaim_span = raw.reclaim_after_days.as_ref().map(Spanned::span);
        let reclaim_after_days = self.per_tier(
            "pool.reclaim_after_days",
            raw.reclaim_after_days,
            tier_names,
            day_count,
        );
        let warn_before_days = self.count(
            "pool.warn_before_days",
            &raw.warn_before_days,
            defaults.warn_before_days,
            MOST_DAYS,
        );
        if let Some((tier, days)) = reclaim_after_days
            .iter()
            .find(|(_, days)| **days <= warn_before_days)
        {
            self.push(
                None,
                &format!("pool.reclaim_after_days.{tier}"),
                reclaim_span,
                format!(
                    "{days} days leaves no time to warn: it must be more than warn_before_days ({warn_before_days})"
                ),
            );
        }
        let real_follow_up = match raw.real_follow_up {
            None => defaults.real_follow_up,
            Some(list) => {
                let mut kinds = Vec::new();
                for item in list.into_inner() {
                    let span = item.span();
                    let item = item.into_inner();
                    match InteractionKind::parse_field("pool.real_follow_up.kind", &item.kind) {
                        Ok(kind) => kinds.push(RealFollowUp {
                            kind,
                            outcome: item
                                .outcome
                                .map(|outcome| outcome.trim().to_string())
                                .filter(|outcome| !outcome.is_empty()),
                        }),
                        Err(error) => {
                            self.push(None, "pool.real_follow_up.kind", Some(span), error.message)
                        }
                    }
                }
                kinds
            }
        };
        let protect_days_after_claim = self.count(
            "pool.protect_days_after_claim",
            &raw.protect_days_after_claim,
            defaults.protect_days_after_claim,
            MOST_DAYS,
        );
        let transfer_approval = self.per_tier(
            "pool.transfer_approval",
            raw.transfer_approval,
            tier_names,
            |checker, key, value| {
                let approval = TransferApproval::parse(value.get_ref());
                if approval.is_none() {
                    checker.push(
                        None,
                        key,
                        Some(value.span()),
                        format!(
                            "'{}' is not an approval; use team_manager or two_levels",
                            value.get_ref()
                        ),
                    );
                }
                approval
            },
        );
        let handover_read_days = self.count(
            "pool.handover_read_days",
            &raw.handover_read_days,
            defaults.handover_read_days,
            MOST_DAYS,
        );
        PoolPolicy {
            claim_limit_per_day,
            holding_cap,
            cooldown_days,
            reclaim_after_days,
            warn_before_days,
            real_follow_up,
            protect_days_after_claim,
            transfer_approval,
            handover_read_days,
        }
    }

    fn scoring(&mut self, raw: Option<RawScoring>) -> ScoringPolicy {
        let defaults = ScoringPolicy::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let strategic_attribute = match &raw.strategic_attribute {
            Some(key) => {
                let trimmed = key.get_ref().trim();
                let bare = trimmed.strip_prefix("attr.").unwrap_or(trimmed).trim();
                if bare.is_empty() {
                    self.push(
                        None,
                        "scoring.strategic_attribute",
                        Some(key.span()),
                        "must name a custom attribute, e.g. \"strategic_value\"".to_string(),
                    );
                    None
                } else {
                    Some(bare.to_string())
                }
            }
            None => None,
        };
        let policy = ScoringPolicy {
            frequency: self.weight(
                "scoring.frequency",
                raw.frequency.as_ref(),
                defaults.frequency,
            ),
            monetary: self.weight("scoring.monetary", raw.monetary.as_ref(), defaults.monetary),
            clv: self.weight("scoring.clv", raw.clv.as_ref(), defaults.clv),
            strategic: self.weight(
                "scoring.strategic",
                raw.strategic.as_ref(),
                defaults.strategic,
            ),
            cost_to_serve: self.weight(
                "scoring.cost_to_serve",
                raw.cost_to_serve.as_ref(),
                defaults.cost_to_serve,
            ),
            risk: self.weight("scoring.risk", raw.risk.as_ref(), defaults.risk),
            strategic_attribute,
            ticket_minutes: self.weight(
                "scoring.ticket_minutes",
                raw.ticket_minutes.as_ref(),
                defaults.ticket_minutes,
            ),
        };
        if policy.strategic > 0.0 && policy.strategic_attribute.is_none() {
            self.push(
                None,
                "scoring.strategic",
                raw.strategic.as_ref().map(Spanned::span),
                "is above zero, so scoring.strategic_attribute must name the attribute to read"
                    .to_string(),
            );
        }
        let total = policy.frequency
            + policy.monetary
            + policy.clv
            + policy.strategic
            + policy.cost_to_serve
            + policy.risk;
        if total <= 0.0 {
            self.push(
                None,
                "scoring",
                None,
                "at least one weight must be above zero".to_string(),
            );
        }
        policy
    }

    fn abc(&mut self, raw: Option<RawAbc>) -> AbcPolicy {
        let defaults = AbcPolicy::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let by = match &raw.by {
            Some(by) => AbcBasis::parse(by.get_ref()).unwrap_or_else(|| {
                self.push(
                    None,
                    "abc.by",
                    Some(by.span()),
                    format!(
                        "'{}' is not a basis; use monetary, clv or score",
                        by.get_ref()
                    ),
                );
                defaults.by
            }),
            None => defaults.by,
        };
        let a_percent = self.number("abc.a", raw.a.as_ref(), defaults.a_percent, 0.0, 100.0);
        let b_percent = self.number("abc.b", raw.b.as_ref(), defaults.b_percent, 0.0, 100.0);
        if a_percent + b_percent > 100.0 {
            let span = raw.b.as_ref().or(raw.a.as_ref()).map(Spanned::span);
            self.push(
                None,
                "abc.b",
                span,
                format!("a + b must be at most 100, not {}", a_percent + b_percent),
            );
        }
        AbcPolicy {
            by,
            a_percent,
            b_percent,
        }
    }

    /// The lifecycle stages: one or more distinct names, each one line of text.
    fn stages(&mut self, raw: Option<Spanned<Vec<Spanned<String>>>>) -> Vec<String> {
        let default = || DEFAULT_STAGES.map(str::to_string).to_vec();
        let Some(raw) = raw else {
            return default();
        };
        let list_span = raw.span();
        let raw_stages = raw.into_inner();
        if raw_stages.is_empty() {
            self.push(
                None,
                "customer.stages",
                Some(list_span),
                "needs at least one stage".to_string(),
            );
            return default();
        }
        let mut stages: Vec<String> = Vec::with_capacity(raw_stages.len());
        for stage in raw_stages {
            let span = stage.span();
            match crate::text::parse_text("customer.stages", stage.get_ref()) {
                Ok(name) if name.is_empty() => self.push(
                    None,
                    "customer.stages",
                    Some(span),
                    "a stage name must not be empty".to_string(),
                ),
                Ok(name) if stages.contains(&name) => self.push(
                    None,
                    "customer.stages",
                    Some(span),
                    format!("'{name}' is listed twice"),
                ),
                Ok(name) => stages.push(name),
                Err(error) => self.push(None, "customer.stages", Some(span), error.message),
            }
        }
        stages
    }

    fn tiers(&mut self, raw: Option<Spanned<Vec<Spanned<RawTier>>>>) -> Vec<TierRule> {
        let Some(raw) = raw else {
            return ValuePolicy::default().tiers;
        };
        let list_span = raw.span();
        let raw_tiers = raw.into_inner();
        if raw_tiers.is_empty() {
            self.push(
                None,
                "tier",
                Some(list_span),
                "needs at least one tier; the last takes every customer".to_string(),
            );
            return ValuePolicy::default().tiers;
        }
        let count = raw_tiers.len();
        let mut tiers = Vec::with_capacity(count);
        let mut seen_names = BTreeSet::new();
        let mut above = ThresholdsAbove::default();
        for (index, spanned_tier) in raw_tiers.into_iter().enumerate() {
            let table_span = spanned_tier.span();
            let raw_tier = spanned_tier.into_inner();
            let label = raw_tier
                .name
                .as_ref()
                .map(|name| name.get_ref().trim().to_string())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| format!("#{}", index + 1));
            let label = label.as_str();
            self.check_tier_name(&raw_tier, label, &table_span, &mut seen_names);
            let criterion = self.tier_criterion(&raw_tier, label, &mut above);
            let is_last = index + 1 == count;
            self.check_tier_place_in_list(&raw_tier, label, table_span, is_last, criterion);
            tiers.push(TierRule {
                name: label.to_string(),
                criterion,
            });
        }
        tiers
    }

    fn check_tier_name(
        &mut self,
        raw_tier: &RawTier,
        label: &str,
        table_span: &Range<usize>,
        seen_names: &mut BTreeSet<String>,
    ) {
        match &raw_tier.name {
            Some(name) if name.get_ref().trim().is_empty() => self.push(
                Some(label),
                "name",
                Some(name.span()),
                "must not be empty".to_string(),
            ),
            Some(name) => {
                if !seen_names.insert(label.to_string()) {
                    self.push(
                        Some(label),
                        "name",
                        Some(name.span()),
                        format!("another tier is already named '{label}'; names must be unique"),
                    );
                }
            }
            None => self.push(
                Some(label),
                "name",
                Some(table_span.clone()),
                "is missing".to_string(),
            ),
        }
    }

    /// The tier's `min_score` or `top_percent`; `Rest` when it has neither, or (after an
    /// error) both.
    fn tier_criterion(
        &mut self,
        raw_tier: &RawTier,
        label: &str,
        above: &mut ThresholdsAbove,
    ) -> TierCriterion {
        match (&raw_tier.min_score, &raw_tier.top_percent) {
            (Some(_), Some(top_percent)) => {
                self.push(
                    Some(label),
                    "top_percent",
                    Some(top_percent.span()),
                    "give either min_score or top_percent, not both".to_string(),
                );
                TierCriterion::Rest
            }
            (Some(min_score), None) => {
                let value = self.tier_min_score(min_score, label, above.min_score.as_ref());
                above.min_score = Some((value, label.to_string()));
                TierCriterion::MinScore(value)
            }
            (None, Some(top_percent)) => {
                let value = self.tier_top_percent(top_percent, label, above.top_percent.as_ref());
                above.top_percent = Some((value, label.to_string()));
                TierCriterion::TopPercent(value)
            }
            (None, None) => TierCriterion::Rest,
        }
    }

    fn tier_min_score(
        &mut self,
        min_score: &Spanned<f64>,
        label: &str,
        above: Option<&(f64, String)>,
    ) -> f64 {
        let value = *min_score.get_ref();
        if !(0.0..=100.0).contains(&value) {
            self.push(
                Some(label),
                "min_score",
                Some(min_score.span()),
                format!("must be between 0 and 100, not {value}"),
            );
        } else if let Some((previous, previous_name)) = above {
            if value >= *previous {
                self.push(
                    Some(label),
                    "min_score",
                    Some(min_score.span()),
                    format!(
                        "must be below {previous}, the min_score of '{previous_name}' above it; tiers go best first"
                    ),
                );
            }
        }
        value
    }

    fn tier_top_percent(
        &mut self,
        top_percent: &Spanned<f64>,
        label: &str,
        above: Option<&(f64, String)>,
    ) -> f64 {
        let value = *top_percent.get_ref();
        if !(value > 0.0 && value <= 100.0) {
            self.push(
                Some(label),
                "top_percent",
                Some(top_percent.span()),
                format!("must be above 0 and at most 100, not {value}"),
            );
        } else if let Some((previous, previous_name)) = above {
            if value <= *previous {
                self.push(
                    Some(label),
                    "top_percent",
                    Some(top_percent.span()),
                    format!(
                        "must be above {previous}, the top_percent of '{previous_name}' above it; top_percent counts from the best customer"
                    ),
                );
            }
        }
        value
    }

    /// Only the last tier takes every customer left: it alone has no threshold, and it must not
    /// have one, or some customers would get no tier.
    fn check_tier_place_in_list(
        &mut self,
        raw_tier: &RawTier,
        label: &str,
        table_span: Range<usize>,
        is_last: bool,
        criterion: TierCriterion,
    ) {
        if is_last && criterion != TierCriterion::Rest {
            let span = raw_tier
                .min_score
                .as_ref()
                .or(raw_tier.top_percent.as_ref())
                .map(Spanned::span);
            let field = if raw_tier.min_score.is_some() {
                "min_score"
            } else {
                "top_percent"
            };
            self.push(
                Some(label),
                field,
                span,
                "the last tier takes every customer left, so it must have neither min_score nor top_percent"
                    .to_string(),
            );
        }
        if !is_last && raw_tier.min_score.is_none() && raw_tier.top_percent.is_none() {
            self.push(
                Some(label),
                "min_score",
                Some(table_span),
                "needs min_score or top_percent; only the last tier may have neither".to_string(),
            );
        }
    }

    fn clv(&mut self, raw: Option<RawClv>) -> ClvPolicy {
        let defaults = ClvPolicy::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let months = self.number(
            "clv.horizon_months",
            raw.horizon_months.as_ref(),
            f64::from(defaults.horizon_months),
            1.0,
            120.0,
        );
        if let Some(raw_months) = &raw.horizon_months {
            if months.fract() != 0.0 {
                self.push(
                    None,
                    "clv.horizon_months",
                    Some(raw_months.span()),
                    format!("must be a whole number of months, not {months}"),
                );
            }
        }
        ClvPolicy {
            horizon_months: months as u32,
            monthly_discount_rate: self.number(
                "clv.monthly_discount_rate",
                raw.monthly_discount_rate.as_ref(),
                defaults.monthly_discount_rate,
                0.0,
                1.0,
            ),
            purchases_horizon_weeks: self.number(
                "clv.purchases_horizon_weeks",
                raw.purchases_horizon_weeks.as_ref(),
                defaults.purchases_horizon_weeks,
                1.0,
                520.0,
            ),
        }
    }

    fn health(&mut self, raw: Option<RawHealth>) -> HealthPolicy {
        let defaults = HealthPolicy::default();
        let Some(raw) = raw else {
            return defaults;
        };
        let gap = |checker: &mut Self, field: &str, value: Option<&Spanned<f64>>, default: f64| {
            let days = checker.number(field, value, default, 0.0, 36_500.0);
            if days > 0.0 {
                return days;
            }
            checker.push(
                None,
                field,
                value.map(Spanned::span),
                "must be above 0 days".to_string(),
            );
            default
        };
        let policy = HealthPolicy {
            recency: self.weight("health.recency", raw.recency.as_ref(), defaults.recency),
            interaction: self.weight(
                "health.interaction",
                raw.interaction.as_ref(),
                defaults.interaction,
            ),
            tickets: self.weight("health.tickets", raw.tickets.as_ref(), defaults.tickets),
            p_alive: self.weight("health.p_alive", raw.p_alive.as_ref(), defaults.p_alive),
            alert_below: self.number(
                "health.alert_below",
                raw.alert_below.as_ref(),
                defaults.alert_below,
                0.0,
                100.0,
            ),
            default_purchase_gap_days: gap(
                self,
                "health.default_purchase_gap_days",
                raw.default_purchase_gap_days.as_ref(),
                defaults.default_purchase_gap_days,
            ),
            default_interaction_gap_days: gap(
                self,
                "health.default_interaction_gap_days",
                raw.default_interaction_gap_days.as_ref(),
                defaults.default_interaction_gap_days,
            ),
        };
        if policy.recency + policy.interaction + policy.tickets + policy.p_alive <= 0.0 {
            self.push(
                None,
                "health",
                None,
                "at least one weight must be above zero".to_string(),
            );
        }
        policy
    }
}

/// The text before `offset`, cut back to a character boundary.
fn text_before(source: &str, offset: usize) -> &str {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    &source[..offset]
}

/// Names the `[[tier]]` table a TOML error sits in (by position), when it sits in one.
fn tier_containing(source: &str, offset: usize) -> Option<String> {
    let headers: Vec<&str> = text_before(source, offset)
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('['))
        .collect();
    let last_header = headers.last()?;
    if !last_header.starts_with("[[tier]]") {
        return None;
    }
    let position = headers
        .iter()
        .filter(|header| header.starts_with("[[tier]]"))
        .count();
    Some(format!("#{position}"))
}

/// The key on the line of a TOML error, as `section.key` outside `[[tier]]` tables and bare
/// inside them, so type errors name their field like the checks after parsing do.
fn key_at(source: &str, offset: usize) -> Option<String> {
    let before = text_before(source, offset);
    let line_start = before.rfind('\n').map_or(0, |position| position + 1);
    let line = source[line_start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let section = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('['))
        .map(|header| header.trim_matches(|c| c == '[' || c == ']').trim());
    match section {
        Some("tier") | None => Some(key.to_string()),
        Some(section) => Some(format!("{section}.{key}")),
    }
}

impl ValuePolicy {
    /// Parses and checks a policy file. All problems are returned, each located by line and column;
    /// problems inside a `[[tier]]` name the tier in `rule`, others name `section.key` in `field`.
    pub fn parse(source: &str) -> Result<ValuePolicy, Vec<RuleError>> {
        let raw: RawPolicy = toml::from_str(source).map_err(|error| {
            let offset = error.span().map(|span| span.start);
            let (line, column) = offset
                .map(|offset| line_and_column(source, offset))
                .map_or((None, None), |(line, column)| (Some(line), Some(column)));
            let message = crate::rules::toml_error_message(source, &error);
            let field = offset
                .and_then(|offset| key_at(source, offset))
                .or_else(|| {
                    message
                        .split_once("field `")
                        .and_then(|(_, rest)| rest.split_once('`'))
                        .map(|(field, _)| field.to_string())
                });
            vec![RuleError {
                section: "tier",
                rule: offset.and_then(|offset| tier_containing(source, offset)),
                line,
                column,
                field,
                message,
            }]
        })?;
        let mut checker = Checker {
            source,
            errors: Vec::new(),
        };
        let scoring = checker.scoring(raw.scoring);
        let abc = checker.abc(raw.abc);
        let tiers = checker.tiers(raw.tier);
        let health = checker.health(raw.health);
        let clv = checker.clv(raw.clv);
        let stages = checker.stages(raw.customer.and_then(|customer| customer.stages));
        let tier_names: Vec<String> = tiers.iter().map(|tier| tier.name.clone()).collect();
        let pool = checker.pool(raw.pool, &tier_names);
        let notify = checker.notify(raw.notify);
        let service = checker.service(raw.service, &tier_names, &stages);
        let rebalance = checker.rebalance(raw.rebalance, &tier_names);
        if checker.errors.is_empty() {
            Ok(ValuePolicy {
                scoring,
                abc,
                tiers,
                health,
                clv,
                stages,
                pool,
                notify,
                service,
                rebalance,
                source: source.to_string(),
            })
        } else {
            Err(checker.errors)
        }
    }

    /// The tiers and stages a customer's columns may take.
    pub fn vocabulary(&self) -> Vocabulary {
        Vocabulary::new(
            self.tiers
                .iter()
                .map(|tier| TierName::from_stored(tier.name.clone()))
                .collect(),
            self.stages.iter().map(StageName::from_stored).collect(),
        )
    }

    /// Tier names, best first.
    pub fn tier_names(&self) -> Vec<String> {
        self.tiers.iter().map(|tier| tier.name.clone()).collect()
    }

    /// Checks that a manual tier override names a tier of this policy.
    pub fn check_override(&self, tier: &str) -> Result<(), FieldError> {
        if self.tiers.iter().any(|known| known.name == tier.trim()) {
            Ok(())
        } else {
            Err(FieldError::new(
                "tier",
                format!(
                    "'{tier}' is not a tier; use one of {}",
                    self.tier_names().join(", ")
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        source: &str,
        expected_tier: Option<&str>,
        expected_field: &str,
        expected_line: Option<usize>,
        message_part: &str,
    ) {
        let errors = ValuePolicy::parse(source).expect_err("should be rejected");
        let error = &errors[0];
        assert_eq!(error.rule.as_deref(), expected_tier, "{errors:?}");
        assert_eq!(error.field.as_deref(), Some(expected_field), "{errors:?}");
        assert_eq!(error.line, expected_line, "{errors:?}");
        assert!(
            error.message.contains(message_part),
            "'{}' should contain '{message_part}'",
            error.message
        );
    }

    #[test]
    fn example_parses_and_empty_file_is_the_default() {
        let policy = ValuePolicy::parse(EXAMPLE_POLICY).unwrap();
        assert_eq!(policy.tier_names(), ["A", "B", "C"]);
        assert_eq!(policy.tiers[1].criterion, TierCriterion::MinScore(60.0));
        assert_eq!(
            policy.scoring.strategic_attribute.as_deref(),
            Some("strategic_value")
        );
        assert_eq!(policy.abc, AbcPolicy::default());
        assert_eq!(policy.health, HealthPolicy::default());
        let empty = ValuePolicy::parse("").unwrap();
        assert_eq!(empty, ValuePolicy::default());
        let integers =
            ValuePolicy::parse("[scoring]\nfrequency = 1\nstrategic_attribute = \"attr.x\"\n")
                .unwrap();
        assert_eq!(integers.scoring.frequency, 1.0);
        assert_eq!(integers.scoring.strategic_attribute.as_deref(), Some("x"));
    }

    #[test]
    fn the_service_section_is_read_and_each_problem_named_by_its_key_path() {
        let policy = ValuePolicy::parse(EXAMPLE_POLICY).unwrap();
        let a = &policy.service.tiers["A"];
        assert_eq!(a.first_response.to_string(), "2h");
        assert_eq!(a.resolution_general.to_string(), "3d");
        assert_eq!(a.care_every_days, Some(14));
        assert!(a.business_hours);
        assert!(!policy.service.tiers["C"].business_hours);
        let calendar = &policy.service.calendar;
        assert!(calendar.is_working_day("2027-02-07".parse().unwrap()));
        assert!(!calendar.is_working_day("2027-02-10".parse().unwrap()));
        assert_eq!(calendar.minutes_per_working_day(), 450);
        assert!(ValuePolicy::default().service.tiers.is_empty());
        let tier = "[service.tier.A]\nresolution = { major = \"8h\", general = \"3d\" }\n";
        check(
            &format!("{tier}first_response = \"2 hours\"\n"),
            None,
            "service.tier.A.first_response",
            Some(3),
            "not a duration",
        );
        check(
            "[service.tier.A]\nfirst_response = \"2h\"\nresolution = { major = \"8h\" }\n",
            None,
            "service.tier.A.resolution.general",
            Some(3),
            "is required",
        );
        check(
            "[service.tier.Z]\nfirst_response = \"2h\"\nresolution = { major = \"8h\", general = \"1d\" }\n",
            None,
            "service.tier.Z",
            Some(1),
            "'Z' is not a tier; use one of A, B, C",
        );
        check(
            "[service.calendar]\ntime_zone = \"Asia/Beijing\"\n",
            None,
            "service.calendar.time_zone",
            Some(2),
            "not a time zone",
        );
        check(
            "[service.calendar]\nworking_hours = [\"09:00-12:00\", \"11:30-18:00\"]\n",
            None,
            "service.calendar",
            Some(2),
            "09:00-12:00 overlaps 11:30-18:00",
        );
        check(
            "[service.calendar]\nworking_hours = [\"9-12\"]\n",
            None,
            "service.calendar.working_hours",
            Some(2),
            "not a time of day",
        );
        check(
            "[service.calendar]\nworking_days = [\"mon\", \"funday\"]\n",
            None,
            "service.calendar.working_days",
            Some(2),
            "'funday' is not a weekday",
        );
        check(
            "[service.calendar]\nholidays = [\"2027-02-30\"]\n",
            None,
            "service.calendar.holidays",
            Some(2),
            "not a date",
        );
        check(
            &format!("{tier}first_response = \"2h\"\ncare_every_days = 0\n"),
            None,
            "service.tier.A.care_every_days",
            Some(4),
            "at least 1",
        );
        assert_eq!(policy.service.baseline.len(), 4);
        assert_eq!(policy.service.effort_bands.get("A"), Some(&(0.3, 0.6)));
        assert_eq!(policy.service.new_customer_budget, Some(0.4));
        assert_eq!(policy.service.new_customer_stages, ["线索"]);
        check(
            "[service]\neffort_share = { A = [0.7, 0.2] }\n",
            None,
            "service.effort_share.A",
            Some(2),
            "not a band",
        );
        check(
            "[service]\nnew_customer_stages = [\"潜客\"]\n",
            None,
            "service.new_customer_stages",
            Some(2),
            "'潜客' is not a stage",
        );
        check(
            "[[service.baseline]]\nname = \"x\"\ncheck = \"smile_daily\"\n",
            None,
            "service.baseline.check",
            Some(1),
            "'smile_daily' is not a check",
        );
        check(
            "[[service.baseline]]\nname = \"x\"\ncheck = \"real_follow_up_every\"\n",
            None,
            "service.baseline.days",
            Some(1),
            "is required",
        );
        check(
            "[[service.baseline]]\nname = \"x\"\ncheck = \"interaction_kind_every\"\ndays = 3\nkind = \"fax\"\n",
            None,
            "service.baseline.kind",
            Some(1),
            "fax",
        );
        check(
            "[service]\nsla = 1\n",
            None,
            "service.sla",
            Some(2),
            "unknown field",
        );
    }

    #[test]
    fn the_rebalance_section_is_read_and_checked() {
        let policy = ValuePolicy::parse(EXAMPLE_POLICY).unwrap();
        assert_eq!(
            policy.rebalance,
            crate::rebalance::RebalancePolicy::default()
        );
        let moved = ValuePolicy::parse(
            "[rebalance]\nmove_penalty = { C = 3 }\noverload_action = \"move\"\noverload_threshold = 1.5\n",
        )
        .unwrap();
        assert_eq!(moved.rebalance.move_penalty_of(Some("C")), 3);
        assert_eq!(
            moved.rebalance.overload_action,
            crate::rebalance::OverloadAction::Move
        );
        check(
            "[rebalance]\nmove_penalty = { Z = 4 }\n",
            None,
            "rebalance.move_penalty.Z",
            Some(2),
            "'Z' is not a tier",
        );
        check(
            "[rebalance]\nload_band_costs = [5, 3]\n",
            None,
            "rebalance.load_band_costs",
            Some(2),
            "convex",
        );
        check(
            "[rebalance]\noverload_action = \"shout\"\n",
            None,
            "rebalance.overload_action",
            Some(2),
            "propose|move",
        );
        check(
            "[rebalance]\noverload_threshold = 0.5\n",
            None,
            "rebalance.overload_threshold",
            Some(2),
            "between 1 and 100",
        );
    }

    #[test]
    fn the_pool_section_is_read_and_checked_against_the_tiers() {
        let policy = ValuePolicy::parse(EXAMPLE_POLICY).unwrap();
        assert_eq!(policy.pool.holding_cap.get("B"), Some(&80));
        assert_eq!(policy.pool.reclaim_after_days.get("C"), Some(&15));
        assert_eq!(
            policy.pool.transfer_approval.get("A"),
            Some(&TransferApproval::TwoLevels)
        );
        assert_eq!(policy.pool.real_follow_up.len(), 3);
        assert_eq!(ValuePolicy::default().pool, PoolPolicy::default());
        let named = ValuePolicy::parse(
            "[[tier]]\nname = \"战略\"\ntop_percent = 10\n[[tier]]\nname = \"普通\"\n[pool]\nreclaim_after_days = { \"战略\" = 60 }\n",
        )
        .unwrap();
        assert_eq!(named.pool.reclaim_after_days.get("战略"), Some(&60));
        check(
            "[pool]\nholding_cap = { A = 3, Z = 4 }\n",
            None,
            "pool.holding_cap.Z",
            Some(2),
            "'Z' is not a tier; use one of A, B, C",
        );
        check(
            "[pool]\ncooldown_days = -1\n",
            None,
            "pool.cooldown_days",
            Some(2),
            "whole number",
        );
        check(
            "[pool]\nwarn_before_days = 5\nreclaim_after_days = { C = 5 }\n",
            None,
            "pool.reclaim_after_days.C",
            Some(3),
            "no time to warn",
        );
        check(
            "[pool]\ntransfer_approval = { A = \"ceo\" }\n",
            None,
            "pool.transfer_approval.A",
            Some(2),
            "team_manager or two_levels",
        );
        check(
            "[pool]\nreal_follow_up = [ { kind = \"fax\" } ]\n",
            None,
            "pool.real_follow_up.kind",
            Some(2),
            "'fax'",
        );
        check(
            "[pool]\nclaims = 3\n",
            None,
            "pool.claims",
            Some(2),
            "unknown field",
        );
    }

    #[test]
    fn bad_policies_name_tier_field_and_line() {
        let tier = |body: &str| format!("[[tier]]\nname = \"A\"\n{body}\n[[tier]]\nname = \"C\"\n");
        check(
            "[clv]\nhorizon_months = 6.5\n",
            None,
            "clv.horizon_months",
            Some(2),
            "whole number",
        );
        check(
            "[clv]\nmonthly_discount_rate = 2\n",
            None,
            "clv.monthly_discount_rate",
            Some(2),
            "between 0 and 1",
        );
        check(
            "[scoring]\nmonetary = 1e308\n",
            None,
            "scoring.monetary",
            Some(2),
            "between 0 and 1000000",
        );
        check(
            &tier("min_score = 70\ntop_percent = 20"),
            Some("A"),
            "top_percent",
            Some(4),
            "not both",
        );
        check(
            &tier("min_score = 170"),
            Some("A"),
            "min_score",
            Some(3),
            "between 0 and 100",
        );
        check(
            &tier("top_percent = 0"),
            Some("A"),
            "top_percent",
            Some(3),
            "above 0",
        );
        check(
            &tier("top_percent = 20\nfloor = 3"),
            Some("#1"),
            "floor",
            Some(4),
            "unknown field",
        );
        check(
            &tier(""),
            Some("A"),
            "min_score",
            Some(1),
            "only the last tier",
        );
        check(
            "[[tier]]\nname = \"A\"\ntop_percent = 20\n[[tier]]\nname = \"B\"\ntop_percent = 20\n",
            Some("B"),
            "top_percent",
            Some(6),
            "must be above 20",
        );
        check(
            "[[tier]]\nname = \"A\"\nmin_score = 50\n[[tier]]\nname = \"B\"\nmin_score = 60\n[[tier]]\nname = \"C\"\n",
            Some("B"),
            "min_score",
            Some(6),
            "must be below 50",
        );
        check(
            "[[tier]]\nname = \"A\"\nmin_score = 50\n[[tier]]\nname = \"B\"\nmin_score = 0\n",
            Some("B"),
            "min_score",
            Some(6),
            "last tier",
        );
        check(
            "[[tier]]\nname = \"A\"\nmin_score = 50\n[[tier]]\nname = \"A\"\n",
            Some("A"),
            "name",
            Some(5),
            "unique",
        );
        check(
            "[[tier]]\nmin_score = 50\n[[tier]]\nname = \" \"\n",
            Some("#1"),
            "name",
            Some(1),
            "missing",
        );
        check("tier = []\n", None, "tier", Some(1), "at least one");
        check(
            "[scoring]\nmonetary = -1\n",
            None,
            "scoring.monetary",
            Some(2),
            "between 0 and 1000000, not -1",
        );
        check(
            "[scoring]\nstrategic = 0.2\n",
            None,
            "scoring.strategic",
            Some(2),
            "strategic_attribute",
        );
        check(
            "[scoring]\nfrequency = 0\nmonetary = 0\nclv = 0\ncost_to_serve = 0\nrisk = 0\n",
            None,
            "scoring",
            None,
            "above zero",
        );
        check(
            "[abc]\nby = \"revenue\"\n",
            None,
            "abc.by",
            Some(2),
            "monetary, clv or score",
        );
        check(
            "[abc]\na = 90\nb = 20\n",
            None,
            "abc.b",
            Some(3),
            "at most 100",
        );
        check(
            "[health]\nalert_below = 140\n",
            None,
            "health.alert_below",
            Some(2),
            "between 0 and 100",
        );
        check(
            "[health]\ndefault_purchase_gap_days = 0\n",
            None,
            "health.default_purchase_gap_days",
            Some(2),
            "above 0",
        );
        check(
            "[scoring]\nfrequency = \"high\"\n",
            None,
            "scoring.frequency",
            Some(2),
            "",
        );
        check(
            "[scoring]\ncolour = 1\n",
            None,
            "scoring.colour",
            Some(2),
            "unknown field",
        );
        check(
            "[abc]\nby = \"clv\"\n[[tier]]\nname = \"A\"\n[[tier]]\nname = \"B\"\nrank = 2\n",
            Some("#2"),
            "rank",
            Some(7),
            "unknown field",
        );
    }

    #[test]
    fn overrides_must_name_a_known_tier() {
        let policy = ValuePolicy::default();
        assert!(policy.check_override("B").is_ok());
        let error = policy.check_override("VIP").unwrap_err();
        assert_eq!(error.field, "tier");
        assert!(error.message.contains("A, B, C"), "{error}");
    }
}
