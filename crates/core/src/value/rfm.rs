//! RFM (recency, frequency, monetary) quintile scores and the segment grid they map to.

use serde::{Deserialize, Serialize};

pub use crate::rfm_segment::RfmSegment;

use crate::money::Money;

use super::history::PurchaseDay;
use super::rank::rank_counts;
use chrono::NaiveDate;

/// A customer's RFM facts and scores as of the clock date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rfm {
    /// Days from the last purchase day to the clock date.
    pub recency_days: i64,
    /// Number of purchase days.
    pub frequency: u32,
    /// Total net amount over all purchase days.
    pub monetary: Money,
    pub recency_score: u8,
    pub frequency_score: u8,
    pub monetary_score: u8,
    pub segment: RfmSegment,
}

/// Recency, frequency and monetary of one customer before scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RfmFacts {
    pub recency_days: i64,
    pub frequency: u32,
    pub monetary: Money,
}

impl RfmFacts {
    /// Facts over purchase days on or before `today`; `None` when there are none.
    pub fn from_purchase_days(purchase_days: &[PurchaseDay], today: NaiveDate) -> Option<RfmFacts> {
        let mut last_date: Option<NaiveDate> = None;
        let mut frequency: u32 = 0;
        let mut monetary = Money::ZERO;
        for day in purchase_days {
            if day.date > today || !day.amount.is_positive() {
                continue;
            }
            frequency = frequency.saturating_add(1);
            monetary = monetary.checked_add(day.amount).unwrap_or(monetary);
            last_date = Some(last_date.map_or(day.date, |last| last.max(day.date)));
        }
        last_date.map(|last| RfmFacts {
            recency_days: (today - last).num_days(),
            frequency,
            monetary,
        })
    }
}

/// Scores every customer that has facts against the others that have facts; order is kept.
pub(crate) fn score_rfm(facts: &[Option<RfmFacts>]) -> Vec<Option<Rfm>> {
    let present: Vec<RfmFacts> = facts.iter().flatten().copied().collect();
    let recency: Vec<f64> = present.iter().map(|f| f.recency_days as f64).collect();
    let frequency: Vec<f64> = present.iter().map(|f| f64::from(f.frequency)).collect();
    let monetary: Vec<f64> = present.iter().map(|f| f.monetary.to_major()).collect();
    let recency_ranks = rank_counts(&recency, true);
    let frequency_ranks = rank_counts(&frequency, false);
    let monetary_ranks = rank_counts(&monetary, false);
    let mut scored = present.iter().enumerate().map(|(index, facts)| {
        let recency_score = recency_ranks[index].quintile();
        let frequency_score = frequency_ranks[index].quintile();
        let monetary_score = monetary_ranks[index].quintile();
        Rfm {
            recency_days: facts.recency_days,
            frequency: facts.frequency,
            monetary: facts.monetary,
            recency_score,
            frequency_score,
            monetary_score,
            segment: RfmSegment::from_scores(recency_score, frequency_score, monetary_score),
        }
    });
    facts
        .iter()
        .map(|facts| facts.and_then(|_| scored.next()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(recency: u8, frequency: u8, monetary: u8, expected: RfmSegment) {
        assert_eq!(
            RfmSegment::from_scores(recency, frequency, monetary),
            expected,
            "R{recency} F{frequency} M{monetary}"
        );
    }

    #[test]
    fn segment_boundaries() {
        use RfmSegment::*;
        check(5, 5, 5, Champions);
        check(5, 4, 3, Champions); // FM 3.5 rounds up to 4
        check(5, 3, 3, PotentialLoyalist);
        check(4, 5, 5, Champions);
        check(4, 5, 4, Champions); // FM 4.5 rounds up to 5
        check(4, 4, 4, Loyal);
        check(3, 5, 5, Loyal);
        check(3, 4, 3, Loyal);
        check(5, 1, 5, New); // one purchase day, however large
        check(5, 1, 1, New);
        check(5, 2, 1, PotentialLoyalist);
        check(4, 2, 1, PotentialLoyalist);
        check(4, 1, 1, Promising);
        check(4, 1, 2, PotentialLoyalist); // FM 1.5 rounds up to 2
        check(3, 3, 3, NeedAttention);
        check(3, 2, 3, NeedAttention);
        check(3, 2, 2, AboutToSleep);
        check(3, 1, 1, AboutToSleep);
        check(2, 5, 5, CannotLose);
        check(1, 5, 1, CannotLose); // F 5 alone
        check(1, 4, 5, CannotLose); // FM 4.5 rounds up to 5
        check(2, 4, 4, AtRisk);
        check(1, 3, 3, AtRisk);
        check(2, 2, 2, Hibernating);
        check(2, 1, 1, Hibernating);
        check(1, 2, 2, Lost);
        check(1, 1, 1, Lost);
        // Out-of-range scores are clamped rather than trusted.
        check(0, 9, 9, CannotLose);
    }

    #[test]
    fn every_score_combination_maps_to_one_known_segment() {
        let mut seen = std::collections::BTreeSet::new();
        for recency in 1..=5 {
            for frequency in 1..=5 {
                for monetary in 1..=5 {
                    let segment = RfmSegment::from_scores(recency, frequency, monetary);
                    assert_eq!(RfmSegment::parse(segment.as_str()), Some(segment));
                    seen.insert(segment);
                }
            }
        }
        assert_eq!(
            seen.len(),
            RfmSegment::ALL.len(),
            "every segment is reachable"
        );
    }

    #[test]
    fn names_are_snake_case_in_serde_too() {
        for segment in RfmSegment::ALL {
            let json = serde_json::to_string(&segment).unwrap();
            assert_eq!(json, format!("\"{}\"", segment.as_str()));
            assert!(!segment.label().is_empty());
        }
    }
}
