//! Allocation strategies (分配策略): who is available, and how one rep is picked among candidates.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::ids::RepId;
use crate::model::{Level, Rep};

/// What a rep carries now; kept beside the rep so strategies never rescan customers.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RepLoad {
    pub owned_count: u32,
    pub owned_workload: f64,
    /// Sequence number of the rep's latest assignment; 0 when never assigned.
    /// Breaks least-loaded ties in favour of the rep assigned least recently.
    pub last_assigned_sequence: u64,
}

/// A rep as the routing engine sees it: the record plus its current load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepState {
    pub rep: Rep,
    pub load: RepLoad,
}

/// Why a candidate cannot take a customer right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unavailability {
    Inactive,
    Absent,
    BelowMinimumLevel,
    AtHoldingCap,
}

impl Unavailability {
    pub fn describe(self, rep: &RepState, minimum_level: Option<Level>) -> String {
        match self {
            Unavailability::Inactive => "inactive".to_string(),
            Unavailability::Absent => match (rep.rep.absent_from, rep.rep.absent_until) {
                (Some(from), Some(until)) => format!("absent from {from} to {until}"),
                (Some(from), None) => format!("absent since {from}"),
                (None, Some(until)) => format!("absent until {until}"),
                (None, None) => "absent".to_string(),
            },
            Unavailability::BelowMinimumLevel => format!(
                "level {} is below the rule's min_level {}",
                rep.rep.level,
                minimum_level.map_or("?", Level::as_str)
            ),
            Unavailability::AtHoldingCap => format!(
                "at holding cap: owns {} of {}",
                rep.load.owned_count,
                rep.rep.capacity.unwrap_or(0)
            ),
        }
    }
}

/// Every strategy applies the same gate: active, present today, senior enough, below cap.
pub fn check_availability(
    rep: &RepState,
    minimum_level: Option<Level>,
    today: NaiveDate,
) -> Result<(), Unavailability> {
    if !rep.rep.active {
        return Err(Unavailability::Inactive);
    }
    if rep.rep.is_absent_on(today) {
        return Err(Unavailability::Absent);
    }
    if minimum_level.is_some_and(|minimum| rep.rep.level < minimum) {
        return Err(Unavailability::BelowMinimumLevel);
    }
    if rep
        .rep
        .capacity
        .is_some_and(|cap| rep.load.owned_count >= cap)
    {
        return Err(Unavailability::AtHoldingCap);
    }
    Ok(())
}

/// Persisted state of the stateful strategies of one rule; survives restarts in the store.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StrategyState {
    /// Round robin: the rep chosen last; the next turn starts after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rep: Option<RepId>,
    /// Smooth weighted round robin: each rep's running weight.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub current_weights: BTreeMap<RepId, f64>,
}

/// Round robin: the first available candidate after the previous winner, wrapping around.
/// Returns the index into `candidates`.
pub fn pick_round_robin(
    candidates: &[usize],
    reps: &[RepState],
    available: &[bool],
    state: &StrategyState,
) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    let start = match &state.last_rep {
        Some(last) => {
            // If the last winner left the candidate list, resume at the first id after it so the
            // rotation order stays stable instead of restarting from the top.
            match candidates
                .iter()
                .position(|&candidate| &reps[candidate].rep.id == last)
            {
                Some(position) => position + 1,
                None => candidates
                    .iter()
                    .position(|&candidate| &reps[candidate].rep.id > last)
                    .unwrap_or(0),
            }
        }
        None => 0,
    };
    (0..candidates.len())
        .map(|offset| (start + offset) % candidates.len())
        .find(|&position| available[position])
}

/// Smooth weighted round robin (as in nginx): deterministic, and spreads picks evenly
/// (weights 1:2 give b, a, b, a, b). Only available candidates take part in a turn.
pub fn pick_weighted(
    candidates: &[usize],
    reps: &[RepState],
    available: &[bool],
    state: &mut StrategyState,
) -> Option<usize> {
    let mut total_weight = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for (position, &candidate) in candidates.iter().enumerate() {
        if !available[position] {
            continue;
        }
        let rep = &reps[candidate].rep;
        total_weight += rep.weight;
        let current = state.current_weights.entry(rep.id.clone()).or_insert(0.0);
        *current += rep.weight;
        if best.is_none_or(|(_, best_weight)| *current > best_weight) {
            best = Some((position, *current));
        }
    }
    let (position, _) = best?;
    let winner = &reps[candidates[position]].rep.id;
    if let Some(current) = state.current_weights.get_mut(winner) {
        *current -= total_weight;
    }
    Some(position)
}

/// Orders reps by workload carried, then by who was assigned least recently, then by id.
pub fn compare_load(left: &RepState, right: &RepState) -> Ordering {
    left.load
        .owned_workload
        .total_cmp(&right.load.owned_workload)
        .then(
            left.load
                .last_assigned_sequence
                .cmp(&right.load.last_assigned_sequence),
        )
        .then_with(|| left.rep.id.cmp(&right.rep.id))
}

/// Least loaded: the available candidate with the smallest total workload.
pub fn pick_least_loaded(
    candidates: &[usize],
    reps: &[RepState],
    available: &[bool],
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (position, &candidate) in candidates.iter().enumerate() {
        if !available[position] {
            continue;
        }
        if best.is_none_or(|best_position| {
            compare_load(&reps[candidate], &reps[candidates[best_position]]) == Ordering::Less
        }) {
            best = Some(position);
        }
    }
    best
}
