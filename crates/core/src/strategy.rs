//! Allocation strategies (分配策略): who is available, and how one rep is picked among candidates.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::ids::RepId;
use crate::model::{Level, Rep};

/// What a rep carries now; kept beside the rep so strategies never rescan customers. With it,
/// the rep's standing as the `performance` strategy weighs it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RepLoad {
    pub owned_count: u32,
    pub owned_workload: f64,
    /// Sequence number of the rep's latest assignment; 0 when never assigned.
    /// Breaks least-loaded ties in favour of the rep assigned least recently.
    pub last_assigned_sequence: u64,
    /// The factor the `performance` strategy multiplies the rep's weight by, from its
    /// performance score: [`performance_weight`], 0.5–2.0; 1 until a score is known.
    #[serde(default = "neutral_performance")]
    pub performance_weight: f64,
}

fn neutral_performance() -> f64 {
    1.0
}

impl Default for RepLoad {
    fn default() -> Self {
        RepLoad {
            owned_count: 0,
            owned_workload: 0.0,
            last_assigned_sequence: 0,
            performance_weight: neutral_performance(),
        }
    }
}

/// The `performance` strategy's factor for a performance score in 0–1 (the performance
/// report's): 0.5 at the bottom, 1 at 1/3, 2 at the top, linear between — strong reps get up to
/// four times a weak one's share, and nobody gets none.
pub fn performance_weight(score: f64) -> f64 {
    if !score.is_finite() {
        return 1.0;
    }
    (0.5 + 1.5 * score.clamp(0.0, 1.0)).clamp(0.5, 2.0)
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

/// Every strategy applies the same gate: active, present today, senior enough, below cap.
pub fn check_availability(
    rep: &RepState,
    minimum_level: Option<Level>,
    today: NaiveDate,
) -> Result<(), Unavailability> {
    check_standing(rep, minimum_level, today)?;
    check_holding(holding(rep))
}

/// The part of the gate that only changes with the date: active, present, senior enough.
pub fn check_standing(
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
    Ok(())
}

/// A rep's owned count and holding cap (`u32::MAX` when there is none).
pub fn holding(rep: &RepState) -> (u32, u32) {
    (rep.load.owned_count, rep.rep.capacity.unwrap_or(u32::MAX))
}

/// The part of the gate that changes with every assignment: below the holding cap.
pub fn check_holding((owned, cap): (u32, u32)) -> Result<(), Unavailability> {
    if owned >= cap {
        Err(Unavailability::AtHoldingCap)
    } else {
        Ok(())
    }
}

/// A rep's place in the least-loaded order apart from its id: workload carried, then the
/// sequence of its latest assignment (least recent first).
pub type LoadKey = (f64, u64);

pub fn load_key(rep: &RepState) -> LoadKey {
    (rep.load.owned_workload, rep.load.last_assigned_sequence)
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
/// (weights 1:2 give b, a, b, a, b). Only available candidates take part in a turn. With
/// `by_performance`, each rep's weight is multiplied by its performance weight.
pub fn pick_weighted(
    candidates: &[usize],
    reps: &[RepState],
    available: &[bool],
    state: &mut WorkingState,
    by_performance: bool,
) -> Option<usize> {
    let mut total_weight = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for (position, &candidate) in candidates.iter().enumerate() {
        if !available[position] {
            continue;
        }
        let rep = &reps[candidate];
        let weight = if by_performance {
            rep.rep.weight * rep.load.performance_weight
        } else {
            rep.rep.weight
        };
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
/// `left` and `right` are positions in `keys`, which follows the reps sorted by id: the
/// positions break the last tie in id order without comparing the ids' text.
pub fn compare_load(keys: &[LoadKey], left: usize, right: usize) -> Ordering {
    let (left_key, right_key) = (keys[left], keys[right]);
    left_key
        .0
        .total_cmp(&right_key.0)
        .then(left_key.1.cmp(&right_key.1))
        .then(left.cmp(&right))
}
