//! The health score: how a relationship is doing now, from purchase and contact rhythm, tickets and p_alive.

use chrono::NaiveDate;

use super::policy::HealthPolicy;

/// A gap this many times the usual one fades a rhythm component to zero.
pub const FADE_AFTER_USUAL_GAPS: f64 = 3.0;

/// 1 while `days_since` is within the usual gap, falling linearly to 0 at
/// [`FADE_AFTER_USUAL_GAPS`] times the usual gap, 0 after that.
pub fn rhythm_freshness(days_since: f64, usual_gap_days: f64) -> f64 {
    let usual = usual_gap_days.max(1.0);
    if days_since <= usual {
        return 1.0;
    }
    let fade_end = FADE_AFTER_USUAL_GAPS * usual;
    ((fade_end - days_since) / (fade_end - usual)).clamp(0.0, 1.0)
}

/// Median gap in days between consecutive distinct dates (sorted, deduplicated by the caller);
/// `None` with fewer than two dates.
fn usual_gap_days(dates: &[NaiveDate]) -> Option<f64> {
    let mut gaps: Vec<i64> = dates
        .windows(2)
        .map(|pair| (pair[1] - pair[0]).num_days())
        .collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    // For an odd count both indices are the middle one, for an even count the two middle ones.
    let lower_middle = gaps[(gaps.len() - 1) / 2];
    let upper_middle = gaps[gaps.len() / 2];
    Some((lower_middle + upper_middle) as f64 / 2.0)
}

/// The distinct dates up to `today`, in order.
fn days_until(dates: &[NaiveDate], today: NaiveDate) -> Vec<NaiveDate> {
    let mut dates: Vec<NaiveDate> = dates
        .iter()
        .copied()
        .filter(|date| *date <= today)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    dates
}

/// The freshness of a rhythm (purchases or interactions) as of `today`, `None` without any date;
/// a customer without a rhythm of their own (one date) is held to `default_gap_days`.
fn rhythm_component(dates: &[NaiveDate], today: NaiveDate, default_gap_days: f64) -> Option<f64> {
    let dates = days_until(dates, today);
    let last = *dates.last()?;
    let usual = usual_gap_days(&dates).unwrap_or(default_gap_days);
    Some(rhythm_freshness((today - last).num_days() as f64, usual))
}

/// Customers with a rhythm of their own needed before theirs sets the usual gap of the others.
pub const RHYTHMS_FOR_A_POPULATION_GAP: usize = 30;

/// The usual gaps, in days, that a customer with one purchase day (or one interaction day) is
/// held to: the median of the usual gaps of the customers who have a rhythm, at most the
/// policy's default, which alone applies while fewer than [`RHYTHMS_FOR_A_POPULATION_GAP`]
/// customers have one.
///
/// Without it a customer who bought once, half a year ago, looked perfectly fresh against the
/// default gap of 180 days while RFM, which compares customers with each other, rightly
/// called them lost: the two measures contradicted each other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UsualGaps {
    pub purchase_days: f64,
    pub interaction_days: f64,
}

impl UsualGaps {
    /// The policy's defaults alone.
    pub fn of_policy(policy: &HealthPolicy) -> UsualGaps {
        UsualGaps {
            purchase_days: policy.default_purchase_gap_days,
            interaction_days: policy.default_interaction_gap_days,
        }
    }

    /// From the rhythms of a population (each customer's purchase and interaction dates).
    pub fn of_population<'a>(
        policy: &HealthPolicy,
        rhythms: impl Iterator<Item = (&'a [NaiveDate], &'a [NaiveDate])>,
        today: NaiveDate,
    ) -> UsualGaps {
        let mut purchase_gaps = Vec::new();
        let mut interaction_gaps = Vec::new();
        for (purchases, interactions) in rhythms {
            purchase_gaps.extend(usual_gap_days(&days_until(purchases, today)));
            interaction_gaps.extend(usual_gap_days(&days_until(interactions, today)));
        }
        let population = |mut gaps: Vec<f64>, default: f64| {
            if gaps.len() < RHYTHMS_FOR_A_POPULATION_GAP {
                return default;
            }
            gaps.sort_unstable_by(f64::total_cmp);
            let middle = (gaps[(gaps.len() - 1) / 2] + gaps[gaps.len() / 2]) / 2.0;
            middle.min(default)
        };
        UsualGaps {
            purchase_days: population(purchase_gaps, policy.default_purchase_gap_days),
            interaction_days: population(interaction_gaps, policy.default_interaction_gap_days),
        }
    }
}

/// Health 0..100 and its known parts (name → 0..1 sub-score); `None` when no part is known:
/// a customer nobody has bought from, talked to or served has no measurable health.
///
/// Parts: `recency` = freshness of the last purchase day against the median gap between purchase
/// days (the population's usual gap, [`UsualGaps`], when fewer than two); `interaction` = the
/// same for interaction days;
/// `tickets` = 1 / (1 + open tickets), unknown while tickets are not tracked, and left out when
/// nothing else is known and no ticket is open; `p_alive` = the CLV model's probability the customer is
/// still active. Health = 100 × Σ weight·part / Σ weight over the known parts (a customer with
/// no purchase, no interaction or no p_alive simply lacks that part).
pub(crate) fn health_score(
    policy: &HealthPolicy,
    usual_gaps: &UsualGaps,
    purchase_dates: &[NaiveDate],
    interaction_dates: &[NaiveDate],
    open_tickets: Option<u32>,
    p_alive: Option<f64>,
    today: NaiveDate,
) -> (Option<f64>, Vec<(String, f64)>) {
    let parts = [
        (
            "recency",
            policy.recency,
            rhythm_component(purchase_dates, today, usual_gaps.purchase_days),
        ),
        (
            "interaction",
            policy.interaction,
            rhythm_component(interaction_dates, today, usual_gaps.interaction_days),
        ),
        (
            "tickets",
            policy.tickets,
            open_tickets.map(|open| 1.0 / (1.0 + f64::from(open))),
        ),
        (
            "p_alive",
            policy.p_alive,
            p_alive
                .filter(|probability| probability.is_finite())
                .map(|probability| probability.clamp(0.0, 1.0)),
        ),
    ];
    // "No open ticket" alone says nothing about a relationship: a customer nobody bought from
    // or talked to would otherwise look perfectly healthy. It counts beside another known
    // part; an open ticket always counts.
    let others_known = parts
        .iter()
        .any(|(name, _, value)| *name != "tickets" && value.is_some());
    let mut weighted_sum = 0.0;
    let mut weight_sum = 0.0;
    let mut known_parts = Vec::with_capacity(parts.len());
    for (name, weight, value) in parts {
        let value = value.filter(|value| name != "tickets" || others_known || *value < 1.0);
        if let Some(value) = value {
            weighted_sum += weight * value;
            weight_sum += weight;
            known_parts.push((name.to_string(), value));
        }
    }
    let health = (weight_sum > 0.0).then(|| (100.0 * weighted_sum / weight_sum).clamp(0.0, 100.0));
    (health, known_parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Days;

    fn day(offset: u64) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + Days::new(offset)
    }

    /// Health of a customer with weekly interactions, the last one `days_since_contact` before today.
    fn check(days_since_contact: u64, open_tickets: u32, p_alive: Option<f64>, expected: f64) {
        let today = day(100);
        let last = day(100 - days_since_contact);
        let interactions = [last - Days::new(14), last - Days::new(7), last];
        let purchases = [day(90), day(97)];
        let (health, parts) = health_score(
            &HealthPolicy::default(),
            &UsualGaps::of_policy(&HealthPolicy::default()),
            &purchases,
            &interactions,
            Some(open_tickets),
            p_alive,
            today,
        );
        let health = health.expect("known parts");
        assert!(
            (health - expected).abs() < 1e-9,
            "{days_since_contact} days: {health} {parts:?}"
        );
    }

    #[test]
    fn health_combines_known_parts() {
        // Everything fresh and no tickets; p_alive unknown is left out.
        check(0, 0, None, 100.0);
        check(7, 0, Some(1.0), 100.0);
        // Interaction at twice the usual gap is half fresh: (0.35 + 0.25 × 0.5 + 0.15 + 0.25) / 1.
        check(14, 0, Some(1.0), 87.5);
        check(21, 0, Some(1.0), 75.0);
        check(60, 0, Some(1.0), 75.0);
        // One open ticket halves the tickets part; p_alive 0 takes its whole weight.
        check(0, 1, Some(0.0), 100.0 * (0.35 + 0.25 + 0.075) / 1.0);
    }

    #[test]
    fn no_open_ticket_alone_is_not_health() {
        let policy = HealthPolicy::default();
        let (health, parts) = health_score(
            &policy,
            &UsualGaps::of_policy(&policy),
            &[],
            &[],
            Some(0),
            None,
            day(10),
        );
        assert_eq!((health, parts.len()), (None, 0), "unknown, not perfect");
        let (health, parts) = health_score(
            &policy,
            &UsualGaps::of_policy(&policy),
            &[],
            &[],
            None,
            None,
            day(10),
        );
        assert_eq!(
            (health, parts.len()),
            (None, 0),
            "no activity at all: unknown"
        );
        let (health, parts) = health_score(
            &policy,
            &UsualGaps::of_policy(&policy),
            &[],
            &[],
            Some(1),
            None,
            day(10),
        );
        assert_eq!(parts, [("tickets".to_string(), 0.5)]);
        assert_eq!(health, Some(50.0));
        let (_, parts) = health_score(
            &policy,
            &UsualGaps::of_policy(&policy),
            &[day(9)],
            &[],
            Some(0),
            None,
            day(10),
        );
        assert_eq!(
            parts.len(),
            2,
            "beside a purchase, no open ticket counts: {parts:?}"
        );
    }

    #[test]
    fn more_days_since_contact_never_raises_health() {
        let mut previous = f64::INFINITY;
        for days_since_contact in 0..40 {
            let interactions = [day(0), day(7), day(14)];
            let today = day(14 + days_since_contact);
            let (health, _) = health_score(
                &HealthPolicy::default(),
                &UsualGaps::of_policy(&HealthPolicy::default()),
                &[day(10)],
                &interactions,
                Some(0),
                None,
                today,
            );
            let health = health.expect("known parts");
            assert!(
                health <= previous,
                "day {days_since_contact}: {health} > {previous}"
            );
            if (8..=21).contains(&days_since_contact) {
                assert!(health < previous, "fades strictly past the usual gap");
            }
            previous = health;
        }
    }

    #[test]
    fn freshness_fades_from_one_to_zero() {
        let cases = [
            (0.0, 10.0, 1.0),
            (10.0, 10.0, 1.0),
            (20.0, 10.0, 0.5),
            (30.0, 10.0, 0.0),
            (99.0, 10.0, 0.0),
            (2.0, 0.0, 0.5),
        ];
        for (days_since, usual, expected) in cases {
            assert_eq!(
                rhythm_freshness(days_since, usual),
                expected,
                "{days_since} / {usual}"
            );
        }
    }

    #[test]
    fn one_time_buyers_are_held_to_the_population_rhythm() {
        let policy = HealthPolicy::default();
        let today = day(400);
        // Forty customers buying every 30 days, one every 60.
        let monthly: Vec<NaiveDate> = (0..10).map(|month| day(100 + 30 * month)).collect();
        let bimonthly: Vec<NaiveDate> = (0..5).map(|period| day(100 + 60 * period)).collect();
        let mut rhythms: Vec<(&[NaiveDate], &[NaiveDate])> = vec![(monthly.as_slice(), &[]); 40];
        rhythms.push((bimonthly.as_slice(), &[]));
        let gaps = UsualGaps::of_population(&policy, rhythms.into_iter(), today);
        assert_eq!(gaps.purchase_days, 30.0);
        // Too few interaction rhythms: the policy's default.
        assert_eq!(gaps.interaction_days, policy.default_interaction_gap_days);
        // Bought once, 170 days ago: fresh against 180 days, long gone against the population's 30.
        let once = [day(230)];
        let (against_default, _) = health_score(
            &policy,
            &UsualGaps::of_policy(&policy),
            &once,
            &[],
            None,
            None,
            today,
        );
        let (against_population, parts) =
            health_score(&policy, &gaps, &once, &[], None, None, today);
        assert_eq!(against_default, Some(100.0));
        assert_eq!(against_population, Some(0.0), "{parts:?}");
        // Too few customers with a rhythm: the default, and never more than it.
        let few = vec![(monthly.as_slice(), &[][..]); 3];
        assert_eq!(
            UsualGaps::of_population(&policy, few.into_iter(), today),
            UsualGaps::of_policy(&policy)
        );
        let slow: Vec<NaiveDate> = (0..3).map(|period| day(400 * period / 2)).collect();
        let slow_population = vec![(slow.as_slice(), &[][..]); 40];
        assert_eq!(
            UsualGaps::of_population(&policy, slow_population.into_iter(), today).purchase_days,
            policy.default_purchase_gap_days
        );
    }
}
