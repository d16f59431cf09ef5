//! The GAP solver's ejection-chain search: local search on cost plus adaptively weighted
//! overload over shifts, swaps and chains of two shifts (after Yagiura, Ibaraki and Glover's
//! ejection chains, 2004), run after the tabu search from the best assignment it left.
//!
//! The tabu search takes the best move of its whole neighbourhood each time and settles on
//! tightly packed instances (type D: the heavy items are the cheap ones, every agent is full,
//! and a single shift always overloads someone). Here an item may push another out of the
//! agent it enters (a chain: `j` from `a` to `b`, then `k` from `b` to `c`), so a full agent
//! can take an item without a free place. Each local optimum adjusts the overloads' weights:
//! those of the overloaded agents rise, in proportion to their overload, while the optimum is
//! infeasible, and all fall while it is feasible, so the search oscillates about the boundary
//! of feasibility where the good assignments are. Work is counted in evaluated moves.

use super::{Current, GapInstance, Search};

/// At an infeasible local optimum an overloaded agent's weight rises by up to this share, in
/// proportion to its overload against the largest one.
const WEIGHT_RISE: f64 = 0.1;
/// At a feasible local optimum every weight falls by this share.
const WEIGHT_FALL: f64 = 0.1;
/// The search stops after this many local optima without a better feasible assignment (on
/// the benchmark instances the last better one came within the first few hundred; small
/// instances would otherwise spend the whole budget going round the same few).
const STALL_LOCAL_OPTIMA: u64 = 1000;
/// Swaps and chains are searched on instances up to this many items: a scan of swaps grows as
/// the items' square, of chains as that times the options per item; larger instances are
/// searched by shifts only.
const PAIR_SCAN_MAX_ITEMS: usize = 3000;

/// Which items each agent holds, and each item's place in its agent's list, so an item moves
/// between lists in constant time.
struct Members {
    of_agent: Vec<Vec<usize>>,
    place: Vec<usize>,
}

impl Members {
    fn new(instance: &GapInstance, current: &Current) -> Members {
        let mut of_agent = vec![Vec::new(); instance.agent_count()];
        let mut place = vec![0; instance.item_count()];
        for (item, item_place) in place.iter_mut().enumerate() {
            let agent = current.agent_of(instance, item);
            *item_place = of_agent[agent].len();
            of_agent[agent].push(item);
        }
        Members { of_agent, place }
    }

    fn moved(&mut self, item: usize, from: usize, to: usize) {
        let place = self.place[item];
        self.of_agent[from].swap_remove(place);
        if let Some(&displaced) = self.of_agent[from].get(place) {
            self.place[displaced] = place;
        }
        self.place[item] = self.of_agent[to].len();
        self.of_agent[to].push(item);
    }
}

/// A move: each item moved with its new option, in order.
type Moves = Vec<(usize, usize)>;

/// The assignment being searched, with what pricing its moves needs.
struct Chaining<'a> {
    instance: &'a GapInstance,
    current: Current,
    members: Members,
    /// Per agent, the weight of a unit of overload of its capacity.
    weight_of_load: Vec<f64>,
    /// Per agent, the weight of an item over its item limit.
    weight_of_count: Vec<f64>,
    limits: Vec<i64>,
    /// Moves evaluated so far.
    spent: u64,
}

impl<'a> Chaining<'a> {
    fn new(instance: &'a GapInstance, current: Current, weights: (f64, f64)) -> Chaining<'a> {
        let agents = instance.agent_count();
        Chaining {
            instance,
            members: Members::new(instance, &current),
            current,
            weight_of_load: vec![weights.0; agents],
            weight_of_count: vec![weights.1; agents],
            limits: (0..agents)
                .map(|agent| i64::from(Current::count_limit(instance, agent)))
                .collect(),
            spent: 0,
        }
    }

    /// `agent`'s weighted overload after its load and count change by these amounts.
    fn overload_after(&self, agent: usize, extra_weight: i64, extra_count: i64) -> f64 {
        let over =
            (self.current.loads[agent] + extra_weight - self.instance.capacities[agent]).max(0);
        let over_count =
            (i64::from(self.current.counts[agent]) + extra_count - self.limits[agent]).max(0);
        self.weight_of_load[agent] * over as f64 + self.weight_of_count[agent] * over_count as f64
    }

    /// How much `agent`'s weighted overload changes by such a change.
    fn overload_change(&self, agent: usize, extra_weight: i64, extra_count: i64) -> f64 {
        self.overload_after(agent, extra_weight, extra_count) - self.overload_after(agent, 0, 0)
    }

    fn apply(&mut self, moves: &[(usize, usize)]) {
        let instance = self.instance;
        for &(item, to_index) in moves {
            let from = self.current.agent_of(instance, item);
            self.current.move_item(instance, item, to_index);
            self.members
                .moved(item, from, instance.option_agent[to_index] as usize);
        }
    }

    /// Keeps `moves` when they score below the best so far (and below zero: improving).
    fn keep_better(best: &mut Option<(f64, Moves)>, score: f64, moves: impl FnOnce() -> Moves) {
        if score < best.as_ref().map_or(-1e-9, |(most, _)| *most) {
            *best = Some((score, moves()));
        }
    }

    /// The best improving shift of `item` to another agent.
    fn best_shift(&mut self, item: usize) -> Option<(f64, Moves)> {
        let instance = self.instance;
        let from_index = self.current.option_of[item];
        let from = instance.option_agent[from_index] as usize;
        let leave = self.overload_change(from, -instance.option_weight[from_index], -1);
        let mut best = None;
        for index in instance.item_start[item]..instance.item_start[item + 1] {
            if index == from_index {
                continue;
            }
            self.spent += 1;
            let to = instance.option_agent[index] as usize;
            let score = (instance.option_cost[index] - instance.option_cost[from_index]) as f64
                + leave
                + self.overload_change(to, instance.option_weight[index], 1);
            Self::keep_better(&mut best, score, || vec![(item, index)]);
        }
        best
    }

    /// The best improving swap of `first` with an item of another agent.
    fn best_swap(&mut self, first: usize) -> Option<(f64, Moves)> {
        let instance = self.instance;
        let first_from = self.current.option_of[first];
        let agent_a = instance.option_agent[first_from] as usize;
        let mut best = None;
        // Over `first`'s own options: on a sparse instance most agents are none of them.
        for first_to in instance.item_start[first]..instance.item_start[first + 1] {
            let agent_b = instance.option_agent[first_to] as usize;
            if agent_b == agent_a {
                continue;
            }
            for &second in &self.members.of_agent[agent_b] {
                self.spent += 1;
                let Some(second_to) = instance.option_index(second, agent_a) else {
                    continue;
                };
                let second_from = self.current.option_of[second];
                let score = (instance.option_cost[first_to] + instance.option_cost[second_to]
                    - instance.option_cost[first_from]
                    - instance.option_cost[second_from]) as f64
                    + self.overload_change(
                        agent_a,
                        instance.option_weight[second_to] - instance.option_weight[first_from],
                        0,
                    )
                    + self.overload_change(
                        agent_b,
                        instance.option_weight[first_to] - instance.option_weight[second_from],
                        0,
                    );
                Self::keep_better(&mut best, score, || {
                    vec![(first, first_to), (second, second_to)]
                });
            }
        }
        best
    }

    /// The best improving chain that moves `first` into an agent without room for it (in
    /// weight or in items) and one of that agent's items on to a third agent.
    fn best_chain(&mut self, first: usize) -> Option<(f64, Moves)> {
        let instance = self.instance;
        let first_from = self.current.option_of[first];
        let agent_a = instance.option_agent[first_from] as usize;
        let leave = self.overload_change(agent_a, -instance.option_weight[first_from], -1);
        let mut best = None;
        for first_to in instance.item_start[first]..instance.item_start[first + 1] {
            let agent_b = instance.option_agent[first_to] as usize;
            let entering = instance.option_weight[first_to];
            if agent_b == agent_a || self.current.fits(instance, agent_b, entering) {
                // Entering where there is room (in weight and in items) is a shift, tried
                // already; an agent full by either takes `first` only by passing one on.
                continue;
            }
            let first_part =
                (instance.option_cost[first_to] - instance.option_cost[first_from]) as f64 + leave;
            for place in 0..self.members.of_agent[agent_b].len() {
                let second = self.members.of_agent[agent_b][place];
                let second_from = self.current.option_of[second];
                let at_b = self.overload_change(
                    agent_b,
                    entering - instance.option_weight[second_from],
                    0,
                );
                for second_to in instance.item_start[second]..instance.item_start[second + 1] {
                    let agent_c = instance.option_agent[second_to] as usize;
                    if agent_c == agent_b || agent_c == agent_a {
                        // Back to `a` is a swap, tried already.
                        continue;
                    }
                    self.spent += 1;
                    let score = first_part
                        + at_b
                        + (instance.option_cost[second_to] - instance.option_cost[second_from])
                            as f64
                        + self.overload_change(agent_c, instance.option_weight[second_to], 1);
                    Self::keep_better(&mut best, score, || {
                        vec![(first, first_to), (second, second_to)]
                    });
                }
            }
        }
        best
    }

    /// Makes one improving move, looking item by item round from `cursor`: shifts first, then
    /// swaps, then chains. False at a local optimum, or when `budget` is spent.
    fn improve(&mut self, cursor: &mut usize, budget: u64) -> bool {
        let items = self.instance.item_count();
        let neighbourhoods = if items <= PAIR_SCAN_MAX_ITEMS { 3 } else { 1 };
        for neighbourhood in 0..neighbourhoods {
            for step in 0..items {
                if self.spent >= budget {
                    return false;
                }
                let item = (*cursor + step) % items;
                let found = match neighbourhood {
                    0 => self.best_shift(item),
                    1 => self.best_swap(item),
                    _ => self.best_chain(item),
                };
                if let Some((_, moves)) = found {
                    self.apply(&moves);
                    *cursor = (item + 1) % items;
                    return true;
                }
            }
        }
        false
    }

    /// New weights after a local optimum: all lower (not below `floor`) if it is feasible,
    /// else the overloaded agents' higher in proportion to their overload.
    fn reweigh(&mut self, feasible: bool, floor: (f64, f64)) {
        if feasible {
            for weight in &mut self.weight_of_load {
                *weight = (*weight * (1.0 - WEIGHT_FALL)).max(floor.0);
            }
            for weight in &mut self.weight_of_count {
                *weight = (*weight * (1.0 - WEIGHT_FALL)).max(floor.1);
            }
            return;
        }
        let instance = self.instance;
        let share_over: Vec<(f64, f64)> = (0..instance.agent_count())
            .map(|agent| {
                let over = (self.current.loads[agent] - instance.capacities[agent]).max(0);
                let over_count =
                    (i64::from(self.current.counts[agent]) - self.limits[agent]).max(0);
                (
                    over as f64 / instance.capacities[agent].max(1) as f64,
                    over_count as f64 / self.limits[agent].max(1) as f64,
                )
            })
            .collect();
        let most = share_over.iter().map(|share| share.0).fold(0.0, f64::max);
        let most_count = share_over.iter().map(|share| share.1).fold(0.0, f64::max);
        for (agent, (over, over_count)) in share_over.into_iter().enumerate() {
            if most > 0.0 {
                self.weight_of_load[agent] *= 1.0 + WEIGHT_RISE * over / most;
            }
            if most_count > 0.0 {
                self.weight_of_count[agent] *= 1.0 + WEIGHT_RISE * over_count / most_count;
            }
        }
    }
}

impl Search<'_> {
    /// The ejection-chain search from the best assignment known, for `evaluations` evaluated
    /// moves or until the best cost meets `bound`. Nothing to do without a feasible start.
    pub(super) fn chains(&mut self, evaluations: u64, bound: i64) {
        let instance = self.instance;
        let Some((_, start)) = self.best.clone() else {
            return;
        };
        let (load_weight, count_weight) = self.initial_penalties();
        let mut chaining = Chaining::new(
            instance,
            Current::from_options(instance, start),
            (load_weight, count_weight),
        );
        let floor = (load_weight * 1e-3, count_weight * 1e-3);
        let mut cursor = 0;
        let best_cost = |search: &Self| search.best.as_ref().map_or(i64::MAX, |best| best.0);
        let (mut best_before, mut since_better) = (best_cost(self), 0);
        while chaining.spent < evaluations && since_better < STALL_LOCAL_OPTIMA {
            if best_cost(self) <= bound {
                break;
            }
            while chaining.improve(&mut cursor, evaluations) {
                if chaining.current.feasible(instance) {
                    self.offer(&chaining.current);
                }
            }
            let feasible = chaining.current.feasible(instance);
            chaining.reweigh(feasible, floor);
            if best_cost(self) < best_before {
                (best_before, since_better) = (best_cost(self), 0);
            } else {
                since_better += 1;
            }
            // The next scan starts elsewhere, so the same ties do not always resolve alike.
            cursor = self.random.below(instance.item_count());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimise::GapOption;

    fn option(agent: usize, cost: i64, weight: i64) -> GapOption {
        GapOption {
            agent,
            cost,
            weight,
        }
    }

    /// Items 0 and 1, each wanting agent 1 (cost 0) which holds one of them; agent 2 takes
    /// item 1 for 1. Item 0 sits at agent 0 for 10.
    fn full_agent_instance() -> GapInstance {
        let mut instance = GapInstance::new(vec![10, 10, 10]).unwrap();
        instance
            .add_item(&[option(0, 10, 10), option(1, 0, 10), option(2, 10, 10)])
            .unwrap();
        instance
            .add_item(&[option(0, 10, 10), option(1, 0, 10), option(2, 1, 10)])
            .unwrap();
        instance
    }

    #[test]
    fn a_chain_moves_an_item_into_a_full_agent_by_pushing_another_on() {
        let instance = full_agent_instance();
        // Item 0 at agent 0 (option 0), item 1 at agent 1 (option 4).
        let start = Current::from_options(&instance, vec![0, 4]);
        // Overload so dear that no shift or swap improves: only the chain does.
        let mut chaining = Chaining::new(&instance, start, (1000.0, 1000.0));
        let mut cursor = 0;
        assert!(chaining.improve(&mut cursor, u64::MAX));
        assert_eq!(chaining.current.option_of, vec![1, 5]);
        assert_eq!(chaining.current.cost, 1);
        assert!(chaining.current.feasible(&instance));
        assert!(!chaining.improve(&mut cursor, u64::MAX), "a local optimum");
        assert_eq!(chaining.members.of_agent, vec![vec![], vec![0], vec![1]]);
    }

    /// Cost plus weighted overload, recomputed from nothing.
    fn penalised(chaining: &Chaining) -> f64 {
        let instance = chaining.instance;
        let mut total = chaining.current.cost as f64;
        for agent in 0..instance.agent_count() {
            let over = (chaining.current.loads[agent] - instance.capacities[agent]).max(0);
            let over_count =
                (i64::from(chaining.current.counts[agent]) - chaining.limits[agent]).max(0);
            total += chaining.weight_of_load[agent] * over as f64
                + chaining.weight_of_count[agent] * over_count as f64;
        }
        total
    }

    /// Every move the three neighbourhoods offer is priced at exactly what it changes of cost
    /// plus weighted overload, on random sparse instances with item limits.
    #[test]
    fn every_move_is_priced_at_what_it_changes() {
        let mut random = crate::demo::SplitMix64(7);
        let mut checked = [0usize; 3];
        for _ in 0..300 {
            let agents = 2 + random.below(4);
            let items = 2 + random.below(9);
            let mut instance =
                GapInstance::new((0..agents).map(|_| 5 + random.below(20) as i64).collect())
                    .unwrap();
            for _ in 0..items {
                let offered: Vec<usize> = (0..agents)
                    .filter(|agent| *agent == 0 || random.below(4) != 0)
                    .collect();
                let options: Vec<GapOption> = offered
                    .into_iter()
                    .map(|agent| {
                        option(
                            agent,
                            random.below(30) as i64 - 5,
                            1 + random.below(12) as i64,
                        )
                    })
                    .collect();
                instance.add_item(&options).unwrap();
            }
            instance
                .set_item_limits((0..agents).map(|_| 1 + random.below(4) as u32).collect())
                .unwrap();
            let start: Vec<usize> = (0..items)
                .map(|item| {
                    let range = instance.item_start[item]..instance.item_start[item + 1];
                    range.start + random.below(range.len())
                })
                .collect();
            let mut chaining = Chaining::new(
                &instance,
                Current::from_options(&instance, start),
                (
                    0.5 + random.below(20) as f64 / 4.0,
                    1.0 + random.below(30) as f64,
                ),
            );
            for item in 0..items {
                for (neighbourhood, moves_checked) in checked.iter_mut().enumerate() {
                    let found = match neighbourhood {
                        0 => chaining.best_shift(item),
                        1 => chaining.best_swap(item),
                        _ => chaining.best_chain(item),
                    };
                    let Some((score, moves)) = found else {
                        continue;
                    };
                    let before = penalised(&chaining);
                    let undo: Vec<(usize, usize)> = moves
                        .iter()
                        .rev()
                        .map(|&(moved, _)| (moved, chaining.current.option_of[moved]))
                        .collect();
                    chaining.apply(&moves);
                    let after = penalised(&chaining);
                    assert!(
                        (after - before - score).abs() < 1e-9,
                        "{moves:?}: priced {score}, changed {}",
                        after - before
                    );
                    chaining.apply(&undo);
                    assert!((penalised(&chaining) - before).abs() < 1e-9);
                    *moves_checked += 1;
                }
            }
        }
        assert!(checked.iter().all(|count| *count > 20), "{checked:?}");
    }

    #[test]
    fn members_follow_every_move() {
        let instance = full_agent_instance();
        let start = Current::from_options(&instance, vec![0, 3]);
        let mut chaining = Chaining::new(&instance, start, (1.0, 1.0));
        for moves in [vec![(0, 2)], vec![(1, 5)], vec![(0, 1), (1, 3)]] {
            chaining.apply(&moves);
            for item in 0..2 {
                let agent = chaining.current.agent_of(&instance, item);
                let place = chaining.members.place[item];
                assert_eq!(chaining.members.of_agent[agent][place], item);
            }
            let held: usize = chaining.members.of_agent.iter().map(Vec::len).sum();
            assert_eq!(held, 2);
        }
    }

    #[test]
    fn weights_rise_with_overload_and_fall_when_feasible() {
        let instance = full_agent_instance();
        // Both items at agent 1: overloaded by 10.
        let start = Current::from_options(&instance, vec![1, 4]);
        let mut chaining = Chaining::new(&instance, start, (1.0, 1.0));
        chaining.reweigh(false, (0.5, 0.5));
        assert_eq!(chaining.weight_of_load, vec![1.0, 1.0 + WEIGHT_RISE, 1.0]);
        chaining.reweigh(true, (0.95, 0.5));
        assert_eq!(chaining.weight_of_load[0], 0.95, "not below the floor");
        let fallen = (1.0 + WEIGHT_RISE) * (1.0 - WEIGHT_FALL);
        assert!(fallen > 0.95);
        assert!((chaining.weight_of_load[1] - fallen).abs() < 1e-12);
    }
}
