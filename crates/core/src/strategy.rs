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

/// A rule's strategy state in working form, by index into the rule's candidates, so the hot
/// path compares no ids and allocates nothing. The engine converts it from and back to
/// [`StrategyState`] at its edges.
#[derive(Debug, Clone)]
pub struct WorkingState {
    /// As loaded; what routing did not touch is saved back unchanged.
    saved: StrategyState,
    /// Round robin: where the next turn starts looking.
    round_robin_start: usize,
    /// Round robin: the candidate chosen last in this engine, if any.
    round_robin_last: Option<usize>,
    /// Smooth weighted round robin: each candidate's running weight; `None` = never counted.
    weights: Vec<Option<f64>>,
}

impl WorkingState {
    /// `candidates` are positions in `reps`, which are sorted by id (as the engine keeps them).
    pub fn new(saved: StrategyState, candidates: &[usize], reps: &[RepState]) -> Self {
        let round_robin_start = match &saved.last_rep {
            // If the last winner left the candidate list, resume at the first id after it so
            // the rotation order stays stable instead of restarting from the top.
            Some(last) => match candidates
                .iter()
                .position(|&candidate| &reps[candidate].rep.id == last)
            {
                Some(position) => position + 1,
                None => candidates
                    .iter()
                    .position(|&candidate| &reps[candidate].rep.id > last)
                    .unwrap_or(0),
            },
            None => 0,
        };
        let weights = candidates
            .iter()
            .map(|&candidate| saved.current_weights.get(&reps[candidate].rep.id).copied())
            .collect();
        WorkingState {
            saved,
            round_robin_start,
            round_robin_last: None,
            weights,
        }
    }

    /// Back to the persisted form.
    pub fn to_strategy_state(&self, candidates: &[usize], reps: &[RepState]) -> StrategyState {
        let mut state = self.saved.clone();
        if let Some(last) = self.round_robin_last {
            state.last_rep = Some(reps[candidates[last]].rep.id.clone());
        }
        for (&candidate, weight) in candidates.iter().zip(&self.weights) {
            if let Some(weight) = weight {
                state
                    .current_weights
                    .insert(reps[candidate].rep.id.clone(), *weight);
            }
        }
        state
    }
}

/// Round robin: the first available candidate after the previous winner, wrapping around.
/// Returns the index into `candidates` and moves the turn past it.
pub fn pick_round_robin(available: &[bool], state: &mut WorkingState) -> Option<usize> {
    let count = available.len();
    if count == 0 {
        return None;
    }
    let start = state.round_robin_start % count;
    let position = (0..count)
        .map(|offset| (start + offset) % count)
        .find(|&position| available[position])?;
    state.round_robin_last = Some(position);
    state.round_robin_start = position + 1;
    Some(position)
}

/// Smooth weighted round robin (as in nginx): deterministic, and spreads picks evenly
/// (weights 1:2 give b, a, b, a, b). Only available candidates take part in a turn.
pub fn pick_weighted(
    candidates: &[usize],
    reps: &[RepState],
    available: &[bool],
    state: &mut WorkingState,
) -> Option<usize> {
    let mut total_weight = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for (position, &candidate) in candidates.iter().enumerate() {
        if !available[position] {
            continue;
        }
        let weight = reps[candidate].rep.weight;
        total_weight += weight;
        let current = state.weights[position].get_or_insert(0.0);
        *current += weight;
        if best.is_none_or(|(_, best_weight)| *current > best_weight) {
            best = Some((position, *current));
        }
    }
    let (position, _) = best?;
    if let Some(current) = state.weights[position].as_mut() {
        *current -= total_weight;
    }
    Some(position)
}

/// Orders reps by workload carried, then by who was assigned least recently, then by id.
/// `left` and `right` are positions in `reps`, which is sorted by id: the positions break
/// the last tie in id order without comparing the ids' text.
pub fn compare_load_at(reps: &[RepState], left: usize, right: usize) -> Ordering {
    let (left_load, right_load) = (&reps[left].load, &reps[right].load);
    left_load
        .owned_workload
        .total_cmp(&right_load.owned_workload)
        .then(
            left_load
                .last_assigned_sequence
                .cmp(&right_load.last_assigned_sequence),
        )
        .then(left.cmp(&right))
}

/// Least loaded: the available candidate with the smallest total workload. `reps` must be
/// sorted by id (as the engine keeps them).
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
            compare_load_at(reps, candidate, candidates[best_position]) == Ordering::Less
        }) {
            best = Some(position);
        }
    }
    best
}
