//! RFM (recency, frequency, monetary) quintile scores and the segment grid they map to.

use serde::{Deserialize, Serialize};
use std::fmt;

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
    pub monetary: f64,
    pub recency_score: u8,
    pub frequency_score: u8,
    pub monetary_score: u8,
    pub segment: RfmSegment,
}

/// The RFM segment grid (客户分群), decided by R and the rounded F/M average; see [`RfmSegment::from_scores`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RfmSegment {
    Champions,
    Loyal,
    PotentialLoyalist,
    New,
    Promising,
    NeedAttention,
    AboutToSleep,
    AtRisk,
    CannotLose,
    Hibernating,
    Lost,
}

impl RfmSegment {
    pub const ALL: [RfmSegment; 11] = [
        RfmSegment::Champions,
        RfmSegment::Loyal,
        RfmSegment::PotentialLoyalist,
        RfmSegment::New,
        RfmSegment::Promising,
        RfmSegment::NeedAttention,
        RfmSegment::AboutToSleep,
        RfmSegment::AtRisk,
        RfmSegment::CannotLose,
        RfmSegment::Hibernating,
        RfmSegment::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RfmSegment::Champions => "champions",
            RfmSegment::Loyal => "loyal",
            RfmSegment::PotentialLoyalist => "potential_loyalist",
            RfmSegment::New => "new",
            RfmSegment::Promising => "promising",
            RfmSegment::NeedAttention => "need_attention",
            RfmSegment::AboutToSleep => "about_to_sleep",
            RfmSegment::AtRisk => "at_risk",
            RfmSegment::CannotLose => "cannot_lose",
            RfmSegment::Hibernating => "hibernating",
            RfmSegment::Lost => "lost",
        }
    }

    /// The Chinese name shown to sales teams.
    pub fn label(self) -> &'static str {
        match self {
            RfmSegment::Champions => "重要价值客户",
            RfmSegment::Loyal => "忠诚客户",
            RfmSegment::PotentialLoyalist => "潜力客户",
            RfmSegment::New => "新客户",
            RfmSegment::Promising => "有望发展客户",
            RfmSegment::NeedAttention => "需要关注客户",
            RfmSegment::AboutToSleep => "即将沉睡客户",
            RfmSegment::AtRisk => "流失风险客户",
            RfmSegment::CannotLose => "重要挽留客户",
            RfmSegment::Hibernating => "沉睡客户",
            RfmSegment::Lost => "已流失客户",
        }
    }

    pub fn parse(raw: &str) -> Option<RfmSegment> {
        RfmSegment::ALL
            .into_iter()
            .find(|segment| segment.as_str() == raw.trim())
    }

    /// Maps scores (each 1..=5; out-of-range values are clamped) to one segment.
    ///
    /// With `FM = round_half_up((F + M) / 2)`, the first matching line wins:
    ///
    /// | segment            | R    | condition               |
    /// |--------------------|------|-------------------------|
    /// | new                | 5    | F = 1                   |
    /// | champions          | 5    | FM 4–5                  |
    /// | champions          | 4    | FM 5                    |
    /// | loyal              | 3–4  | FM 4–5                  |
    /// | potential_loyalist | 4–5  | FM 2–3                  |
    /// | promising          | 4    | FM 1                    |
    /// | need_attention     | 3    | FM 3                    |
    /// | about_to_sleep     | 3    | FM 1–2                  |
    /// | cannot_lose        | 1–2  | FM 5, or F = 5          |
    /// | at_risk            | 1–2  | FM 3–4                  |
    /// | hibernating        | 2    | FM 1–2                  |
    /// | lost               | 1    | FM 1–2                  |
    pub fn from_scores(recency: u8, frequency: u8, monetary: u8) -> RfmSegment {
        let recency = recency.clamp(1, 5);
        let frequency = frequency.clamp(1, 5);
        let monetary = monetary.clamp(1, 5);
        let frequency_monetary = (frequency + monetary).div_ceil(2);
        // Ordered like the table above; each test relies on the earlier ones having failed.
        let fm = frequency_monetary;
        if recency == 5 && frequency == 1 {
            RfmSegment::New
        } else if (recency == 5 && fm >= 4) || (recency == 4 && fm == 5) {
            RfmSegment::Champions
        } else if recency >= 3 && fm >= 4 {
            RfmSegment::Loyal
        } else if recency >= 4 && fm >= 2 {
            RfmSegment::PotentialLoyalist
        } else if recency >= 4 {
            RfmSegment::Promising
        } else if recency == 3 && fm == 3 {
            RfmSegment::NeedAttention
        } else if recency == 3 {
            RfmSegment::AboutToSleep
        } else if fm == 5 || frequency == 5 {
            RfmSegment::CannotLose
        } else if fm >= 3 {
            RfmSegment::AtRisk
        } else if recency == 2 {
            RfmSegment::Hibernating
        } else {
            RfmSegment::Lost
        }
    }
}

impl fmt::Display for RfmSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Recency, frequency and monetary of one customer before scoring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RfmFacts {
    pub recency_days: i64,
    pub frequency: u32,
    pub monetary: f64,
}

impl RfmFacts {
    /// Facts over purchase days on or before `today`; `None` when there are none.
    pub fn from_purchase_days(purchase_days: &[PurchaseDay], today: NaiveDate) -> Option<RfmFacts> {
        let mut last_date: Option<NaiveDate> = None;
        let mut frequency: u32 = 0;
        let mut monetary = 0.0;
        for day in purchase_days {
            if day.date > today || !day.amount.is_finite() || day.amount <= 0.0 {
                continue;
            }
            frequency = frequency.saturating_add(1);
            monetary += day.amount;
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
    let monetary: Vec<f64> = present.iter().map(|f| f.monetary).collect();
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
