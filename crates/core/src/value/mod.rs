//! Customer value grading (客户价值分级): RFM, a composite score, ABC classes, tiers with manual overrides and a health score.
//!
//! Pure functions over plain inputs and a [`Clock`]: [`grade_customers`] grades a whole population
//! at once, because every score here is relative to the other customers. Same inputs, policy and
//! clock give the same grades; ties are always broken by customer id.
//!
//! # Definitions
//!
//! **Days.** Purchase and interaction days are UTC dates, and recency, rhythms and CLV ages are
//! counted to the clock's UTC date; an override's last day is a date of the organisation's
//! calendar ([`Clock::today`]).
//!
//! **Purchase days** ([`daily_purchases`]): transactions are summed per UTC day. A day whose net
//! is <= 0 is not a purchase day; its negative net reduces the most recent earlier purchase day,
//! and when that drops to <= 0 it stops being a purchase day and the rest carries further back.
//! Refunds with no earlier purchase are ignored. Only purchase days on or before the clock date count.
//!
//! **RFM**: recency = days from the last purchase day to the clock date, frequency = number of
//! purchase days, monetary = total net amount. Each gets a score 1–5 among the customers that
//! have at least one purchase day: `1 + floor(5 × (customers with a strictly worse value) / n)`,
//! so equal values share a score (the one of their lowest position); smaller recency is better.
//! When all n values are equal the score is a neutral 3; with n < 5 the best score is below 5.
//! Customers without purchases have no RFM.
//!
//! **Segments** ([`RfmSegment::from_scores`]): with FM = (F + M) / 2 rounded half up, first match wins:
//! new (R5, F1) · champions (R5 FM4–5, R4 FM5) · loyal (R3–4 FM4–5) · potential_loyalist
//! (R4–5 FM2–3) · promising (R4 FM1) · need_attention (R3 FM3) · about_to_sleep (R3 FM1–2) ·
//! cannot_lose (R1–2 and FM5 or F5) · at_risk (R1–2 FM3–4) · hibernating (R2 FM1–2) · lost (R1 FM1–2).
//!
//! **Composite score** 0–100 (`[scoring]`): dimensions frequency (purchase days, 0 without
//! purchases), monetary (net amount, 0 without purchases), clv, strategic (the number in custom
//! attribute `strategic_attribute`), and, counting against the score, cost_to_serve (interaction
//! minutes + `ticket_minutes` × tickets opened, both up to the clock) and risk (1 − p_alive, for
//! customers with a repeat purchase: BG/NBD calls every one-time buyer alive). Each dimension becomes a
//! mid-rank percentile p in 0..1 among the customers whose value is known (lowest 0, highest 1,
//! ties share the mean of their positions, a lone or all-equal value 0.5). Then
//! `score = 100 × (Σ w·p over positive + Σ w·(1 − p) over negative dimensions) / Σ w`, all sums
//! over the dimensions known for that customer: an unknown clv, strategic value or p_alive is
//! left out and the other weights renormalised (50 if nothing weighted is known). Defaults:
//! frequency 0.25, monetary 0.35, clv 0.25, strategic 0, cost_to_serve 0.1, risk 0.05.
//!
//! **ABC** (`[abc]`): customers by value (`by` = monetary (default), clv or score) descending,
//! ties by id; A while the share of the total held by the customers before it is < a% (80),
//! B while < (a + b)% (95), then C. Zero, negative or unknown values are C and not in the total.
//!
//! **Tiers** (`[[tier]]`, best first): the first tier a customer qualifies for, where
//! `min_score = s` takes score >= s and `top_percent = x` takes the first ceil(x% × n) customers by
//! score, counted from the very best customer, where equal scores share the mean of their
//! positions (equal customers get the same tier; a tie at a cut goes where most of it lies);
//! the last tier has neither and takes the rest. Default: A top 20%, B top 50%, C. A [`TierOverride`] replaces the computed tier while
//! the clock date <= `expires_on`, if it names a tier of the policy (an override naming a tier the
//! policy no longer has is ignored; [`ValuePolicy::check_override`] rejects it at entry).
//!
//! **Health** 0–100 (`[health]`): parts recency (freshness of the last purchase day against the
//! median gap between the customer's purchase days, 180 days with fewer than two), interaction (same
//! for interaction days, 30 days default), tickets = 1 / (1 + open tickets), p_alive (only with a
//! repeat purchase, as for risk: a one-time buyer of long ago is not healthy). Freshness is
//! 1 within the usual gap, falling linearly to 0 at 3× the usual gap. Health = 100 × Σ w·part / Σ w
//! over known parts (no purchases, no interactions or no p_alive leave that part out). Defaults:
//! recency 0.35, interaction 0.25, tickets 0.15, p_alive 0.25; at risk when health < `alert_below` (40).

mod abc;
mod health;
mod history;
mod policy;
mod rank;
mod rfm;
mod score;
mod tiers;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::clock::Clock;
use crate::ids::CustomerId;

pub use abc::AbcClass;
pub use health::{
    rhythm_freshness, UsualGaps, FADE_AFTER_USUAL_GAPS, RHYTHMS_FOR_A_POPULATION_GAP,
};
pub use history::{daily_purchases, PurchaseDay};
pub use policy::{
    AbcBasis, AbcPolicy, ClvPolicy, HealthPolicy, ScoringPolicy, TierCriterion, TierRule,
    ValuePolicy, EXAMPLE_POLICY,
};
pub use rfm::{Rfm, RfmSegment};
pub use score::{Dimension, DimensionValue};
pub use tiers::TierOverride;

use rfm::RfmFacts;
use score::RawDimensions;

/// Everything grading needs to know about one customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerValueInput {
    pub customer_id: CustomerId,
    /// From [`daily_purchases`]; only days on or before the clock date are used.
    pub purchase_days: Vec<PurchaseDay>,
    /// From the CLV models; `None` when not computed.
    pub clv: Option<f64>,
    pub p_alive: Option<f64>,
    /// Total minutes of interactions (cost to serve); negative or non-finite counts as 0.
    pub interaction_minutes: f64,
    /// Dates of interactions; only days on or before the clock date are used.
    pub interaction_days: Vec<NaiveDate>,
    /// Tickets open as of the clock; they lower health. `None` when tickets are not known
    /// for this customer's organisation: the health part is then left out, not a perfect 1.
    pub open_tickets: Option<u32>,
    /// Tickets opened up to the clock, open or closed: service effort, into cost to serve.
    pub tickets_opened: u32,
    /// Custom attributes; the strategic value is read from the one the policy names.
    pub attributes: BTreeMap<String, String>,
    pub tier_override: Option<TierOverride>,
}

impl CustomerValueInput {
    /// A customer with no history at all, to fill in field by field.
    pub fn new(customer_id: CustomerId) -> Self {
        CustomerValueInput {
            customer_id,
            purchase_days: Vec::new(),
            clv: None,
            p_alive: None,
            interaction_minutes: 0.0,
            interaction_days: Vec::new(),
            open_tickets: None,
            tickets_opened: 0,
            attributes: BTreeMap::new(),
            tier_override: None,
        }
    }
}

/// The grade of one customer, with what is needed to explain it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CustomerGrade {
    pub customer_id: CustomerId,
    /// `None` when the customer has no purchase day on or before the clock date.
    pub rfm: Option<Rfm>,
    /// Composite score 0..100.
    pub score: f64,
    /// Every dimension's raw value, percentile and contribution, in [`Dimension::ALL`] order.
    pub dimensions: Vec<DimensionValue>,
    pub abc: AbcClass,
    /// The tier the policy gives.
    pub computed_tier: String,
    /// The tier after an unexpired override.
    pub tier: String,
    pub override_active: bool,
    /// Health 0..100; `None` when nothing about the customer can be measured yet.
    pub health: Option<f64>,
    /// Known health parts, name → 0..1 sub-score.
    pub health_parts: Vec<(String, f64)>,
    /// Health is known and below the policy's `alert_below`.
    pub at_risk: bool,
}

/// Grades all customers against each other as of the clock date; the result is in input order.
pub fn grade_customers(
    policy: &ValuePolicy,
    customers: &[CustomerValueInput],
    clock: Clock,
) -> Vec<CustomerGrade> {
    // Purchase days are UTC dates, so they are counted to the clock's UTC date; overrides
    // expire on the organisation's calendar.
    let today = clock.today();
    let purchase_today = clock.utc_date();
    let facts: Vec<Option<RfmFacts>> = customers
        .iter()
        .map(|customer| RfmFacts::from_purchase_days(&customer.purchase_days, purchase_today))
        .collect();
    let rfm = rfm::score_rfm(&facts);

    let raw_dimensions: Vec<RawDimensions> = customers
        .iter()
        .zip(&facts)
        .map(|(customer, facts)| raw_dimensions(policy, customer, facts.as_ref()))
        .collect();
    let scored = score::composite_scores(&policy.scoring, &raw_dimensions);

    let ids: Vec<&CustomerId> = customers
        .iter()
        .map(|customer| &customer.customer_id)
        .collect();
    let abc_values: Vec<f64> = customers
        .iter()
        .zip(&facts)
        .zip(&scored)
        .map(|((customer, facts), (score, _))| match policy.abc.by {
            AbcBasis::Monetary => facts.map_or(0.0, |facts| facts.monetary.to_major()),
            AbcBasis::Clv => customer.clv.unwrap_or(0.0),
            AbcBasis::Score => *score,
        })
        .collect();
    let abc_classes = abc::abc_classes(&policy.abc, &abc_values, &ids);
    let scores: Vec<f64> = scored.iter().map(|(score, _)| *score).collect();
    let tier_indices = tiers::computed_tiers(&policy.tiers, &scores, &ids);
    let usual_gaps = population_usual_gaps(policy, customers, clock);

    customers
        .iter()
        .zip(rfm)
        .zip(scored)
        .zip(abc_classes)
        .zip(tier_indices)
        .map(
            |((((customer, rfm), (score, dimensions)), abc), tier_index)| {
                let computed_tier = policy
                    .tiers
                    .get(tier_index)
                    .map(|tier| tier.name.clone())
                    .unwrap_or_default();
                let active_override = customer.tier_override.as_ref().filter(|tier_override| {
                    tier_override.is_active(today)
                        && policy.check_override(&tier_override.tier).is_ok()
                });
                let tier = active_override
                    .map(|tier_override| tier_override.tier.trim().to_string())
                    .unwrap_or_else(|| computed_tier.clone());
                let (health, health_parts, at_risk) =
                    customer_health(policy, &usual_gaps, customer, clock);
                CustomerGrade {
                    customer_id: customer.customer_id.clone(),
                    rfm,
                    score,
                    dimensions,
                    abc,
                    computed_tier,
                    tier,
                    override_active: active_override.is_some(),
                    health,
                    health_parts,
                    at_risk,
                }
            },
        )
        .collect()
}

/// The usual gaps that customers without a rhythm of their own are held to, from the rhythms
/// of `customers` as of the clock ([`UsualGaps`]).
pub fn population_usual_gaps(
    policy: &ValuePolicy,
    customers: &[CustomerValueInput],
    clock: Clock,
) -> UsualGaps {
    let purchase_dates: Vec<Vec<NaiveDate>> = customers.iter().map(purchase_dates).collect();
    UsualGaps::of_population(
        &policy.health,
        purchase_dates
            .iter()
            .zip(customers)
            .map(|(purchases, customer)| {
                (purchases.as_slice(), customer.interaction_days.as_slice())
            }),
        clock.utc_date(),
    )
}

/// The days the customer bought on (a day netting to a refund is no purchase).
fn purchase_dates(customer: &CustomerValueInput) -> Vec<NaiveDate> {
    customer
        .purchase_days
        .iter()
        .filter(|day| day.amount.is_positive())
        .map(|day| day.date)
        .collect()
}

/// One customer's health as of the clock: its own rhythms, tickets and P(alive), held to the
/// population's usual gaps only where it has no rhythm of its own. Unlike the score it is
/// not a rank among customers, so the daily job refreshes it (and the alerts it raises)
/// between monthly re-grades, from the p_alive of the last one. Returns health, its known
/// parts, and whether it is below the policy's alert threshold.
pub fn customer_health(
    policy: &ValuePolicy,
    usual_gaps: &UsualGaps,
    customer: &CustomerValueInput,
    clock: Clock,
) -> (Option<f64>, Vec<(String, f64)>, bool) {
    let purchase_dates = purchase_dates(customer);
    let (health, parts) = health::health_score(
        &policy.health,
        usual_gaps,
        &purchase_dates,
        &customer.interaction_days,
        customer.open_tickets,
        informative_p_alive(
            customer.p_alive,
            purchase_dates
                .iter()
                .filter(|date| **date <= clock.utc_date())
                .count(),
        ),
        clock.utc_date(),
    );
    let at_risk = health.is_some_and(|health| health < policy.health.alert_below);
    (health, parts, at_risk)
}

/// P(alive) where it tells something, for health and risk: with a repeat purchase (two
/// purchase days or more). BG/NBD lets a customer drop out only right after a repeat purchase,
/// so it calls everyone without one alive (P = 1), however long ago they bought once; for them
/// the part is left out and recency speaks instead. The stored `p_alive` stays the model's.
fn informative_p_alive(p_alive: Option<f64>, purchase_days: usize) -> Option<f64> {
    p_alive
        .filter(|probability| probability.is_finite() && purchase_days >= 2)
        .map(|probability| probability.clamp(0.0, 1.0))
}

/// The raw composite-score dimensions of one customer, in [`Dimension::ALL`] order.
fn raw_dimensions(
    policy: &ValuePolicy,
    customer: &CustomerValueInput,
    facts: Option<&RfmFacts>,
) -> RawDimensions {
    let finite_or_zero = |value: f64| {
        if value.is_finite() {
            value.max(0.0)
        } else {
            0.0
        }
    };
    let cost_to_serve = finite_or_zero(customer.interaction_minutes)
        + finite_or_zero(policy.scoring.ticket_minutes) * f64::from(customer.tickets_opened);
    let purchase_days = facts.map_or(0, |facts| facts.frequency as usize);
    let risk =
        informative_p_alive(customer.p_alive, purchase_days).map(|probability| 1.0 - probability);
    RawDimensions {
        values: [
            Some(facts.map_or(0.0, |facts| f64::from(facts.frequency))),
            Some(facts.map_or(0.0, |facts| facts.monetary.to_major())),
            customer.clv.filter(|clv| clv.is_finite()),
            score::strategic_value(&policy.scoring, &customer.attributes),
            Some(cost_to_serve),
            risk,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Days, TimeZone, Utc};

    fn date(offset: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Days::new(offset)
    }

    fn clock_on(offset: u64) -> Clock {
        Clock::at(Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + Days::new(offset))
    }

    /// A customer who bought `amount` on each of `purchase_offsets` (days after 2024-01-01).
    fn customer(id: &str, purchase_offsets: &[u64], amount: f64) -> CustomerValueInput {
        let mut input = CustomerValueInput::new(CustomerId::parse(id).unwrap());
        input.purchase_days = purchase_offsets
            .iter()
            .map(|offset| PurchaseDay {
                date: date(*offset),
                amount: crate::Money::from_minor_units((amount * 100.0).round() as i64),
            })
            .collect();
        input
    }

    /// One line per customer: `id segment abc computed_tier→tier [override] [at_risk]`.
    fn check(
        policy: &ValuePolicy,
        customers: &[CustomerValueInput],
        today: u64,
        expected: &[&str],
    ) {
        let grades = grade_customers(policy, customers, clock_on(today));
        let lines: Vec<String> = grades
            .iter()
            .map(|grade| {
                let segment = grade.rfm.as_ref().map_or("-", |rfm| rfm.segment.as_str());
                let mut line = format!(
                    "{} {segment} {} {}→{}",
                    grade.customer_id, grade.abc, grade.computed_tier, grade.tier
                );
                if grade.override_active {
                    line.push_str(" override");
                }
                if grade.at_risk {
                    line.push_str(" at_risk");
                }
                assert!((0.0..=100.0).contains(&grade.score), "{grade:?}");
                assert!(
                    grade
                        .health
                        .is_none_or(|health| (0.0..=100.0).contains(&health)),
                    "{grade:?}"
                );
                assert_eq!(grade.dimensions.len(), Dimension::ALL.len());
                line
            })
            .collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn grades_a_small_population_in_input_order() {
        let mut whale = customer("whale", &[10, 40, 70, 98], 500.0);
        whale.clv = Some(5000.0);
        whale.p_alive = Some(0.95);
        whale.interaction_days = vec![date(90), date(97)];
        let regular = customer("regular", &[20, 50, 80], 100.0);
        let newcomer = customer("newcomer", &[99], 50.0);
        let steady = customer("steady", &[30, 60, 90], 80.0);
        let sleepy = customer("sleepy", &[5, 15], 40.0);
        let mut gone = customer("gone", &[0, 1], 15.0);
        gone.p_alive = Some(0.01);
        gone.open_tickets = Some(3);
        gone.interaction_days = vec![date(0), date(7)];
        // Bought only after the clock date: no RFM, no value yet.
        let future = customer("future", &[150], 999.0);
        // By hand: recency days 2, 20, 1, 10, 85, 99 give R 4, 2, 5, 3, 1, 1; frequencies 4, 3, 1,
        // 3, 2, 2 give F 5, 3, 1, 3, 1, 1; amounts 2000, 300, 50, 240, 80, 30 give M 5, 4, 2, 3, 2, 1
        // and, of 2700 in all, shares before of 0, 74, 97, 85, 94 and 99%. Gone is 98 days into a
        // 1-day rhythm of purchases and 92 into a 7-day one of calls, so its health is
        // 100 × (0.35 × 0 + 0.25 × 0 + 0.15 / 4 + 0.25 × 0.01) = 4, below 40; sleepy is 85 days
        // into a 10-day rhythm and has no p_alive, so only its tickets part is fresh:
        // 100 × 0.15 / 0.5 = 30.
        check(
            &ValuePolicy::default(),
            &[whale, regular, newcomer, steady, sleepy, gone, future],
            100,
            &[
                "whale champions A A→A",
                "regular at_risk A A→A",
                "newcomer new C C→C",
                "steady need_attention B B→B",
                "sleepy lost B B→B at_risk",
                "gone lost C C→C at_risk",
                "future - C C→C",
            ],
        );
    }

    #[test]
    fn a_one_time_buyer_is_not_kept_alive_by_the_model() {
        // BG/NBD gives P(alive) = 1 to everyone without a repeat purchase; a customer who bought
        // once long ago must still look at risk, and must not get the best risk of all.
        let mut once_long_ago = customer("once", &[0], 500.0);
        once_long_ago.p_alive = Some(1.0);
        let mut regular = customer("regular", &[60, 80, 95], 100.0);
        regular.p_alive = Some(0.9);
        let grades = grade_customers(
            &ValuePolicy::default(),
            &[once_long_ago, regular],
            clock_on(400),
        );
        let once = &grades[0];
        assert!(once.at_risk, "{once:?}");
        assert!(
            !once.health_parts.iter().any(|(name, _)| name == "p_alive"),
            "{once:?}"
        );
        let risk = once
            .dimensions
            .iter()
            .find(|dimension| dimension.dimension == Dimension::Risk)
            .unwrap();
        assert_eq!(risk.raw, None, "{once:?}");
        // With a repeat purchase the model's P(alive) counts.
        let regular = &grades[1];
        assert!(regular
            .health_parts
            .iter()
            .any(|(name, value)| name == "p_alive" && (*value - 0.9).abs() < 1e-12));
    }

    #[test]
    fn override_wins_until_it_expires() {
        let mut small = customer("small", &[1], 1.0);
        small.tier_override = Some(TierOverride {
            tier: "A".to_string(),
            reason: "集团战略客户".to_string(),
            expires_on: date(100),
        });
        let big = customer("big", &[1, 2, 3], 100.0);
        let mut unknown = customer("unknown", &[1], 1.0);
        unknown.tier_override = Some(TierOverride {
            tier: "VIP".to_string(),
            reason: "tier since removed from the policy".to_string(),
            expires_on: date(100),
        });
        // small and unknown are identical, so they share the computed tier B (a tie at 50%).
        let population = [small, big, unknown];
        let policy = ValuePolicy::default();
        check(
            &policy,
            &population,
            100,
            &[
                "small lost C B→A override",
                "big loyal A A→A at_risk",
                "unknown lost C B→B",
            ],
        );
        check(
            &policy,
            &population,
            101,
            &[
                "small lost C B→B",
                "big loyal A A→A at_risk",
                "unknown lost C B→B",
            ],
        );
    }

    #[test]
    fn at_risk_is_strictly_below_the_threshold() {
        let policy = ValuePolicy {
            health: HealthPolicy {
                recency: 0.0,
                interaction: 0.0,
                tickets: 1.0,
                p_alive: 0.0,
                alert_below: 50.0,
                ..HealthPolicy::default()
            },
            ..ValuePolicy::default()
        };
        let with_tickets = |id: &str, open_tickets: u32| {
            let mut input = customer(id, &[], 0.0);
            input.open_tickets = Some(open_tickets);
            input.tickets_opened = open_tickets;
            input
        };
        // One ticket: health exactly 50, not below; two: 33.3.
        check(
            &policy,
            &[
                with_tickets("calm", 0),
                with_tickets("edge", 1),
                with_tickets("busy", 2),
            ],
            0,
            &["calm - C A→A", "edge - C B→B", "busy - C C→C at_risk"],
        );
    }

    #[test]
    fn daily_purchases_feed_grading() {
        let at = |offset: u64, amount: i64| {
            (
                Utc.with_ymd_and_hms(2024, 1, 1, 8, 0, 0).unwrap() + Days::new(offset),
                crate::Money::from_minor_units(amount * 100),
            )
        };
        let mut refunded = CustomerValueInput::new(CustomerId::parse("refunded").unwrap());
        refunded.purchase_days = daily_purchases(&[at(1, 80), at(5, 40), at(6, -60)]);
        let grades = grade_customers(&ValuePolicy::default(), &[refunded], clock_on(10));
        let rfm = grades[0].rfm.as_ref().unwrap();
        // The refund wiped day 5 and 20 of day 1: one purchase day of 60, nine days ago.
        assert_eq!(
            (rfm.recency_days, rfm.frequency, rfm.monetary.minor_units()),
            (9, 1, 6_000)
        );
    }
}
