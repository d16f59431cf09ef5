//! The generalised assignment problem (GAP): items to agents at least cost within each agent's capacity, with a Lagrangian lower bound, repair, a penalised tabu search and ejection chains.
//!
//! # The problem
//!
//! Every item goes to exactly one agent among its options; an option costs `cost` and uses
//! `weight` of the agent's capacity. Each agent's total weight must stay within its capacity,
//! and, where limits are set, its number of items within its item limit (a holding cap counted
//! in customers beside the workload capacity). Minimise the total cost. Dense instances (every
//! item an option at every agent, as in the OR-Library files) and sparse ones (a customer's
//! few eligible reps) are the same type.
//!
//! # The method, and what the answer promises
//!
//! 1. **Bound**: the capacities (and item limits) are relaxed with non-negative multipliers;
//!    each item then simply takes its cheapest option at cost `cost + λ·weight + μ`, which
//!    gives a lower bound on every feasible assignment's cost. Subgradient steps raise the
//!    bound (Polyak steps towards the best known cost, halved when the bound stalls). The
//!    reported bound is the best one met, rounded up (costs are integers), so it is always a
//!    true bound; at best it equals the linear-programming bound.
//! 2. **Lagrangian heuristic**: at intervals, the relaxed assignment is repaired to feasibility
//!    (items leave overloaded agents for the option that costs least extra per unit of weight
//!    shed), then improved by a shift descent.
//! 3. **Tabu search** on `cost + Σ penalty_i × overload_i`, over shifts (one item to another
//!    agent) and swaps (two items on different agents exchange agents), with per-agent
//!    penalties that rise while an agent is overloaded and fall while the solution is
//!    feasible (after Yagiura, Ibaraki and Glover's adaptive weights). A move back onto an
//!    agent an item just left is tabu for a while unless it gives a new best feasible cost.
//!    Swaps are scanned in full only on instances small enough for that to pay
//!    (`SWAP_SCAN_MAX_ITEMS`); large sparse instances are searched by shifts.
//! 4. **Ejection chains** (`chains`): from the tabu search's best, a local search on the same
//!    kind of penalised cost whose moves are shifts, swaps and chains of two shifts (an item
//!    enters a full agent and pushes one of its items on to a third), with the weights
//!    adjusted at each local optimum. On tightly packed instances (type D) the tabu search
//!    settles where these chains still find cheaper feasible assignments.
//!
//! Everything is integer or deterministic floating point driven by a seeded generator and a
//! work budget counted in evaluated moves, never by the clock: the same instance and settings
//! give the same answer on every run.

use thiserror::Error;

mod chains;

use crate::demo::SplitMix64;

/// One way to place an item: on `agent`, at `cost`, using `weight` of its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapOption {
    pub agent: usize,
    pub cost: i64,
    pub weight: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GapError {
    #[error("agent {agent} of an option of item {item} is not below the agent count {agents}")]
    UnknownAgent {
        item: usize,
        agent: usize,
        agents: usize,
    },
    #[error("item {item} lists agent {agent} twice")]
    RepeatedAgent { item: usize, agent: usize },
    #[error("item {item} has a negative weight at agent {agent}")]
    NegativeWeight { item: usize, agent: usize },
    #[error("agent {agent} has a negative capacity")]
    NegativeCapacity { agent: usize },
    #[error("item limits are given for {given} agents, the instance has {agents}")]
    ItemLimitCount { given: usize, agents: usize },
    #[error("the costs or weights are too large to add up within 64 bits")]
    OverflowRisk,
}

/// An instance: agents with capacities, and items with their options.
#[derive(Debug, Clone, PartialEq)]
pub struct GapInstance {
    capacities: Vec<i64>,
    item_limits: Option<Vec<u32>>,
    /// Options of item `j` are `item_start[j]..item_start[j + 1]`, sorted by agent.
    item_start: Vec<usize>,
    option_agent: Vec<u32>,
    option_cost: Vec<i64>,
    option_weight: Vec<i64>,
    /// Every item has one option per agent, in agent order: an option is found by index.
    dense: bool,
}

/// The totals an instance may reach: sums of costs, weights and capacities stay far inside
/// `i64`, and the floating-point multipliers' products stay exact enough.
const MAX_TOTAL: i128 = 1 << 52;

impl GapInstance {
    /// An instance with these agents' capacities and no items yet.
    pub fn new(capacities: Vec<i64>) -> Result<GapInstance, GapError> {
        if let Some(agent) = capacities.iter().position(|&capacity| capacity < 0) {
            return Err(GapError::NegativeCapacity { agent });
        }
        Ok(GapInstance {
            capacities,
            item_limits: None,
            item_start: vec![0],
            option_agent: Vec::new(),
            option_cost: Vec::new(),
            option_weight: Vec::new(),
            dense: true,
        })
    }

    /// The OR-Library shape: `costs[agent][item]`, `weights[agent][item]`.
    pub fn dense(
        costs: &[Vec<i64>],
        weights: &[Vec<i64>],
        capacities: Vec<i64>,
    ) -> Result<GapInstance, GapError> {
        let agents = capacities.len();
        let items = costs.first().map_or(0, Vec::len);
        let mut instance = GapInstance::new(capacities)?;
        let mut options = Vec::with_capacity(agents);
        for item in 0..items {
            options.clear();
            for agent in 0..agents {
                options.push(GapOption {
                    agent,
                    cost: costs[agent][item],
                    weight: weights[agent][item],
                });
            }
            instance.add_item(&options)?;
        }
        Ok(instance)
    }

    /// Adds an item with these options (any order; at most one per agent) and returns its index.
    /// An item without options makes the instance infeasible.
    pub fn add_item(&mut self, options: &[GapOption]) -> Result<usize, GapError> {
        let item = self.item_count();
        let agents = self.capacities.len();
        let mut sorted = options.to_vec();
        sorted.sort_by_key(|option| option.agent);
        for pair in sorted.windows(2) {
            if pair[0].agent == pair[1].agent {
                return Err(GapError::RepeatedAgent {
                    item,
                    agent: pair[0].agent,
                });
            }
        }
        for option in &sorted {
            if option.agent >= agents {
                return Err(GapError::UnknownAgent {
                    item,
                    agent: option.agent,
                    agents,
                });
            }
            if option.weight < 0 {
                return Err(GapError::NegativeWeight {
                    item,
                    agent: option.agent,
                });
            }
            self.option_agent.push(option.agent as u32);
            self.option_cost.push(option.cost);
            self.option_weight.push(option.weight);
        }
        self.dense &= sorted.len() == agents;
        self.item_start.push(self.option_agent.len());
        Ok(item)
    }

    /// Caps the number of items each agent may take, beside its capacity.
    pub fn set_item_limits(&mut self, limits: Vec<u32>) -> Result<(), GapError> {
        if limits.len() != self.capacities.len() {
            return Err(GapError::ItemLimitCount {
                given: limits.len(),
                agents: self.capacities.len(),
            });
        }
        self.item_limits = Some(limits);
        Ok(())
    }

    pub fn agent_count(&self) -> usize {
        self.capacities.len()
    }

    pub fn item_count(&self) -> usize {
        self.item_start.len() - 1
    }

    pub fn capacity(&self, agent: usize) -> i64 {
        self.capacities[agent]
    }

    pub fn item_limit(&self, agent: usize) -> Option<u32> {
        self.item_limits.as_ref().map(|limits| limits[agent])
    }

    /// The options of `item`, sorted by agent.
    pub fn options(&self, item: usize) -> impl ExactSizeIterator<Item = GapOption> + '_ {
        (self.item_start[item]..self.item_start[item + 1]).map(|index| self.option(index))
    }

    fn option(&self, index: usize) -> GapOption {
        GapOption {
            agent: self.option_agent[index] as usize,
            cost: self.option_cost[index],
            weight: self.option_weight[index],
        }
    }

    /// The index of `item`'s option at `agent`, if it has one.
    fn option_index(&self, item: usize, agent: usize) -> Option<usize> {
        let start = self.item_start[item];
        if self.dense {
            return Some(start + agent);
        }
        let end = self.item_start[item + 1];
        self.option_agent[start..end]
            .binary_search(&(agent as u32))
            .ok()
            .map(|offset| start + offset)
    }

    /// The cost of an assignment (agent per item), or why it is not a feasible one.
    pub fn evaluate(&self, assignment: &[usize]) -> Result<i64, String> {
        if assignment.len() != self.item_count() {
            return Err(format!(
                "the assignment has {} items, the instance {}",
                assignment.len(),
                self.item_count()
            ));
        }
        let mut loads = vec![0i64; self.agent_count()];
        let mut counts = vec![0u32; self.agent_count()];
        let mut cost = 0i64;
        for (item, &agent) in assignment.iter().enumerate() {
            let index = self
                .option_index(item, agent)
                .ok_or_else(|| format!("item {item} cannot go to agent {agent}"))?;
            cost += self.option_cost[index];
            loads[agent] += self.option_weight[index];
            counts[agent] += 1;
        }
        for agent in 0..self.agent_count() {
            if loads[agent] > self.capacities[agent] {
                return Err(format!(
                    "agent {agent} carries {} over its capacity {}",
                    loads[agent], self.capacities[agent]
                ));
            }
            if let Some(limit) = self.item_limit(agent) {
                if counts[agent] > limit {
                    return Err(format!(
                        "agent {agent} takes {} items over its limit {limit}",
                        counts[agent]
                    ));
                }
            }
        }
        Ok(cost)
    }

    /// One round of the knapsack bound: Σ over agents of (options at it × its capacity).
    fn knapsack_work(&self) -> u64 {
        let mut options_at = vec![0u64; self.agent_count()];
        for &agent in &self.option_agent {
            options_at[agent as usize] += 1;
        }
        options_at
            .iter()
            .zip(&self.capacities)
            .map(|(options, capacity)| options.saturating_mul(*capacity as u64 + 1))
            .fold(0u64, u64::saturating_add)
    }

    fn check_totals(&self) -> Result<(), GapError> {
        let mut cost_total: i128 = 0;
        for item in 0..self.item_count() {
            let range = self.item_start[item]..self.item_start[item + 1];
            let largest = self.option_cost[range]
                .iter()
                .map(|cost| (*cost as i128).abs())
                .max()
                .unwrap_or(0);
            cost_total += largest;
        }
        let weight_total: i128 = self.option_weight.iter().map(|&w| w as i128).sum();
        let capacity_total: i128 = self.capacities.iter().map(|&c| c as i128).sum();
        if cost_total > MAX_TOTAL || weight_total > MAX_TOTAL || capacity_total > MAX_TOTAL {
            return Err(GapError::OverflowRisk);
        }
        Ok(())
    }
}

/// How hard the solver works; the defaults suit instances up to a few thousand items in
/// seconds. Work is counted, never timed, so answers do not depend on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GapSettings {
    /// Most subgradient rounds for the bound.
    pub bound_rounds: usize,
    /// Moves the tabu search may evaluate in all; the ejection chains after it get
    /// `CHAIN_EVALUATIONS_PER_TABU_EVALUATION` times as many.
    pub search_evaluations: u64,
    pub seed: u64,
}

impl Default for GapSettings {
    fn default() -> Self {
        GapSettings {
            bound_rounds: 3000,
            search_evaluations: 200_000_000,
            seed: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapStatus {
    /// A feasible assignment was found (`cost` and `assignment` are set).
    Feasible,
    /// Proven to have no feasible assignment: an item has no option, or the bound shows it.
    Infeasible,
    /// None was found within the work allowed; the instance may still have one.
    NoneFound,
}

impl GapStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GapStatus::Feasible => "feasible",
            GapStatus::Infeasible => "infeasible",
            GapStatus::NoneFound => "none_found",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GapSolution {
    pub status: GapStatus,
    pub cost: Option<i64>,
    /// No feasible assignment costs less; `None` when there are no items to bound.
    pub bound: i64,
    /// The agent of each item.
    pub assignment: Option<Vec<usize>>,
}

impl GapSolution {
    /// `(cost − bound) / |bound|`, when both are known and the bound is not 0.
    pub fn relative_gap(&self) -> Option<f64> {
        let cost = self.cost?;
        if self.bound == 0 {
            return (cost == 0).then_some(0.0);
        }
        Some((cost - self.bound) as f64 / (self.bound as f64).abs())
    }
}

/// The knapsack bound is computed when one round of it (Σ options at an agent × its capacity)
/// stays below this; beyond, the capacity relaxation's bound alone is reported.
const KNAPSACK_WORK_LIMIT: u64 = 20_000_000;
/// Items on more than this many are searched by shifts only: a full swap scan is quadratic.
const SWAP_SCAN_MAX_ITEMS: usize = 3000;
/// Per iteration of the tabu search, an overloaded agent's penalty rises by this factor, and
/// every penalty eases by the other while the solution is feasible: gentle, so the search
/// stays near the boundary of feasibility where the good assignments are.
const PENALTY_RAISE: f64 = 1.02;
const PENALTY_EASING: f64 = 0.99;
/// Subgradient rounds between runs of the Lagrangian heuristic.
const HEURISTIC_EVERY: usize = 25;
/// Rounds without a better bound before the step size is halved.
const STALL_ROUNDS: usize = 40;
/// The subgradient rounds stop when the step's scale falls below this; the knapsack bound's
/// rounds stop sooner, below the second: each of its rounds solves a knapsack per agent, and
/// past that scale its bound moved by hundredths of a unit (on the benchmark instances not
/// once across an integer, so the rounded bound stayed the same) for a third of its time.
const SMALLEST_STEP_SCALE: f64 = 1e-5;
const SMALLEST_KNAPSACK_STEP_SCALE: f64 = 1e-3;
/// The ejection-chain search gets this many evaluated moves per one of the tabu search's.
const CHAIN_EVALUATIONS_PER_TABU_EVALUATION: u64 = 2;

/// Solves `instance` as the module documentation describes.
pub fn solve_gap(instance: &GapInstance, settings: &GapSettings) -> Result<GapSolution, GapError> {
    instance.check_totals()?;
    let items = instance.item_count();
    if (0..items).any(|item| instance.item_start[item] == instance.item_start[item + 1]) {
        return Ok(GapSolution {
            status: GapStatus::Infeasible,
            cost: None,
            bound: 0,
            assignment: None,
        });
    }
    let mut search = Search::new(instance, settings.seed);
    let mut bound = search.raise_bound(settings.bound_rounds);
    if instance.item_limits.is_none() && instance.knapsack_work() <= KNAPSACK_WORK_LIMIT {
        bound = bound.max(search.knapsack_bound(settings.bound_rounds));
    }
    if let Some(best) = &search.best {
        if best.0 <= bound {
            return Ok(search.finish(bound));
        }
    }
    search.tabu(settings.search_evaluations, bound);
    search.chains(
        settings
            .search_evaluations
            .saturating_mul(CHAIN_EVALUATIONS_PER_TABU_EVALUATION),
        bound,
    );
    Ok(search.finish(bound))
}

/// The best move of a tabu iteration: its score, the item moved and its new option, and for
/// a swap the second item and its new option.
type ChosenMove = (f64, usize, usize, Option<(usize, usize)>);

/// The bookkeeping both Lagrangian bounds share: the best value met, and Polyak steps towards
/// the best known cost whose scale halves when the bound stalls.
struct Subgradient {
    best_bound: f64,
    scale: f64,
    stalled: usize,
    /// Below this scale the rounds stop.
    smallest_scale: f64,
}

impl Subgradient {
    fn new() -> Subgradient {
        Subgradient {
            best_bound: f64::NEG_INFINITY,
            scale: 2.0,
            stalled: 0,
            smallest_scale: SMALLEST_STEP_SCALE,
        }
    }

    /// Notes a round's Lagrangian value; true when it is a new best bound.
    fn record(&mut self, value: f64) -> bool {
        if value > self.best_bound + 1e-9 * value.abs().max(1.0) {
            self.best_bound = value;
            self.stalled = 0;
            return true;
        }
        self.stalled += 1;
        if self.stalled >= STALL_ROUNDS {
            self.scale /= 2.0;
            self.stalled = 0;
        }
        false
    }

    /// What the steps aim at: the best feasible cost, or a guess above the bound.
    fn target(&self, best_cost: Option<i64>) -> f64 {
        match best_cost {
            Some(cost) => cost as f64,
            None => self.best_bound.abs() * 1.05 + self.best_bound + 1.0,
        }
    }

    /// Whether the best cost is proven optimal: less than one unit above the bound.
    fn closed(&self, best_cost: Option<i64>) -> bool {
        best_cost.is_some() && self.target(best_cost) - self.best_bound <= 1.0 - 1e-9
    }

    /// The step for a round of `value` with this squared gradient norm; `None` to stop.
    fn step(&self, value: f64, best_cost: Option<i64>, norm: f64) -> Option<f64> {
        if norm <= 0.0 || self.scale < self.smallest_scale {
            return None;
        }
        Some(self.scale * (self.target(best_cost) - value).max(1e-6) / norm)
    }

    /// The best bound rounded up: costs are integers, so any bound may be; the tolerance keeps
    /// floating-point noise from rounding a true bound of exactly k up to k + 1.
    fn rounded_bound(&self) -> i64 {
        if !self.best_bound.is_finite() {
            return i64::MIN;
        }
        let rounded = (self.best_bound - 1e-7 * self.best_bound.abs().max(1.0)).ceil();
        if rounded >= i64::MAX as f64 {
            i64::MAX
        } else {
            rounded as i64
        }
    }
}

/// The solver's working state.
struct Search<'a> {
    instance: &'a GapInstance,
    random: SplitMix64,
    /// Capacity multipliers (λ) and item-limit multipliers (μ).
    weight_multipliers: Vec<f64>,
    count_multipliers: Vec<f64>,
    /// Best feasible cost and assignment (as option indexes).
    best: Option<(i64, Vec<usize>)>,
}

/// An assignment being changed: the option of every item, each agent's load and count.
struct Current {
    option_of: Vec<usize>,
    loads: Vec<i64>,
    counts: Vec<u32>,
    cost: i64,
}

impl Current {
    fn from_options(instance: &GapInstance, option_of: Vec<usize>) -> Current {
        let mut loads = vec![0; instance.agent_count()];
        let mut counts = vec![0; instance.agent_count()];
        let mut cost = 0;
        for &index in &option_of {
            let option = instance.option(index);
            loads[option.agent] += option.weight;
            counts[option.agent] += 1;
            cost += option.cost;
        }
        Current {
            option_of,
            loads,
            counts,
            cost,
        }
    }

    fn agent_of(&self, instance: &GapInstance, item: usize) -> usize {
        instance.option_agent[self.option_of[item]] as usize
    }

    fn move_item(&mut self, instance: &GapInstance, item: usize, to_index: usize) {
        let from = instance.option(self.option_of[item]);
        let to = instance.option(to_index);
        self.loads[from.agent] -= from.weight;
        self.counts[from.agent] -= 1;
        self.loads[to.agent] += to.weight;
        self.counts[to.agent] += 1;
        self.cost += to.cost - from.cost;
        self.option_of[item] = to_index;
    }

    fn count_limit(instance: &GapInstance, agent: usize) -> u32 {
        instance.item_limit(agent).unwrap_or(u32::MAX)
    }

    fn fits(&self, instance: &GapInstance, agent: usize, extra_weight: i64) -> bool {
        self.loads[agent] + extra_weight <= instance.capacities[agent]
            && self.counts[agent] < Self::count_limit(instance, agent)
    }

    fn overloaded(&self, instance: &GapInstance, agent: usize) -> bool {
        self.loads[agent] > instance.capacities[agent]
            || self.counts[agent] > Self::count_limit(instance, agent)
    }

    fn feasible(&self, instance: &GapInstance) -> bool {
        (0..instance.agent_count()).all(|agent| !self.overloaded(instance, agent))
    }
}

impl<'a> Search<'a> {
    fn new(instance: &'a GapInstance, seed: u64) -> Search<'a> {
        let agents = instance.agent_count();
        Search {
            instance,
            random: SplitMix64(seed),
            weight_multipliers: vec![0.0; agents],
            count_multipliers: vec![0.0; agents],
            best: None,
        }
    }

    fn offer(&mut self, current: &Current) {
        if !current.feasible(self.instance) {
            return;
        }
        if self.best.as_ref().is_none_or(|best| current.cost < best.0) {
            self.best = Some((current.cost, current.option_of.clone()));
        }
    }

    fn finish(self, bound: i64) -> GapSolution {
        match self.best {
            Some((cost, options)) => GapSolution {
                status: GapStatus::Feasible,
                cost: Some(cost),
                bound: bound.min(cost),
                assignment: Some(
                    options
                        .iter()
                        .map(|&index| self.instance.option_agent[index] as usize)
                        .collect(),
                ),
            },
            None => GapSolution {
                status: GapStatus::NoneFound,
                cost: None,
                bound,
                assignment: None,
            },
        }
    }

    /// Each item's cheapest option at the current multipliers, and the Lagrangian value.
    fn relaxed(&self, option_of: &mut [usize]) -> f64 {
        let instance = self.instance;
        let mut value = 0.0;
        for (item, chosen) in option_of.iter_mut().enumerate() {
            let mut best_index = instance.item_start[item];
            let mut best_value = f64::INFINITY;
            for index in instance.item_start[item]..instance.item_start[item + 1] {
                let agent = instance.option_agent[index] as usize;
                let adjusted = instance.option_cost[index] as f64
                    + self.weight_multipliers[agent] * instance.option_weight[index] as f64
                    + self.count_multipliers[agent];
                if adjusted < best_value {
                    best_value = adjusted;
                    best_index = index;
                }
            }
            *chosen = best_index;
            value += best_value;
        }
        for agent in 0..instance.agent_count() {
            value -= self.weight_multipliers[agent] * instance.capacities[agent] as f64;
            if let Some(limit) = instance.item_limit(agent) {
                value -= self.count_multipliers[agent] * limit as f64;
            }
        }
        value
    }

    /// Subgradient optimisation of the multipliers; returns the best bound, rounded up.
    /// Runs the Lagrangian heuristic along the way so `best` holds a feasible assignment.
    fn raise_bound(&mut self, rounds: usize) -> i64 {
        let instance = self.instance;
        let agents = instance.agent_count();
        let mut option_of = vec![0; instance.item_count()];
        let mut steps = Subgradient::new();
        let mut best_multipliers = (
            self.weight_multipliers.clone(),
            self.count_multipliers.clone(),
        );
        let mut weight_gradient = vec![0.0; agents];
        let mut count_gradient = vec![0.0; agents];
        for round in 0..rounds.max(1) {
            let value = self.relaxed(&mut option_of);
            if steps.record(value) {
                best_multipliers = (
                    self.weight_multipliers.clone(),
                    self.count_multipliers.clone(),
                );
            }
            let current = Current::from_options(instance, option_of.clone());
            if current.feasible(instance) {
                // The relaxation's own answer fits: with complementary slackness it is optimal.
                self.offer(&current);
            }
            if round % HEURISTIC_EVERY == 0 {
                self.lagrangian_heuristic(current);
            }
            let best_cost = self.best.as_ref().map(|best| best.0);
            if steps.closed(best_cost) {
                break;
            }
            weight_gradient.iter_mut().for_each(|g| *g = 0.0);
            count_gradient.iter_mut().for_each(|g| *g = 0.0);
            for &index in &option_of {
                let agent = instance.option_agent[index] as usize;
                weight_gradient[agent] += instance.option_weight[index] as f64;
                count_gradient[agent] += 1.0;
            }
            let mut norm = 0.0;
            for agent in 0..agents {
                weight_gradient[agent] -= instance.capacities[agent] as f64;
                // A multiplier at zero cannot fall: its negative gradient does not count.
                if self.weight_multipliers[agent] <= 0.0 && weight_gradient[agent] < 0.0 {
                    weight_gradient[agent] = 0.0;
                }
                norm += weight_gradient[agent] * weight_gradient[agent];
                match instance.item_limit(agent) {
                    Some(limit) => {
                        count_gradient[agent] -= limit as f64;
                        if self.count_multipliers[agent] <= 0.0 && count_gradient[agent] < 0.0 {
                            count_gradient[agent] = 0.0;
                        }
                        norm += count_gradient[agent] * count_gradient[agent];
                    }
                    None => count_gradient[agent] = 0.0,
                }
            }
            let Some(step) = steps.step(value, best_cost, norm) else {
                break;
            };
            for agent in 0..agents {
                self.weight_multipliers[agent] =
                    (self.weight_multipliers[agent] + step * weight_gradient[agent]).max(0.0);
                self.count_multipliers[agent] =
                    (self.count_multipliers[agent] + step * count_gradient[agent]).max(0.0);
            }
        }
        (self.weight_multipliers, self.count_multipliers) = best_multipliers;
        steps.rounded_bound()
    }

    /// The stronger bound: the assignment constraints relaxed with a multiplier per item, so
    /// each agent solves a 0-1 knapsack (by dynamic programming over its capacity) of the
    /// items whose multiplier exceeds their cost there. Its value is at least the linear
    /// programme's. The knapsacks' choices are also repaired into assignments.
    // The loops index several parallel arrays by the same agent, item or option.
    #[allow(clippy::needless_range_loop)]
    fn knapsack_bound(&mut self, rounds: usize) -> i64 {
        let instance = self.instance;
        let items = instance.item_count();
        let agents = instance.agent_count();
        let mut options_at: Vec<Vec<(usize, usize)>> = vec![Vec::new(); agents];
        for item in 0..items {
            for index in instance.item_start[item]..instance.item_start[item + 1] {
                let agent = instance.option_agent[index] as usize;
                if instance.option_weight[index] <= instance.capacities[agent] {
                    options_at[agent].push((item, index));
                }
            }
        }
        // Each item's cheapest cost is where the multipliers start: the bound then begins at
        // Σ cheapest cost, the bound of dropping every capacity.
        let mut multipliers: Vec<f64> = (0..items)
            .map(|item| {
                (instance.item_start[item]..instance.item_start[item + 1])
                    .map(|index| instance.option_cost[index])
                    .min()
                    .unwrap_or(0) as f64
            })
            .collect();
        let mut steps = Subgradient {
            smallest_scale: SMALLEST_KNAPSACK_STEP_SCALE,
            ..Subgradient::new()
        };
        let mut taken_by: Vec<Vec<usize>> = vec![Vec::new(); items];
        let mut table: Vec<f64> = Vec::new();
        let mut taken_bits: Vec<u64> = Vec::new();
        for round in 0..rounds.max(1) {
            taken_by.iter_mut().for_each(Vec::clear);
            let mut value: f64 = multipliers.iter().sum();
            for agent in 0..agents {
                let capacity = instance.capacities[agent] as usize;
                let width = capacity + 1;
                let candidates: Vec<(usize, usize, f64)> = options_at[agent]
                    .iter()
                    .filter_map(|&(item, index)| {
                        let profit = multipliers[item] - instance.option_cost[index] as f64;
                        (profit > 0.0).then_some((item, index, profit))
                    })
                    .collect();
                table.clear();
                table.resize(width, 0.0);
                let words = width.div_ceil(64);
                taken_bits.clear();
                taken_bits.resize(words * candidates.len(), 0);
                for (position, &(_, index, profit)) in candidates.iter().enumerate() {
                    let weight = instance.option_weight[index] as usize;
                    let row = &mut taken_bits[position * words..(position + 1) * words];
                    for room in (weight..width).rev() {
                        let with = table[room - weight] + profit;
                        if with > table[room] {
                            table[room] = with;
                            row[room / 64] |= 1 << (room % 64);
                        }
                    }
                }
                value -= table[capacity];
                let mut room = capacity;
                for (position, &(item, index, _)) in candidates.iter().enumerate().rev() {
                    if taken_bits[position * words + room / 64] & (1 << (room % 64)) != 0 {
                        taken_by[item].push(index);
                        room -= instance.option_weight[index] as usize;
                    }
                }
            }
            steps.record(value);
            if round % 5 == 0 {
                self.knapsack_heuristic(&taken_by);
            }
            let best_cost = self.best.as_ref().map(|best| best.0);
            if steps.closed(best_cost) {
                break;
            }
            let norm: f64 = taken_by
                .iter()
                .map(|taken| {
                    let gradient = 1.0 - taken.len() as f64;
                    gradient * gradient
                })
                .sum();
            let Some(step) = steps.step(value, best_cost, norm) else {
                break;
            };
            for (multiplier, taken) in multipliers.iter_mut().zip(&taken_by) {
                *multiplier += step * (1.0 - taken.len() as f64);
            }
        }
        steps.rounded_bound()
    }

    /// Turns the knapsacks' choices into an assignment: an item taken more than once stays at
    /// its cheapest taker, an item taken by none goes to the cheapest agent with room (or
    /// the cheapest, to be repaired); then repair and descent as the Lagrangian heuristic.
    // The loops index several parallel arrays by the same agent, item or option.
    #[allow(clippy::needless_range_loop)]
    fn knapsack_heuristic(&mut self, taken_by: &[Vec<usize>]) {
        let instance = self.instance;
        let items = instance.item_count();
        let mut option_of = vec![usize::MAX; items];
        for (item, taken) in taken_by.iter().enumerate() {
            if let Some(&index) = taken
                .iter()
                .min_by_key(|&&index| instance.option_cost[index])
            {
                option_of[item] = index;
            }
        }
        let mut loads = vec![0i64; instance.agent_count()];
        for &index in option_of.iter().filter(|&&index| index != usize::MAX) {
            loads[instance.option_agent[index] as usize] += instance.option_weight[index];
        }
        for item in 0..items {
            if option_of[item] != usize::MAX {
                continue;
            }
            let range = instance.item_start[item]..instance.item_start[item + 1];
            let fitting = range
                .clone()
                .filter(|&index| {
                    let agent = instance.option_agent[index] as usize;
                    loads[agent] + instance.option_weight[index] <= instance.capacities[agent]
                })
                .min_by_key(|&index| instance.option_cost[index]);
            let chosen = fitting
                .or_else(|| range.min_by_key(|&index| instance.option_cost[index]))
                .unwrap_or(instance.item_start[item]);
            loads[instance.option_agent[chosen] as usize] += instance.option_weight[chosen];
            option_of[item] = chosen;
        }
        self.lagrangian_heuristic(Current::from_options(instance, option_of));
    }

    fn adjusted_cost(&self, index: usize) -> f64 {
        let agent = self.instance.option_agent[index] as usize;
        self.instance.option_cost[index] as f64
            + self.weight_multipliers[agent] * self.instance.option_weight[index] as f64
    }

    /// Repairs the relaxed assignment, improves it by shifts, and offers it.
    fn lagrangian_heuristic(&mut self, mut current: Current) {
        let instance = self.instance;
        // Items of overloaded agents move out, cheapest extra adjusted cost per unit of
        // weight shed first, to an agent with room.
        let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
        for _pass in 0..3 {
            candidates.clear();
            for item in 0..instance.item_count() {
                let from_index = current.option_of[item];
                let from_agent = instance.option_agent[from_index] as usize;
                if !current.overloaded(instance, from_agent) {
                    continue;
                }
                let from_adjusted = self.adjusted_cost(from_index);
                let shed = instance.option_weight[from_index].max(1) as f64;
                for index in instance.item_start[item]..instance.item_start[item + 1] {
                    if index == from_index {
                        continue;
                    }
                    let ratio = (self.adjusted_cost(index) - from_adjusted) / shed;
                    candidates.push((ratio, item, index));
                }
            }
            if candidates.is_empty() {
                break;
            }
            candidates.sort_by(|left, right| left.0.total_cmp(&right.0));
            for &(_, item, index) in &candidates {
                let from_agent = current.agent_of(instance, item);
                let to_agent = instance.option_agent[index] as usize;
                if current.option_of[item] == index
                    || !current.overloaded(instance, from_agent)
                    || !current.fits(instance, to_agent, instance.option_weight[index])
                {
                    continue;
                }
                current.move_item(instance, item, index);
            }
            if current.feasible(instance) {
                break;
            }
        }
        if !current.feasible(instance) {
            return;
        }
        self.shift_descent(&mut current);
        self.offer(&current);
    }

    /// Moves items to cheaper agents with room until none can move.
    fn shift_descent(&self, current: &mut Current) {
        let instance = self.instance;
        let mut improved = true;
        while improved {
            improved = false;
            for item in 0..instance.item_count() {
                let from_index = current.option_of[item];
                let mut best: Option<(i64, usize)> = None;
                for index in instance.item_start[item]..instance.item_start[item + 1] {
                    let saving = instance.option_cost[from_index] - instance.option_cost[index];
                    let agent = instance.option_agent[index] as usize;
                    if saving > 0
                        && best.is_none_or(|(most, _)| saving > most)
                        && current.fits(instance, agent, instance.option_weight[index])
                    {
                        best = Some((saving, index));
                    }
                }
                if let Some((_, index)) = best {
                    current.move_item(instance, item, index);
                    improved = true;
                }
            }
        }
    }

    /// Where the searches' penalties start: a unit of overload weighs what a unit of weight
    /// costs on average, an item over a limit what an item costs.
    fn initial_penalties(&self) -> (f64, f64) {
        let instance = self.instance;
        let option_total = instance.option_agent.len().max(1) as f64;
        let average_cost = instance
            .option_cost
            .iter()
            .map(|cost| (*cost as f64).abs())
            .sum::<f64>()
            / option_total;
        let average_weight = instance
            .option_weight
            .iter()
            .map(|weight| *weight as f64)
            .sum::<f64>()
            / option_total;
        (
            (average_cost.max(1.0) / average_weight.max(1.0)).max(1e-3),
            average_cost.max(1.0),
        )
    }

    /// The penalised tabu search, from the best assignment known (or the relaxed one).
    // The loops index several parallel arrays by the same agent, item or option.
    #[allow(clippy::needless_range_loop)]
    fn tabu(&mut self, evaluations: u64, bound: i64) {
        let instance = self.instance;
        let items = instance.item_count();
        let agents = instance.agent_count();
        let start = match &self.best {
            Some((_, options)) => options.clone(),
            None => {
                let mut option_of = vec![0; items];
                self.relaxed(&mut option_of);
                option_of
            }
        };
        let mut current = Current::from_options(instance, start);
        let option_total = instance.option_agent.len();
        let mut tabu_until = vec![0u64; option_total];
        let (initial_penalty, initial_count_penalty) = self.initial_penalties();
        let mut weight_penalty = vec![initial_penalty; agents];
        let mut count_penalty = vec![initial_count_penalty; agents];
        let limits: Vec<i64> = (0..agents)
            .map(|agent| Current::count_limit(instance, agent) as i64)
            .collect();
        let swaps = items <= SWAP_SCAN_MAX_ITEMS;
        let per_iteration =
            option_total as u64 + if swaps { (items * items / 2) as u64 } else { 0 };
        let iterations = evaluations / per_iteration.max(1);
        // Past this many iterations without a new best the search has settled.
        let stall_limit = 20_000 + 100 * items as u64;
        let mut last_improvement = 0;
        let tenure_base = (items / 20).clamp(3, 30) as u64;
        // Per agent, refreshed each iteration: spare capacity and spare item count (negative
        // when overloaded).
        let mut room = vec![0i64; agents];
        let mut count_room = vec![0i64; agents];
        for iteration in 1..=iterations {
            let best_cost = self.best.as_ref().map_or(i64::MAX, |best| best.0);
            if best_cost <= bound {
                break;
            }
            let mut overloaded_agents = 0usize;
            for agent in 0..agents {
                room[agent] = instance.capacities[agent] - current.loads[agent];
                count_room[agent] = limits[agent] - current.counts[agent] as i64;
                overloaded_agents += usize::from(room[agent] < 0 || count_room[agent] < 0);
            }
            let is_over = |agent: usize| room[agent] < 0 || count_room[agent] < 0;
            // The penalty change of `agent` taking `extra` weight and `extra_count` items.
            let penalty_change = |agent: usize, extra: i64, extra_count: i64| -> f64 {
                let spare = room[agent];
                let weight_part = (extra - spare).max(0) - (-spare).max(0);
                let spare_count = count_room[agent];
                let count_part = (extra_count - spare_count).max(0) - (-spare_count).max(0);
                weight_penalty[agent] * weight_part as f64
                    + count_penalty[agent] * count_part as f64
            };
            // (score, first item, its new option, second item and its new option)
            let mut chosen: Option<ChosenMove> = None;
            let mut consider = |score: f64,
                                cost_after: i64,
                                feasible_after: bool,
                                is_tabu: bool,
                                first: (usize, usize),
                                second: Option<(usize, usize)>| {
                if is_tabu && !(feasible_after && cost_after < best_cost) {
                    return;
                }
                if chosen
                    .as_ref()
                    .is_none_or(|(best, ..)| score < *best - 1e-9)
                {
                    chosen = Some((score, first.0, first.1, second));
                }
            };
            for item in 0..items {
                let from_index = current.option_of[item];
                let from_agent = instance.option_agent[from_index] as usize;
                let from_weight = instance.option_weight[from_index];
                let from_cost = instance.option_cost[from_index];
                let leave = penalty_change(from_agent, -from_weight, -1);
                let from_ok_after =
                    room[from_agent] + from_weight >= 0 && count_room[from_agent] + 1 >= 0;
                let others_base = overloaded_agents - usize::from(is_over(from_agent));
                for index in instance.item_start[item]..instance.item_start[item + 1] {
                    if index == from_index {
                        continue;
                    }
                    let to_agent = instance.option_agent[index] as usize;
                    let to_weight = instance.option_weight[index];
                    let delta_cost = instance.option_cost[index] - from_cost;
                    let score = delta_cost as f64 + leave + penalty_change(to_agent, to_weight, 1);
                    let feasible_after = others_base == usize::from(is_over(to_agent))
                        && from_ok_after
                        && room[to_agent] >= to_weight
                        && count_room[to_agent] >= 1;
                    consider(
                        score,
                        current.cost + delta_cost,
                        feasible_after,
                        tabu_until[index] >= iteration,
                        (item, index),
                        None,
                    );
                }
            }
            if swaps {
                for first in 0..items {
                    let first_from_index = current.option_of[first];
                    let agent_a = instance.option_agent[first_from_index] as usize;
                    let first_from_weight = instance.option_weight[first_from_index];
                    let first_from_cost = instance.option_cost[first_from_index];
                    for second in first + 1..items {
                        let second_from_index = current.option_of[second];
                        let agent_b = instance.option_agent[second_from_index] as usize;
                        if agent_a == agent_b {
                            continue;
                        }
                        let (Some(first_to_index), Some(second_to_index)) = (
                            instance.option_index(first, agent_b),
                            instance.option_index(second, agent_a),
                        ) else {
                            continue;
                        };
                        let delta_cost = instance.option_cost[first_to_index]
                            + instance.option_cost[second_to_index]
                            - first_from_cost
                            - instance.option_cost[second_from_index];
                        let change_a = instance.option_weight[second_to_index] - first_from_weight;
                        let change_b = instance.option_weight[first_to_index]
                            - instance.option_weight[second_from_index];
                        let score = delta_cost as f64
                            + penalty_change(agent_a, change_a, 0)
                            + penalty_change(agent_b, change_b, 0);
                        let feasible_after = overloaded_agents
                            == usize::from(is_over(agent_a)) + usize::from(is_over(agent_b))
                            && room[agent_a] >= change_a
                            && room[agent_b] >= change_b
                            && count_room[agent_a] >= 0
                            && count_room[agent_b] >= 0;
                        consider(
                            score,
                            current.cost + delta_cost,
                            feasible_after,
                            tabu_until[first_to_index] >= iteration
                                || tabu_until[second_to_index] >= iteration,
                            (first, first_to_index),
                            Some((second, second_to_index)),
                        );
                    }
                }
            }
            let Some((_, first, first_to, second)) = chosen else {
                break;
            };
            let tenure = tenure_base + self.random.below(tenure_base as usize + 1) as u64;
            let first_left = current.option_of[first];
            current.move_item(instance, first, first_to);
            tabu_until[first_left] = iteration + tenure;
            if let Some((second, second_to)) = second {
                let second_left = current.option_of[second];
                current.move_item(instance, second, second_to);
                tabu_until[second_left] = iteration + tenure;
            }
            if iteration - last_improvement > stall_limit {
                break;
            }
            if current.feasible(instance) {
                if current.cost < best_cost {
                    last_improvement = iteration;
                }
                self.offer(&current);
                for penalty in weight_penalty.iter_mut().chain(count_penalty.iter_mut()) {
                    *penalty = (*penalty * PENALTY_EASING).max(initial_penalty * 1e-3);
                }
            } else {
                for agent in 0..agents {
                    if current.overloaded(instance, agent) {
                        weight_penalty[agent] *= PENALTY_RAISE;
                        count_penalty[agent] *= PENALTY_RAISE;
                    }
                }
            }
        }
        if let Some((_, options)) = self.best.clone() {
            let mut polished = Current::from_options(instance, options);
            self.shift_descent(&mut polished);
            self.offer(&polished);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every assignment by brute force: the optimum, or `None` when none is feasible.
    fn brute_force(instance: &GapInstance) -> Option<i64> {
        let items = instance.item_count();
        let mut choice = vec![0usize; items];
        let mut best = None;
        loop {
            let assignment: Vec<usize> = (0..items)
                .map(|item| {
                    instance
                        .option(instance.item_start[item] + choice[item])
                        .agent
                })
                .collect();
            if let Ok(cost) = instance.evaluate(&assignment) {
                if best.is_none_or(|known| cost < known) {
                    best = Some(cost);
                }
            }
            let mut position = 0;
            loop {
                if position == items {
                    return best;
                }
                choice[position] += 1;
                if instance.item_start[position] + choice[position]
                    < instance.item_start[position + 1]
                {
                    break;
                }
                choice[position] = 0;
                position += 1;
            }
        }
    }

    fn random_instance(
        random: &mut SplitMix64,
        agents: usize,
        items: usize,
        sparse: bool,
    ) -> GapInstance {
        let total_weight = items as i64 * 10;
        let capacities = (0..agents)
            .map(|_| (total_weight / agents as i64) * (70 + random.below(60) as i64) / 100)
            .collect();
        let mut instance = GapInstance::new(capacities).unwrap();
        for _ in 0..items {
            let mut options = Vec::new();
            for agent in 0..agents {
                if sparse && agent > 0 && random.below(3) == 0 {
                    continue;
                }
                options.push(GapOption {
                    agent,
                    cost: random.below(50) as i64 - 10,
                    weight: 1 + random.below(19) as i64,
                });
            }
            instance.add_item(&options).unwrap();
        }
        instance
    }

    /// Solves, checks the answer against the instance and the brute-force optimum.
    fn check(name: &str, instance: &GapInstance) {
        let solution = solve_gap(instance, &GapSettings::default()).unwrap();
        let optimum = brute_force(instance);
        assert!(
            optimum.is_none_or(|optimum| solution.bound <= optimum),
            "{name}: bound {} above the optimum {optimum:?}",
            solution.bound
        );
        match optimum {
            Some(optimum) => {
                assert_eq!(solution.status, GapStatus::Feasible, "{name}");
                let assignment = solution.assignment.as_ref().unwrap();
                assert_eq!(
                    instance.evaluate(assignment),
                    Ok(optimum),
                    "{name}: not optimal"
                );
                assert_eq!(solution.cost, Some(optimum), "{name}");
            }
            None => assert_ne!(solution.status, GapStatus::Feasible, "{name}"),
        }
    }

    #[test]
    fn small_random_instances_reach_the_brute_force_optimum() {
        let mut random = SplitMix64(7);
        for case in 0..60 {
            let agents = 2 + case % 3;
            let items = 3 + case % 6;
            let instance = random_instance(&mut random, agents, items, case % 2 == 1);
            check(&format!("random case {case}"), &instance);
        }
    }

    #[test]
    fn item_limits_are_honoured() {
        // Both items prefer agent 0, which may take one.
        let mut instance = GapInstance::new(vec![100, 100]).unwrap();
        for _ in 0..2 {
            instance
                .add_item(&[
                    GapOption {
                        agent: 0,
                        cost: 1,
                        weight: 1,
                    },
                    GapOption {
                        agent: 1,
                        cost: 5,
                        weight: 1,
                    },
                ])
                .unwrap();
        }
        instance.set_item_limits(vec![1, 2]).unwrap();
        check("item limits", &instance);
        let solution = solve_gap(&instance, &GapSettings::default()).unwrap();
        assert_eq!(solution.cost, Some(6));
    }

    #[test]
    fn an_item_without_options_or_room_is_infeasible() {
        let mut no_options = GapInstance::new(vec![5]).unwrap();
        no_options.add_item(&[]).unwrap();
        let solution = solve_gap(&no_options, &GapSettings::default()).unwrap();
        assert_eq!(solution.status, GapStatus::Infeasible);

        let mut too_heavy = GapInstance::new(vec![5, 5]).unwrap();
        for _ in 0..3 {
            too_heavy
                .add_item(&[
                    GapOption {
                        agent: 0,
                        cost: 1,
                        weight: 4,
                    },
                    GapOption {
                        agent: 1,
                        cost: 1,
                        weight: 4,
                    },
                ])
                .unwrap();
        }
        check("three items of 4 on two agents of 5", &too_heavy);
    }

    #[test]
    fn bad_instances_are_refused() {
        let mut instance = GapInstance::new(vec![5]).unwrap();
        assert_eq!(
            instance.add_item(&[GapOption {
                agent: 1,
                cost: 1,
                weight: 1
            }]),
            Err(GapError::UnknownAgent {
                item: 0,
                agent: 1,
                agents: 1
            })
        );
        assert_eq!(
            instance.add_item(&[
                GapOption {
                    agent: 0,
                    cost: 1,
                    weight: 1
                },
                GapOption {
                    agent: 0,
                    cost: 2,
                    weight: 1
                }
            ]),
            Err(GapError::RepeatedAgent { item: 0, agent: 0 })
        );
        assert_eq!(
            GapInstance::new(vec![-1]),
            Err(GapError::NegativeCapacity { agent: 0 })
        );
        let mut huge = GapInstance::new(vec![1]).unwrap();
        huge.add_item(&[GapOption {
            agent: 0,
            cost: i64::MAX,
            weight: 1,
        }])
        .unwrap();
        assert_eq!(
            solve_gap(&huge, &GapSettings::default()),
            Err(GapError::OverflowRisk)
        );
    }

    #[test]
    fn the_same_instance_gives_the_same_answer() {
        let mut random = SplitMix64(99);
        let instance = random_instance(&mut random, 5, 60, false);
        let settings = GapSettings {
            search_evaluations: 20_000_000,
            ..GapSettings::default()
        };
        let first = solve_gap(&instance, &settings).unwrap();
        assert_eq!(first, solve_gap(&instance, &settings).unwrap());
        let cost = instance
            .evaluate(first.assignment.as_ref().unwrap())
            .unwrap();
        assert_eq!(Some(cost), first.cost);
        assert!(first.bound <= cost);
    }
}
