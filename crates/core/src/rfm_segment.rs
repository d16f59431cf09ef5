//! The RFM segment grid (客户分群): named segments by recency and the frequency/monetary scores.
//!
//! A leaf module, so that rule conditions can name segments without depending on grading.

use serde::{Deserialize, Serialize};
use std::fmt;

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
