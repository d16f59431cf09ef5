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

/// The freshness of a rhythm (purchases or interactions) as of `today`, `None` without any date.
fn rhythm_component(dates: &[NaiveDate], today: NaiveDate, default_gap_days: f64) -> Option<f64> {
    let mut dates: Vec<NaiveDate> = dates
        .iter()
        .copied()
        .filter(|date| *date <= today)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    let last = *dates.last()?;
    let usual = usual_gap_days(&dates).unwrap_or(default_gap_days);
    Some(rhythm_freshness((today - last).num_days() as f64, usual))
}

/// Health 0..100 and its known parts (name → 0..1 sub-score); `None` when no part is known:
/// a customer nobody has bought from, talked to or served has no measurable health.
///
/// Parts: `recency` = freshness of the last purchase day against the median gap between purchase
/// days (default gap when fewer than two); `interaction` = the same for interaction days;
/// `tickets` = 1 / (1 + open tickets), unknown while tickets are not tracked, and left out when
/// nothing else is known and no ticket is open; `p_alive` = the CLV model's probability the customer is
/// still active. Health = 100 × Σ weight·part / Σ weight over the known parts (a customer with
/// no purchase, no interaction or no p_alive simply lacks that part).
pub(crate) fn health_score(
    policy: &HealthPolicy,
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
            rhythm_component(purchase_dates, today, policy.default_purchase_gap_days),
        ),
        (
            "interaction",
            policy.interaction,
            rhythm_component(
                interaction_dates,
                today,
                policy.default_interaction_gap_days,
            ),
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
        let (health, parts) = health_score(&policy, &[], &[], Some(0), None, day(10));
        assert_eq!((health, parts.len()), (None, 0), "unknown, not perfect");
        let (health, parts) = health_score(&policy, &[], &[], None, None, day(10));
        assert_eq!(
            (health, parts.len()),
            (None, 0),
            "no activity at all: unknown"
        );
        let (health, parts) = health_score(&policy, &[], &[], Some(1), None, day(10));
        assert_eq!(parts, [("tickets".to_string(), 0.5)]);
        assert_eq!(health, Some(50.0));
        let (_, parts) = health_score(&policy, &[day(9)], &[], Some(0), None, day(10));
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
}
