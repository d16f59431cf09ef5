//! Tiers from the policy's `[[tier]]` list, and manual overrides that win until they expire.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::policy::{TierCriterion, TierRule};
use crate::ids::CustomerId;

/// A manual tier set by a person, with the reason they gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TierOverride {
    pub tier: String,
    pub reason: String,
    /// The last day the override applies; from the next day the computed tier returns.
    pub expires_on: NaiveDate,
}

impl TierOverride {
    /// Whether the override still applies on `today` (inclusive of `expires_on`).
    pub fn is_active(&self, today: NaiveDate) -> bool {
        today <= self.expires_on
    }
}

/// For each customer (input order), the index of its tier in `tiers`.
///
/// Customers are ranked by score descending; customers with equal scores share one rank, the
/// mean of their positions (as the score's own percentiles do), so equal customers always get
/// the same tier and a tie at a cut falls on the side where most of it lies. A customer takes
/// the first tier it qualifies for: `MinScore(s)` when its score is at least s;
/// `TopPercent(x)` when its rank (0-based) is below `ceil(x% × number of customers)`, so the cut
/// counts from the very best customer, not from those the tiers above left over, and a
/// population without ties always fills a top tier with x > 0; `Rest` always.
pub(crate) fn computed_tiers(
    tiers: &[TierRule],
    scores: &[f64],
    ids: &[&CustomerId],
) -> Vec<usize> {
    let customer_count = scores.len();
    let mut order: Vec<usize> = (0..customer_count).collect();
    order.sort_by(|left, right| {
        scores[*right]
            .total_cmp(&scores[*left])
            .then_with(|| ids[*left].cmp(ids[*right]))
            .then_with(|| left.cmp(right))
    });
    let mut rank = vec![0.0; customer_count];
    let mut start = 0;
    while start < customer_count {
        let mut end = start + 1;
        while end < customer_count && scores[order[end]] == scores[order[start]] {
            end += 1;
        }
        let mean_position = (start + end - 1) as f64 / 2.0;
        for &index in &order[start..end] {
            rank[index] = mean_position;
        }
        start = end;
    }
    let last_tier = tiers.len().saturating_sub(1);
    (0..customer_count)
        .map(|index| {
            tiers
                .iter()
                .position(|tier| match tier.criterion {
                    TierCriterion::MinScore(minimum) => scores[index] >= minimum,
                    TierCriterion::TopPercent(percent) => {
                        // The small epsilon keeps an exact 20% of 10 at 2 despite rounding in the product.
                        let cut = (percent * customer_count as f64 / 100.0 - 1e-9).ceil();
                        rank[index] < cut
                    }
                    TierCriterion::Rest => true,
                })
                .unwrap_or(last_tier)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::policy::ValuePolicy;

    fn check(policy: &ValuePolicy, scores: &[(&str, f64)], expected: &[&str]) {
        let ids: Vec<CustomerId> = scores
            .iter()
            .map(|(id, _)| CustomerId::parse(id).unwrap())
            .collect();
        let id_refs: Vec<&CustomerId> = ids.iter().collect();
        let values: Vec<f64> = scores.iter().map(|(_, score)| *score).collect();
        let names: Vec<&str> = computed_tiers(&policy.tiers, &values, &id_refs)
            .into_iter()
            .map(|index| policy.tiers[index].name.as_str())
            .collect();
        assert_eq!(names, expected, "{scores:?}");
    }

    #[test]
    fn tiers_by_threshold_and_by_percentile() {
        let default = ValuePolicy::default();
        let ten: Vec<(String, f64)> = (0..10)
            .map(|i| (format!("c{i}"), f64::from(i * 10)))
            .collect();
        let ten: Vec<(&str, f64)> = ten
            .iter()
            .map(|(id, score)| (id.as_str(), *score))
            .collect();
        // Top 20% of ten is two customers, top 50% five (cumulative from the best).
        check(
            &default,
            &ten,
            &["C", "C", "C", "C", "C", "B", "B", "B", "A", "A"],
        );
        // Equal scores share a tier: four at 90 hold positions 0–3 (mean 1.5), outside the
        // top 20% of five (one place) and inside the top 50% (three places).
        check(
            &default,
            &[
                ("b", 90.0),
                ("a", 90.0),
                ("c", 90.0),
                ("d", 90.0),
                ("e", 10.0),
            ],
            &["B", "B", "B", "B", "C"],
        );
        // A tie straddling a cut goes where most of it lies: two at 80 hold positions 1–2
        // (mean 1.5) of ten, inside the top 20% (two places).
        check(
            &default,
            &[
                ("a", 99.0),
                ("b", 80.0),
                ("c", 80.0),
                ("d", 70.0),
                ("e", 60.0),
                ("f", 50.0),
                ("g", 40.0),
                ("h", 30.0),
                ("i", 20.0),
                ("j", 10.0),
            ],
            &["A", "A", "A", "B", "B", "C", "C", "C", "C", "C"],
        );
        // A single customer fills the top tier (ceil of 20% of 1).
        check(&default, &[("only", 0.0)], &["A"]);
        let thresholds = ValuePolicy::parse(
            "[[tier]]\nname = \"战略\"\nmin_score = 70\n[[tier]]\nname = \"重点\"\nmin_score = 40\n[[tier]]\nname = \"普通\"\n",
        )
        .unwrap();
        check(
            &thresholds,
            &[
                ("a", 70.0),
                ("b", 69.99),
                ("c", 40.0),
                ("d", 39.0),
                ("e", 100.0),
            ],
            &["战略", "重点", "重点", "普通", "战略"],
        );
        // Mixed: the best 10% first, then anyone scoring 50 or more.
        let mixed = ValuePolicy::parse(
            "[[tier]]\nname = \"top\"\ntop_percent = 10\n[[tier]]\nname = \"good\"\nmin_score = 50\n[[tier]]\nname = \"rest\"\n",
        )
        .unwrap();
        check(
            &mixed,
            &ten,
            &[
                "rest", "rest", "rest", "rest", "rest", "good", "good", "good", "good", "top",
            ],
        );
        check(&default, &[], &[]);
    }

    #[test]
    fn override_lasts_through_its_expiry_day() {
        let expires_on = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
        let tier_override = TierOverride {
            tier: "A".to_string(),
            reason: "strategic account".to_string(),
            expires_on,
        };
        let cases = [
            (NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), true),
            (expires_on, true),
            (NaiveDate::from_ymd_opt(2024, 7, 1).unwrap(), false),
        ];
        for (today, expected) in cases {
            assert_eq!(tier_override.is_active(today), expected, "{today}");
        }
    }
}
