//! The composite value score: dimensions normalised by percentile rank, then weighted into 0..100.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use super::policy::ScoringPolicy;
use super::rank::rank_counts;

/// One input of the composite score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Dimension {
    Frequency,
    Monetary,
    Clv,
    Strategic,
    CostToServe,
    Risk,
}

impl Dimension {
    pub const ALL: [Dimension; 6] = [
        Dimension::Frequency,
        Dimension::Monetary,
        Dimension::Clv,
        Dimension::Strategic,
        Dimension::CostToServe,
        Dimension::Risk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Frequency => "frequency",
            Dimension::Monetary => "monetary",
            Dimension::Clv => "clv",
            Dimension::Strategic => "strategic",
            Dimension::CostToServe => "cost_to_serve",
            Dimension::Risk => "risk",
        }
    }

    /// Whether a high value lowers the score.
    pub fn counts_against(self) -> bool {
        matches!(self, Dimension::CostToServe | Dimension::Risk)
    }

    pub fn weight(self, policy: &ScoringPolicy) -> f64 {
        match self {
            Dimension::Frequency => policy.frequency,
            Dimension::Monetary => policy.monetary,
            Dimension::Clv => policy.clv,
            Dimension::Strategic => policy.strategic,
            Dimension::CostToServe => policy.cost_to_serve,
            Dimension::Risk => policy.risk,
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one dimension made up a customer's score, for explanations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DimensionValue {
    pub dimension: Dimension,
    /// The raw value; `None` when unknown (no CLV, no numeric strategic attribute, no p_alive).
    pub raw: Option<f64>,
    /// Mid-rank percentile among customers with a known value, 0 = lowest raw value, 1 = highest.
    pub percentile: Option<f64>,
    /// The policy weight (a magnitude; `cost_to_serve` and `risk` count against the score).
    pub weight: f64,
    /// Points of the 0..100 score this dimension gave; the contributions add up to the score.
    pub contribution: f64,
}

/// The raw dimension values of one customer, `None` where unknown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RawDimensions {
    pub values: [Option<f64>; 6],
}

/// Reads the strategic value from a custom attribute; anything but a finite number is unknown.
pub(crate) fn strategic_value(
    policy: &ScoringPolicy,
    attributes: &BTreeMap<String, String>,
) -> Option<f64> {
    let key = policy.strategic_attribute.as_deref()?;
    let value = attributes.get(key)?.trim().parse::<f64>().ok()?;
    value.is_finite().then_some(value)
}

/// Scores every customer against all the others; returns (score, dimensions) in input order.
///
/// `score = 100 × (Σ w·p over known positive dimensions + Σ w·(1 − p) over known negative
/// dimensions) / Σ w over known dimensions`, where p is the percentile. Unknown dimensions are
/// left out and the remaining weights renormalised; a customer with no known weighted
/// dimension scores a neutral 50.
pub(crate) fn composite_scores(
    policy: &ScoringPolicy,
    customers: &[RawDimensions],
) -> Vec<(f64, Vec<DimensionValue>)> {
    let mut percentiles: Vec<[Option<f64>; 6]> = vec![[None; 6]; customers.len()];
    for (slot, _) in Dimension::ALL.iter().enumerate() {
        let known: Vec<(usize, f64)> = customers
            .iter()
            .enumerate()
            .filter_map(|(index, raw)| raw.values[slot].map(|value| (index, value)))
            .filter(|(_, value)| value.is_finite())
            .collect();
        let values: Vec<f64> = known.iter().map(|(_, value)| *value).collect();
        for ((index, _), counts) in known.iter().zip(rank_counts(&values, false)) {
            percentiles[*index][slot] = Some(counts.percentile());
        }
    }
    customers
        .iter()
        .zip(percentiles)
        .map(|(raw, percentiles)| {
            let known_weight: f64 = Dimension::ALL
                .iter()
                .zip(percentiles)
                .filter(|(_, percentile)| percentile.is_some())
                .map(|(dimension, _)| dimension.weight(policy))
                .sum();
            let mut dimensions = Vec::with_capacity(Dimension::ALL.len());
            for (slot, dimension) in Dimension::ALL.into_iter().enumerate() {
                let weight = dimension.weight(policy);
                let percentile = percentiles[slot];
                let contribution = match percentile {
                    Some(percentile) if known_weight > 0.0 => {
                        let goodness = if dimension.counts_against() {
                            1.0 - percentile
                        } else {
                            percentile
                        };
                        100.0 * weight * goodness / known_weight
                    }
                    _ => 0.0,
                };
                dimensions.push(DimensionValue {
                    dimension,
                    raw: raw.values[slot].filter(|value| value.is_finite()),
                    percentile,
                    weight,
                    contribution,
                });
            }
            let score = if known_weight > 0.0 {
                let total: f64 = dimensions.iter().map(|value| value.contribution).sum();
                total.clamp(0.0, 100.0)
            } else {
                50.0
            };
            (score, dimensions)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(values: [Option<f64>; 6]) -> RawDimensions {
        RawDimensions { values }
    }

    fn check(policy: &ScoringPolicy, customers: &[RawDimensions], expected: &[f64]) {
        let scores = composite_scores(policy, customers);
        for ((score, dimensions), expected) in scores.iter().zip(expected) {
            assert!((score - expected).abs() < 1e-9, "{scores:?}");
            let sum: f64 = dimensions.iter().map(|value| value.contribution).sum();
            assert!(
                (sum - score).abs() < 1e-9 || *score == 50.0,
                "contributions add up"
            );
        }
        assert_eq!(scores.len(), expected.len());
    }

    fn only(weights: [f64; 6]) -> ScoringPolicy {
        ScoringPolicy {
            frequency: weights[0],
            monetary: weights[1],
            clv: weights[2],
            strategic: weights[3],
            cost_to_serve: weights[4],
            risk: weights[5],
            strategic_attribute: Some("s".to_string()),
            ticket_minutes: 60.0,
        }
    }

    #[test]
    fn scores_are_normalised_to_0_100() {
        let low = Some(1.0);
        let mid = Some(2.0);
        let high = Some(3.0);
        // The best at everything scores 100, the worst 0, the middle 50, with default weights.
        let all = |value| raw([value; 6]);
        let mut best_everywhere = [high; 6];
        best_everywhere[4] = low;
        best_everywhere[5] = low;
        let mut worst_everywhere = [low; 6];
        worst_everywhere[4] = high;
        worst_everywhere[5] = high;
        check(
            &ScoringPolicy::default(),
            &[raw(best_everywhere), all(mid), raw(worst_everywhere)],
            &[100.0, 50.0, 0.0],
        );
        // A negative dimension alone: the highest cost scores 0.
        check(
            &only([0.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            &[all(low), all(high)],
            &[100.0, 0.0],
        );
        // Mixed: frequency 3 and cost 1 → (3 × 1 + 1 × (1 − 1)) / 4 = 75 for the frequent, costly one.
        check(
            &only([3.0, 0.0, 0.0, 0.0, 1.0, 0.0]),
            &[all(high), all(low)],
            &[75.0, 25.0],
        );
        // Unknown CLV is left out and the weights renormalised: only frequency counts for the first.
        let mut unknown_clv = [high; 6];
        unknown_clv[2] = None;
        check(
            &only([1.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
            &[raw(unknown_clv), all(low), all(mid)],
            &[100.0, 0.0, 75.0],
        );
        // Ties take the mid-rank; a lone customer sits in the middle.
        check(
            &ScoringPolicy::default(),
            &[all(mid), all(mid)],
            &[50.0, 50.0],
        );
        check(&ScoringPolicy::default(), &[all(low)], &[50.0]);
        // Nothing known that carries weight: neutral 50.
        check(
            &only([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
            &[raw([low, low, None, low, low, low])],
            &[50.0],
        );
        check(&ScoringPolicy::default(), &[], &[]);
    }

    #[test]
    fn strategic_value_reads_a_numeric_attribute() {
        let named = only([0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let unnamed = ScoringPolicy::default();
        let cases: [(&ScoringPolicy, Option<&str>, Option<f64>); 5] = [
            (&named, Some(" 7.5 "), Some(7.5)),
            (&named, Some("high"), None),
            (&named, Some("NaN"), None),
            (&named, None, None),
            (&unnamed, Some("1"), None),
        ];
        for (policy, attribute, expected) in cases {
            let attributes: BTreeMap<String, String> = attribute
                .map(|value| ("s".to_string(), value.to_string()))
                .into_iter()
                .collect();
            assert_eq!(
                strategic_value(policy, &attributes),
                expected,
                "{attribute:?}"
            );
        }
    }
}
