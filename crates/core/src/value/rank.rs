//! Rank counts shared by RFM quintiles and percentile normalisation, so both treat ties alike.

/// Where one value stands among all values of a dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RankCounts {
    /// How many values are strictly worse.
    pub worse: usize,
    /// How many values are equal, counting the value itself.
    pub equal: usize,
    /// How many values there are in all.
    pub total: usize,
}

impl RankCounts {
    /// Mid-rank percentile in 0..=1: the worst value is 0, the best 1, ties share the mean of
    /// their positions. A lone value, or a dimension where every value is equal, is 0.5.
    pub fn percentile(self) -> f64 {
        if self.total <= 1 {
            return 0.5;
        }
        let mid_rank = self.worse as f64 + (self.equal as f64 - 1.0) / 2.0;
        mid_rank / (self.total as f64 - 1.0)
    }

    /// Quintile score 1..=5: `1 + floor(5 × worse / total)`, so ties share the score of their
    /// lowest position. When every value is equal the dimension tells nothing, and everyone gets
    /// the neutral 3 instead of the 1 the formula would give.
    pub fn quintile(self) -> u8 {
        if self.total == 0 {
            return 3;
        }
        if self.equal == self.total {
            return 3;
        }
        let score = 1 + (5 * self.worse) / self.total;
        score.clamp(1, 5) as u8
    }
}

/// Rank counts for each value, in input order. Values must be finite (callers filter unknowns).
pub(crate) fn rank_counts(values: &[f64], smaller_is_better: bool) -> Vec<RankCounts> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    // Worst first, so a value's position in this order is the number of values worse than it.
    order.sort_by(|left, right| {
        let ascending = values[*left].total_cmp(&values[*right]);
        if smaller_is_better {
            ascending.reverse()
        } else {
            ascending
        }
    });
    let total = values.len();
    let mut counts = vec![
        RankCounts {
            worse: 0,
            equal: 0,
            total,
        };
        total
    ];
    let mut group_start = 0;
    while group_start < total {
        let group_value = values[order[group_start]];
        let group_end = order[group_start..]
            .iter()
            .position(|index| values[*index] != group_value)
            .map_or(total, |offset| group_start + offset);
        for index in &order[group_start..group_end] {
            counts[*index] = RankCounts {
                worse: group_start,
                equal: group_end - group_start,
                total,
            };
        }
        group_start = group_end;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(values: &[f64], smaller_is_better: bool, quintiles: &[u8], percentiles: &[f64]) {
        let counts = rank_counts(values, smaller_is_better);
        let actual_quintiles: Vec<u8> = counts.iter().map(|count| count.quintile()).collect();
        assert_eq!(actual_quintiles, quintiles, "quintiles of {values:?}");
        for (count, expected) in counts.iter().zip(percentiles) {
            assert!(
                (count.percentile() - expected).abs() < 1e-12,
                "percentiles of {values:?}: {counts:?}"
            );
        }
    }

    #[test]
    fn ties_share_scores_at_quintile_edges() {
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let tenths: Vec<f64> = (0..10).map(|i| f64::from(i) / 9.0).collect();
        check(&ten, false, &[1, 1, 2, 2, 3, 3, 4, 4, 5, 5], &tenths);
        // Smaller is better (recency): the order flips.
        check(
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            true,
            &[5, 4, 3, 2, 1],
            &[1.0, 0.75, 0.5, 0.25, 0.0],
        );
        // The 2nd and 3rd value straddle the 1|2 edge; tied, both take the lower score.
        check(
            &[1.0, 2.0, 2.0, 4.0, 5.0],
            false,
            &[1, 2, 2, 4, 5],
            &[0.0, 0.375, 0.375, 0.75, 1.0],
        );
        // Tied 9th and 10th both sit above the 4|5 edge, so both keep 5.
        check(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 9.0],
            false,
            &[1, 1, 2, 2, 3, 3, 4, 4, 5, 5],
            &tenths[..8],
        );
        // Tied 8th and 9th straddle the 4|5 edge: the 9th drops to 4 with the 8th.
        check(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 8.0, 9.0],
            false,
            &[1, 1, 2, 2, 3, 3, 4, 4, 4, 5],
            &tenths[..7],
        );
        // Most customers buying once share the bottom score, the rest spread above.
        check(
            &[1.0, 1.0, 1.0, 1.0, 2.0, 3.0],
            false,
            &[1, 1, 1, 1, 4, 5],
            &[0.3, 0.3, 0.3, 0.3, 0.8, 1.0],
        );
        // Nothing to tell apart: neutral.
        check(&[7.0, 7.0, 7.0], false, &[3, 3, 3], &[0.5, 0.5, 0.5]);
        check(&[7.0], true, &[3], &[0.5]);
        check(&[], false, &[], &[]);
    }
}
