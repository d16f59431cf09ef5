//! The candidates of a stored trace in compact form: the facts their words are written from.
//!
//! A routing decision lists the chosen rep, the unavailable ones and the closest runners-up.
//! Written out in words ("carries workload 12 (12 customers)", with the rule's name on every
//! line) they were two thirds of the bytes routing a large pool wrote. Stored here is each
//! candidate's rule index, rep id, outcome code and the few numbers or dates the words need,
//! as a JSON array: `[rule, rep, code, …]`. The facts are kept, not looked up on reading,
//! because loads, levels and absences change right after the decision.
//!
//! | code | outcome | extra |
//! |---|---|---|
//! | 0 | chosen | |
//! | 1 | not chosen: not its turn (round robin, weighted) | |
//! | 2 | not chosen: carries more load | workload, owned customers |
//! | 3 | skipped: inactive | |
//! | 4 | skipped: absent | from, until (dates or null) |
//! | 5 | skipped: below the rule's min_level | the rep's level |
//! | 6 | skipped: at holding cap | owned customers, cap |
//! | 7 | chosen by the `performance` strategy | the rep's performance weight |
//! | 8 | not chosen by the `performance` strategy | the rep's performance weight |

use chrono::NaiveDate;
use serde::de::Error as _;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::Level;
use crate::rules::{RuleSet, StrategyKind};

use super::CandidateTraceRecord;

/// One candidate of a decision as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCandidate {
    pub rule_index: u32,
    pub rep_id: String,
    pub outcome: StoredCandidateOutcome,
}

/// What happened to a candidate, with what its explanation needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StoredCandidateOutcome {
    Chosen,
    /// Available, not chosen by a strategy that takes turns.
    NotItsTurn,
    /// Available, not chosen by a load-based strategy: its load at the time.
    Carrying {
        workload: f64,
        owned: u32,
    },
    Inactive,
    Absent {
        from: Option<NaiveDate>,
        until: Option<NaiveDate>,
    },
    BelowMinimumLevel {
        level: Level,
    },
    AtHoldingCap {
        owned: u32,
        capacity: u32,
    },
    /// Chosen by the `performance` strategy, with the weight factor it had.
    ChosenByPerformance {
        performance_weight: f64,
    },
    /// Available, not chosen by the `performance` strategy, with the weight factor it had.
    NotItsTurnByPerformance {
        performance_weight: f64,
    },
}

impl StoredCandidate {
    /// The candidate in words, against the rules version its decision was made with. The
    /// engine renders its own decisions through this too, so both read the same.
    pub fn to_record(&self, rules: &RuleSet) -> CandidateTraceRecord {
        let rule = rules.rules.get(self.rule_index as usize);
        let (status, reason) = match self.outcome {
            StoredCandidateOutcome::Chosen => ("chosen", "won".to_string()),
            StoredCandidateOutcome::ChosenByPerformance { performance_weight } => (
                "chosen",
                format!("won (performance weight ×{performance_weight:.2})"),
            ),
            StoredCandidateOutcome::NotItsTurnByPerformance { performance_weight } => (
                "not_chosen",
                format!("lower running weight (performance weight ×{performance_weight:.2})"),
            ),
            StoredCandidateOutcome::NotItsTurn => (
                "not_chosen",
                match rule.map(|rule| rule.strategy) {
                    Some(StrategyKind::Weighted) => "lower running weight",
                    _ => "not its turn",
                }
                .to_string(),
            ),
            StoredCandidateOutcome::Carrying { workload, owned } => (
                "not_chosen",
                format!("carries workload {workload} ({owned} customers)"),
            ),
            StoredCandidateOutcome::Inactive => ("skipped", "inactive".to_string()),
            StoredCandidateOutcome::Absent { from, until } => (
                "skipped",
                match (from, until) {
                    (Some(from), Some(until)) => format!("absent from {from} to {until}"),
                    (Some(from), None) => format!("absent since {from}"),
                    (None, Some(until)) => format!("absent until {until}"),
                    (None, None) => "absent".to_string(),
                },
            ),
            StoredCandidateOutcome::BelowMinimumLevel { level } => (
                "skipped",
                format!(
                    "level {level} is below the rule's min_level {}",
                    rule.and_then(|rule| rule.min_level)
                        .map_or("?", Level::as_str)
                ),
            ),
            StoredCandidateOutcome::AtHoldingCap { owned, capacity } => (
                "skipped",
                format!("at holding cap: owns {owned} of {capacity}"),
            ),
        };
        CandidateTraceRecord {
            rule: rule.map_or_else(
                || format!("#{}", self.rule_index + 1),
                |rule| rule.name.clone(),
            ),
            rep_id: self.rep_id.clone(),
            status: status.to_string(),
            reason,
        }
    }
}

impl Serialize for StoredCandidate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use StoredCandidateOutcome as Outcome;
        let extras = match self.outcome {
            Outcome::Chosen | Outcome::NotItsTurn | Outcome::Inactive => 0,
            Outcome::BelowMinimumLevel { .. }
            | Outcome::ChosenByPerformance { .. }
            | Outcome::NotItsTurnByPerformance { .. } => 1,
            Outcome::Carrying { .. } | Outcome::Absent { .. } | Outcome::AtHoldingCap { .. } => 2,
        };
        let mut sequence = serializer.serialize_seq(Some(3 + extras))?;
        sequence.serialize_element(&self.rule_index)?;
        sequence.serialize_element(&self.rep_id)?;
        match self.outcome {
            Outcome::Chosen => sequence.serialize_element(&0)?,
            Outcome::NotItsTurn => sequence.serialize_element(&1)?,
            Outcome::Carrying { workload, owned } => {
                sequence.serialize_element(&2)?;
                sequence.serialize_element(&workload)?;
                sequence.serialize_element(&owned)?;
            }
            Outcome::Inactive => sequence.serialize_element(&3)?,
            Outcome::Absent { from, until } => {
                sequence.serialize_element(&4)?;
                sequence.serialize_element(&from)?;
                sequence.serialize_element(&until)?;
            }
            Outcome::BelowMinimumLevel { level } => {
                sequence.serialize_element(&5)?;
                sequence.serialize_element(level.as_str())?;
            }
            Outcome::AtHoldingCap { owned, capacity } => {
                sequence.serialize_element(&6)?;
                sequence.serialize_element(&owned)?;
                sequence.serialize_element(&capacity)?;
            }
            Outcome::ChosenByPerformance { performance_weight } => {
                sequence.serialize_element(&7)?;
                sequence.serialize_element(&performance_weight)?;
            }
            Outcome::NotItsTurnByPerformance { performance_weight } => {
                sequence.serialize_element(&8)?;
                sequence.serialize_element(&performance_weight)?;
            }
        }
        sequence.end()
    }
}

impl<'de> Deserialize<'de> for StoredCandidate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use StoredCandidateOutcome as Outcome;
        let cells = Vec::<serde_json::Value>::deserialize(deserializer)?;
        let cell = |index: usize| {
            cells
                .get(index)
                .ok_or_else(|| D::Error::custom(format!("a stored candidate lacks cell {index}")))
        };
        let number = |index: usize| {
            cell(index)?
                .as_f64()
                .ok_or_else(|| D::Error::custom(format!("cell {index} is not a number")))
        };
        let count = |index: usize| number(index).map(|value| value as u32);
        let date = |index: usize| -> Result<Option<NaiveDate>, D::Error> {
            match cell(index)? {
                serde_json::Value::Null => Ok(None),
                value => serde_json::from_value(value.clone())
                    .map(Some)
                    .map_err(D::Error::custom),
            }
        };
        let rule_index = count(0)?;
        let rep_id = cell(1)?
            .as_str()
            .ok_or_else(|| D::Error::custom("the rep of a stored candidate is not text"))?
            .to_string();
        let outcome = match count(2)? {
            0 => Outcome::Chosen,
            1 => Outcome::NotItsTurn,
            2 => Outcome::Carrying {
                workload: number(3)?,
                owned: count(4)?,
            },
            3 => Outcome::Inactive,
            4 => Outcome::Absent {
                from: date(3)?,
                until: date(4)?,
            },
            5 => Outcome::BelowMinimumLevel {
                level: cell(3)?
                    .as_str()
                    .and_then(|level| Level::parse_field("level", level).ok())
                    .ok_or_else(|| D::Error::custom("cell 3 is not a level"))?,
            },
            6 => Outcome::AtHoldingCap {
                owned: count(3)?,
                capacity: count(4)?,
            },
            7 => Outcome::ChosenByPerformance {
                performance_weight: number(3)?,
            },
            8 => Outcome::NotItsTurnByPerformance {
                performance_weight: number(3)?,
            },
            code => return Err(D::Error::custom(format!("unknown candidate code {code}"))),
        };
        Ok(StoredCandidate {
            rule_index,
            rep_id,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each outcome goes to JSON and back unchanged, and reads as the words the engine writes.
    #[test]
    fn every_outcome_round_trips_and_reads_in_words() {
        let rules = RuleSet::parse(
            "[[rule]]\nname = \"seniors\"\nwhen = 'true'\nto = { team = \"t\" }\nstrategy = \"least_loaded\"\nmin_level = \"senior\"\n\n[[rule]]\nname = \"turns\"\nwhen = 'true'\nto = { team = \"t\" }\nstrategy = \"weighted\"\n",
        )
        .unwrap();
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        let cases = [
            (
                0,
                StoredCandidateOutcome::Chosen,
                r#"[0,"r1",0]"#,
                "chosen",
                "won",
            ),
            (
                1,
                StoredCandidateOutcome::ChosenByPerformance {
                    performance_weight: 1.6,
                },
                r#"[1,"r1",7,1.6]"#,
                "chosen",
                "won (performance weight ×1.60)",
            ),
            (
                1,
                StoredCandidateOutcome::NotItsTurnByPerformance {
                    performance_weight: 0.5,
                },
                r#"[1,"r1",8,0.5]"#,
                "not_chosen",
                "lower running weight (performance weight ×0.50)",
            ),
            (
                1,
                StoredCandidateOutcome::NotItsTurn,
                r#"[1,"r1",1]"#,
                "not_chosen",
                "lower running weight",
            ),
            (
                0,
                StoredCandidateOutcome::Carrying {
                    workload: 12.5,
                    owned: 9,
                },
                r#"[0,"r1",2,12.5,9]"#,
                "not_chosen",
                "carries workload 12.5 (9 customers)",
            ),
            (
                0,
                StoredCandidateOutcome::Inactive,
                r#"[0,"r1",3]"#,
                "skipped",
                "inactive",
            ),
            (
                0,
                StoredCandidateOutcome::Absent {
                    from: date("2026-11-20"),
                    until: None,
                },
                r#"[0,"r1",4,"2026-11-20",null]"#,
                "skipped",
                "absent since 2026-11-20",
            ),
            (
                0,
                StoredCandidateOutcome::BelowMinimumLevel {
                    level: Level::Junior,
                },
                r#"[0,"r1",5,"junior"]"#,
                "skipped",
                "level junior is below the rule's min_level senior",
            ),
            (
                0,
                StoredCandidateOutcome::AtHoldingCap {
                    owned: 3,
                    capacity: 3,
                },
                r#"[0,"r1",6,3,3]"#,
                "skipped",
                "at holding cap: owns 3 of 3",
            ),
        ];
        for (rule_index, outcome, json, status, reason) in cases {
            let candidate = StoredCandidate {
                rule_index,
                rep_id: "r1".to_string(),
                outcome,
            };
            assert_eq!(serde_json::to_string(&candidate).unwrap(), json);
            let read: StoredCandidate = serde_json::from_str(json).unwrap();
            assert_eq!(read, candidate);
            let record = read.to_record(&rules);
            assert_eq!(
                (record.status.as_str(), record.reason.as_str()),
                (status, reason)
            );
        }
    }
}
